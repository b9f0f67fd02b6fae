import pytest

from accounts import services
from accounts.models import Membership, User
from accounts.selectors import roles_in
from marketplace import errors
from tests import factories


@pytest.fixture
def manager(buyer):
    return factories.member(buyer, "manager")


def _joined(manager, organization, email, role="analyst"):
    """Invite `email` and have its owner accept: the path every new member takes now."""
    invitation = services.membership_invite(actor=manager, organization=organization, email=email, role=role)
    user = User.objects.get(email=email.lower())
    services.invitation_accept(actor=user, invitation=invitation)
    return Membership.objects.get(user=user, organization=organization, role=role)


@pytest.mark.django_db
def test_role_must_belong_to_the_organization_kind(buyer, manager):
    with pytest.raises(errors.ApplicationError) as exc:
        services.membership_invite(actor=manager, organization=buyer, email="x@example.kr", role="curator")
    assert "role" in exc.value.errors
    assert not User.objects.filter(email="x@example.kr").exists()


@pytest.mark.django_db
def test_analyst_cannot_add_members(buyer):
    analyst = factories.member(buyer, "analyst")
    with pytest.raises(errors.PermissionDenied):
        services.membership_invite(actor=analyst, organization=buyer, email="x@example.kr", role="analyst")


@pytest.mark.django_db
def test_other_organizations_get_not_found(buyer, center):
    stranger = factories.member(center, "manager")
    with pytest.raises(errors.NotFound):
        services.membership_invite(actor=stranger, organization=buyer, email="x@example.kr", role="analyst")


@pytest.mark.django_db
def test_change_role_and_the_last_manager_stays(buyer, manager):
    own = Membership.objects.get(user=manager, organization=buyer)
    with pytest.raises(errors.InvalidState):
        services.membership_change_role(actor=manager, membership=own, role="analyst")
    with pytest.raises(errors.InvalidState):
        services.membership_remove(actor=manager, membership=own)
    colleague = _joined(manager, buyer, "c@example.kr")
    changed = services.membership_change_role(actor=manager, membership=colleague, role="manager")
    assert changed.role == "manager"
    services.membership_change_role(actor=manager, membership=own, role="analyst")
    assert roles_in(manager, buyer) == {"analyst"}


@pytest.mark.django_db
def test_removing_the_last_role_leaves_the_group(buyer, manager):
    membership = _joined(manager, buyer, "c@example.kr")
    user = membership.user
    services.membership_remove(actor=manager, membership=membership)
    assert not Membership.objects.filter(user=user).exists()
    assert not user.groups.filter(pk=buyer.group_id).exists()


@pytest.mark.django_db
def test_a_user_may_hold_several_roles_and_organizations(center, buyer):
    user = factories.member(center, "manager", "curator", "reviewer")
    factories.MembershipFactory(user=user, organization=buyer, role="analyst")
    assert roles_in(user, center) == {"manager", "curator", "reviewer"}
    assert roles_in(user, buyer) == {"analyst"}

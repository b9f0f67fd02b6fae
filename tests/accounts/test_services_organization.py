import pytest
from django.core import mail

from accounts import services
from accounts.models import Membership, Organization, User
from marketplace import errors
from marketplace.models import AuditEvent
from tests import factories

SIGNUP = {
    "email": "owner@cafe.kr",
    "password": "a-long-enough-passphrase",
    "name": "김사장",
    "accept_terms": True,
    "accept_privacy": True,
    "organization": {
        "kind": "buyer",
        "name": "골목카페 협동조합",
        "name_en": "Alley Cafe Co-op",
        "business_number": "124-81-00998",
        "buyer_category": "sme",
    },
}


def signup(**changes):
    """Sign up and read back what was made (the service answers nothing, so that callers cannot
    tell a new address from a known one)."""
    values = {**SIGNUP, **changes}
    services.user_signup(**values)
    return User.objects.get(email=values["email"]), Organization.objects.get(
        business_number=values["organization"]["business_number"].replace("-", "")
    )


@pytest.mark.django_db
def test_signup_creates_user_and_pending_organization_managed_by_the_user():
    user, org = signup()
    assert org.verification == Organization.Verification.PENDING
    assert org.business_number == "1248100998"
    assert list(Membership.objects.filter(user=user).values_list("organization", "role")) == [
        (org.pk, "manager")
    ]
    assert user.groups.filter(pk=org.group_id).exists()
    assert user.check_password(SIGNUP["password"])
    assert set(AuditEvent.objects.values_list("verb", flat=True)) == {
        "accounts.user.signed_up",
        "accounts.organization.registered",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, field",
    [
        (
            {"organization": {**SIGNUP["organization"], "business_number": "124-81-00997"}},
            "organization.business_number",
        ),
        ({"organization": {**SIGNUP["organization"], "buyer_category": ""}}, "organization.buyer_category"),
        ({"organization": {**SIGNUP["organization"], "kind": "operator"}}, "organization"),
        ({"password": "1234"}, "password"),
    ],
)
def test_invalid_signup_explains_and_creates_nothing(change, field):
    with pytest.raises(errors.ApplicationError) as exc:
        services.user_signup(**{**SIGNUP, **change})
    assert field in exc.value.errors
    assert User.objects.count() == 0
    assert Organization.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_second_signup_with_same_business_number_is_refused():
    services.user_signup(**SIGNUP)
    with pytest.raises(errors.ApplicationError) as exc:
        services.user_signup(**{**SIGNUP, "email": "other@cafe.kr"})
    assert "organization.business_number" in exc.value.errors
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_operator_verifies_organization_records_who_when_and_emails_managers(
    operator, django_capture_on_commit_callbacks
):
    user, org = signup()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        org = services.organization_verify(actor=operator, organization=org)
    org.refresh_from_db()
    assert org.is_verified
    assert org.verified_by == operator
    assert org.verified_at is not None
    event = AuditEvent.objects.get(verb="accounts.organization.verified")
    assert event.actor == operator
    assert event.before["verification"] == "pending" and event.after["verification"] == "verified"
    assert [m.to for m in mail.outbox] == [[user.email]]


@pytest.mark.django_db
def test_verify_twice_changes_nothing_the_second_time(operator):
    _user, org = signup()
    first = services.organization_verify(actor=operator, organization=org)
    second = services.organization_verify(actor=operator, organization=org)
    assert first.verified_at == second.verified_at
    assert AuditEvent.objects.filter(verb="accounts.organization.verified").count() == 1


@pytest.mark.django_db
def test_organization_cannot_verify_itself():
    user, org = signup()
    with pytest.raises(errors.PermissionDenied):
        services.organization_verify(actor=user, organization=org)
    org.refresh_from_db()
    assert not org.is_verified


@pytest.mark.django_db
def test_outsider_cannot_even_see_a_pending_organization():
    _user, org = signup()
    outsider = factories.member(factories.OrganizationFactory(), "manager")
    with pytest.raises(errors.NotFound):
        services.organization_verify(actor=outsider, organization=org)


@pytest.mark.django_db
def test_reject_needs_a_reason_and_keeps_it(operator):
    _user, org = signup()
    with pytest.raises(errors.ApplicationError):
        services.organization_reject(actor=operator, organization=org, reason="  ")
    org = services.organization_reject(
        actor=operator, organization=org, reason="사업자등록증 사본이 흐립니다"
    )
    assert org.verification == "rejected"
    assert org.rejection_reason == "사업자등록증 사본이 흐립니다"
    # A rejected organization can still be verified once it fixes the problem.
    assert services.organization_verify(actor=operator, organization=org).is_verified

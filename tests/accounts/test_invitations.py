"""Memberships need the invitee's consent (issue 15): an invitation, accepted by the person at
the address, through the real API and pages."""

import re

import pytest
from django.core import mail
from django.test import Client

from accounts import services
from accounts.models import Invitation, Membership, User
from accounts.selectors import roles_in
from accounts.tasks import ORGANIZATION_NAME_IN_EMAIL, organization_name_for_email
from marketplace.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(buyer):
    return factories.member(buyer, "manager", email="manager@cafe.kr")


def _invite(client, org, email, role="analyst"):
    return client.post(f"/api/v1/organizations/{org.pk}/members/", {"email": email, "role": role})


def test_an_existing_user_is_not_a_member_until_they_accept(
    login, buyer, manager, django_capture_on_commit_callbacks
):
    victim = factories.member(factories.OrganizationFactory(kind="buyer"), "analyst", email="victim@shop.kr")
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(login(manager), buyer, "Victim@Shop.kr")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "pending"
    assert roles_in(victim, buyer) == set()
    me = login(victim).get("/api/v1/me/").json()
    assert [m["organization"]["id"] for m in me["memberships"]] != [buyer.pk]
    assert buyer.pk not in {m["organization"]["id"] for m in me["memberships"]}  # only accepted ones
    assert [i["organization"]["id"] for i in me["invitations"]] == [buyer.pk]
    # the victim's requests are not disturbed: still one buyer organization
    assert len(me["memberships"]) == 1

    declined = login(victim).post(f"/api/v1/me/invitations/{response.json()['id']}/decline/")
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    assert not Membership.objects.filter(user=victim, organization=buyer).exists()
    again = login(victim).post(f"/api/v1/me/invitations/{response.json()['id']}/accept/")
    assert again.status_code == 404  # no longer open


def test_accepting_makes_the_membership(login, buyer, manager):
    invitee = factories.member(factories.OrganizationFactory(kind="center", buyer_category=""), "curator")
    invitation_id = _invite(login(manager), buyer, invitee.email).json()["id"]
    accepted = login(invitee).post(f"/api/v1/me/invitations/{invitation_id}/accept/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert roles_in(User.objects.get(pk=invitee.pk), buyer) == {"analyst"}
    assert set(AuditEvent.objects.filter(organization=buyer).values_list("verb", flat=True)) >= {
        "accounts.membership.invited",
        "accounts.invitation.accepted",
    }


def test_someone_else_cannot_accept_an_invitation(login, buyer, manager):
    invitation_id = _invite(login(manager), buyer, "someone@shop.kr").json()["id"]
    stranger = factories.member(factories.OrganizationFactory(kind="buyer"), "manager")
    assert login(stranger).post(f"/api/v1/me/invitations/{invitation_id}/accept/").status_code == 404
    assert Invitation.objects.get(pk=invitation_id).state == "pending"


def test_an_unverified_organization_cannot_invite(login):
    pending = factories.OrganizationFactory(kind="buyer", verification="pending", verified_at=None)
    owner = factories.member(pending, "manager")
    response = _invite(login(owner), pending, "victim@shop.kr")
    assert response.status_code == 403
    assert "verified" in response.json()["detail"]
    assert not Invitation.objects.exists() and not User.objects.filter(email="victim@shop.kr").exists()


def test_the_inviter_cannot_tell_whether_the_address_has_an_account(
    login, buyer, manager, django_capture_on_commit_callbacks
):
    factories.UserFactory(email="known@shop.kr")
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        known = _invite(client, buyer, "known@shop.kr").json()
        unknown = _invite(client, buyer, "unknown@shop.kr").json()
    keys = ("state", "role", "organization")
    assert {k: known[k] for k in keys} == {k: unknown[k] for k in keys}
    events = AuditEvent.objects.filter(verb="accounts.membership.invited").order_by("pk")
    assert [sorted(e.after) for e in events] == [["email", "role"], ["email", "role"]]
    audit = client.get("/api/v1/audit/", {"verb": "accounts.membership.invited"}).json()["results"]
    assert all("invited" not in (row["after"] or {}) for row in audit)
    # both addresses get the same e-mail (save the address)
    bodies = [m.body for m in mail.outbox]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_an_invited_person_without_a_password_sets_one_through_the_normal_reset(
    login, buyer, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(login(manager), buyer, "new@shop.kr")
    assert not User.objects.get(email="new@shop.kr").has_usable_password()
    mail.outbox.clear()
    web = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post("/accounts/password_reset/", {"email": "new@shop.kr"}).status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = web.get(link, follow=True)
    assert form.status_code == 200
    done = web.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-fresh-passphrase", "new_password2": "a-fresh-passphrase"},
    )
    assert done.status_code == 302
    assert User.objects.get(email="new@shop.kr").check_password("a-fresh-passphrase")


def test_the_email_carries_only_a_short_escaped_organization_name(
    buyer, manager, django_capture_on_commit_callbacks
):
    buyer.name = "Pay the fee at https://evil.example/pay now\nor lose access " + "x" * 100
    buyer.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_invite(actor=manager, organization=buyer, email="a@shop.kr", role="analyst")
    message = mail.outbox[0]
    assert buyer.name[:10] not in message.subject  # the subject names no organization
    assert "https://evil.example" not in message.body and "evil[.]example" in message.body
    shown = organization_name_for_email(buyer.name)
    assert len(shown) <= ORGANIZATION_NAME_IN_EMAIL and "\n" not in shown
    assert f"「{shown}」" in message.body


def test_invitations_are_limited_per_organization_per_day(login, buyer, manager, settings):
    settings.INVITATIONS_PER_DAY = 3
    client = login(manager)
    for n in range(3):
        assert _invite(client, buyer, f"p{n}@shop.kr").status_code == 201
    over = _invite(client, buyer, "p9@shop.kr")
    assert over.status_code == 429 and over.json()["detail"]
    assert Invitation.objects.count() == 3
    # inviting the same address again returns the pending invitation and sends nothing new
    assert _invite(client, buyer, "p0@shop.kr").status_code == 201
    assert Invitation.objects.count() == 3


def test_managers_list_and_withdraw_invitations(login, buyer, manager):
    client = login(manager)
    invitation_id = _invite(client, buyer, "later@shop.kr").json()["id"]
    listed = client.get(f"/api/v1/organizations/{buyer.pk}/invitations/").json()["results"]
    assert [i["id"] for i in listed] == [invitation_id]
    assert client.delete(f"/api/v1/organizations/{buyer.pk}/invitations/{invitation_id}/").status_code == 204
    assert Invitation.objects.get(pk=invitation_id).state == "revoked"


def test_an_expired_invitation_cannot_be_accepted(login, buyer, manager):
    invitee = factories.member(factories.OrganizationFactory(kind="buyer"), "analyst")
    invitation = services.membership_invite(
        actor=manager, organization=buyer, email=invitee.email, role="analyst"
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=invitation.created_at)
    assert login(invitee).post(f"/api/v1/me/invitations/{invitation.pk}/accept/").status_code == 404
    assert not Membership.objects.filter(user=invitee, organization=buyer).exists()


def test_the_invitee_accepts_on_the_web(buyer, manager):
    invitee = factories.member(factories.OrganizationFactory(kind="buyer"), "analyst", email="web@shop.kr")
    invitation = services.membership_invite(
        actor=manager, organization=buyer, email=invitee.email, role="analyst"
    )
    web = Client(HTTP_ACCEPT_LANGUAGE="en")
    web.force_login(invitee, backend="django.contrib.auth.backends.ModelBackend")
    page = web.get("/invitations/").content.decode()
    assert buyer.name in page and f"/invitations/{invitation.pk}/accept/" in page
    assert web.post(f"/invitations/{invitation.pk}/accept/").status_code == 302
    assert roles_in(User.objects.get(pk=invitee.pk), buyer) == {"analyst"}
    assert f"invitation-{invitation.pk}" not in web.get("/invitations/").content.decode()


def test_the_demo_seed_still_gives_accepted_memberships(db):
    from demo import organizations as demo

    orgs = demo.seed_accounts(log=lambda *_: None)
    curator = User.objects.get(email="curator@center.jangteo.test")
    assert {"manager", "curator", "reviewer"} <= {
        m.role for m in Membership.objects.filter(user=curator, organization__in=orgs.values())
    }
    assert not Invitation.objects.exists()


def test_a_manager_invites_on_the_web_and_sees_the_member_after_acceptance(buyer, manager):
    web = Client(HTTP_ACCEPT_LANGUAGE="en")
    web.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
    page = web.get("/members/").content.decode()
    assert 'action="/members/invite/"' in page and manager.email in page
    sent = web.post(
        "/members/invite/", {"organization": buyer.pk, "email": "Colleague@Shop.kr", "role": "analyst"}
    )
    assert sent.status_code == 302
    invitation = Invitation.objects.get(email="colleague@shop.kr")
    assert f'id="sent-invitation-{invitation.pk}"' in web.get("/members/").content.decode()
    colleague = User.objects.get(email="colleague@shop.kr")
    services.invitation_accept(actor=colleague, invitation=invitation)
    page = web.get("/members/").content.decode()
    assert "colleague@shop.kr" in page and f'id="sent-invitation-{invitation.pk}"' not in page


def test_an_unverified_organization_has_no_invite_form():
    pending = factories.OrganizationFactory(kind="buyer", verification="pending", verified_at=None)
    owner = factories.member(pending, "manager")
    web = Client(HTTP_ACCEPT_LANGUAGE="en")
    web.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    assert 'action="/members/invite/"' not in web.get("/members/").content.decode()
    assert (
        web.post(
            "/members/invite/", {"organization": pending.pk, "email": "v@shop.kr", "role": "analyst"}
        ).status_code
        == 403
    )

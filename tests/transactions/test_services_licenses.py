import datetime
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from catalog.models import LicenseTerms, Offer
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests.transactions.factories import request_in_state, submit
from transactions import keystore, services, tasks
from transactions.models import (
    AccessRequest,
    DownloadEvent,
    License,
    Notification,
    license_is_usable,
)

State = AccessRequest.State
pytestmark = pytest.mark.django_db


def licensed(world, **offer_kwargs) -> License:
    return License.objects.get(access_request=request_in_state(world, State.LICENSED, **offer_kwargs))


def recipients(verb: str) -> set[str]:
    return set(Notification.objects.filter(verb=verb).values_list("recipient__email", flat=True))


# --- issue ----------------------------------------------------------------------------------


def test_the_license_is_a_snapshot(world):
    before = timezone.now()
    license = licensed(world, duration_days=90, download_quota=3, deliver_updates=False, k=7)
    request = license.access_request
    terms = request.terms
    assert license.scope == request.scope
    assert (license.terms_text, license.terms_sha256) == (terms.text, terms.sha256)
    assert license.offer_snapshot["k"] == 7
    assert set(license.offer_snapshot) >= {
        "kind",
        "fields",
        "dimensions",
        "measures",
        "k",
        "dominance",
        "region_field",
        "date_field",
        "date_granularity",
        "subject_field",
        "dominance_field",
        "quasi_identifiers_allowed",
    }
    assert license.valid_from >= before
    assert license.valid_until - license.valid_from == datetime.timedelta(days=90)
    assert (license.download_quota, license.downloads_used, license.deliver_updates) == (3, 0, False)
    assert (license.organization, license.dataset) == (world.buyer, request.offer.dataset)
    assert len(keystore.license_key(license.pk)) == 32
    # Later changes to the offer or its terms do not reach the license.
    offer = request.offer
    Offer.objects.filter(pk=offer.pk).update(k=50, fields=["amount"])
    LicenseTerms.objects.create(offer=offer, version=2, text="바뀐 약관")
    license.refresh_from_db()
    assert license.offer_snapshot["k"] == 7 and license.terms_text == terms.text


def test_every_license_has_its_own_secret(world):
    assert keystore.license_key(licensed(world).pk) != keystore.license_key(licensed(world).pk)


def test_the_licensee_group_holds_the_object_permission(world):
    license = licensed(world)
    assert world.buyer_analyst.has_perm("transactions.view_license", license)
    assert world.buyer_manager.has_perm("transactions.view_license", license)
    assert not world.other_buyer.has_perm("transactions.view_license", license)


def test_the_license_issued_hook_runs_after_commit(world, django_capture_on_commit_callbacks):
    """The service announces the issue; the hook subscribed in TransactionsConfig.ready() runs
    after commit and asks for the license's first file."""
    with mock.patch("transactions.hooks.extract_request") as first_file:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            license = licensed(world)
        first_file.assert_not_called()
        for callback in callbacks:
            callback()
    first_file.assert_called_once_with(actor=SYSTEM, license=license)


def test_licenses_are_issued_by_the_platform_only_and_once(world):
    license = licensed(world)
    with pytest.raises(errors.PermissionDenied):
        services.license_issue(actor=world.operator, access_request=license.access_request)
    assert services.license_issue(actor=SYSTEM, access_request=license.access_request) == license
    pending = request_in_state(world, State.CENTER_REVIEW)
    with pytest.raises(errors.InvalidState):
        services.license_issue(actor=SYSTEM, access_request=pending)


def test_license_is_usable():
    now = timezone.now()
    license = License(
        state=License.State.ACTIVE,
        valid_from=now - datetime.timedelta(days=1),
        valid_until=now + datetime.timedelta(days=1),
        download_quota=2,
        downloads_used=1,
    )
    assert license_is_usable(license, now)
    assert not license_is_usable(license, now + datetime.timedelta(days=2))
    assert not license_is_usable(license, now - datetime.timedelta(days=2))
    license.downloads_used = 2
    assert not license_is_usable(license, now)
    license.downloads_used = 0
    for state in (License.State.EXPIRED, License.State.REVOKED):
        license.state = state
        assert not license_is_usable(license, now)


# --- revoke ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["center_manager", "operator"])
def test_a_center_manager_or_operator_revokes_with_a_reason(world, who, django_capture_on_commit_callbacks):
    license = licensed(world)
    mail.outbox.clear()
    with pytest.raises(errors.ApplicationError) as exc:
        services.license_revoke(actor=world.actor(who), license=license, reason="")
    assert "reason" in exc.value.errors
    with django_capture_on_commit_callbacks(execute=True):
        revoked = services.license_revoke(actor=world.actor(who), license=license, reason="목적 외 이용")
    assert (revoked.state, revoked.revoked_reason, revoked.revoked_by) == (
        "revoked",
        "목적 외 이용",
        world.actor(who),
    )
    assert not license_is_usable(revoked)
    assert {world.buyer_analyst.email, world.buyer_manager.email} <= recipients("license_revoked")
    assert any("목적 외 이용" in m.body for m in mail.outbox)
    event = AuditEvent.objects.get(verb="transactions.license.revoked")
    assert (event.organization, event.other_organization) == (world.buyer, world.center)
    # Again: nothing changes.
    assert (
        services.license_revoke(actor=world.operator, license=license, reason="x").revoked_reason
        == "목적 외 이용"
    )


@pytest.mark.parametrize(
    "who, error",
    [
        ("center_reviewer", errors.PermissionDenied),
        ("center_curator", errors.PermissionDenied),
        ("buyer_manager", errors.PermissionDenied),
        ("other_center_curator", errors.NotFound),
        ("other_buyer", errors.NotFound),
    ],
)
def test_others_cannot_revoke(world, who, error):
    license = licensed(world)
    with pytest.raises(error):
        services.license_revoke(actor=world.actor(who), license=license, reason="x")


def test_an_expired_license_cannot_be_revoked(world):
    license = licensed(world)
    services.license_expire(actor=SYSTEM, license=license, now=license.valid_until)
    with pytest.raises(errors.InvalidState):
        services.license_revoke(actor=world.operator, license=license, reason="x")


# --- expire ---------------------------------------------------------------------------------


def test_expiry_happens_at_the_end_of_the_window(world, django_capture_on_commit_callbacks):
    license = licensed(world)
    with pytest.raises(errors.InvalidState):
        services.license_expire(
            actor=SYSTEM, license=license, now=license.valid_until - datetime.timedelta(seconds=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        expired = services.license_expire(actor=SYSTEM, license=license, now=license.valid_until)
    assert (expired.state, expired.expired_at) == ("expired", license.valid_until)
    assert recipients("license_expired") == {world.buyer_analyst.email, world.buyer_manager.email}
    assert services.license_expire(actor=SYSTEM, license=license).state == "expired"
    with pytest.raises(errors.PermissionDenied):
        services.license_expire(actor=world.operator, license=license)


def test_a_revoked_license_does_not_expire(world):
    license = services.license_revoke(actor=world.operator, license=licensed(world), reason="x")
    with pytest.raises(errors.InvalidState):
        services.license_expire(actor=SYSTEM, license=license, now=license.valid_until)


def test_the_hourly_task_expires_due_licenses_only(world):
    due, current = licensed(world), licensed(world)
    revoked = services.license_revoke(actor=world.operator, license=licensed(world), reason="x")
    past = timezone.now() - datetime.timedelta(minutes=1)
    License.objects.filter(pk__in=[due.pk, revoked.pk]).update(
        valid_from=past - datetime.timedelta(days=10), valid_until=past
    )
    assert tasks.expire_licenses() == 1
    states = dict(License.objects.values_list("pk", "state"))
    assert states == {due.pk: "expired", current.pk: "active", revoked.pk: "revoked"}
    assert tasks.expire_licenses() == 0


# --- reminders and renewal ------------------------------------------------------------------


def test_renewal_reminders_go_once_seven_days_before(world, django_capture_on_commit_callbacks):
    soon, later = licensed(world), licensed(world)
    now = soon.valid_until - datetime.timedelta(days=6)
    License.objects.filter(pk=later.pk).update(valid_until=now + datetime.timedelta(days=8))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.license_send_renewal_reminders(actor=SYSTEM, now=now) == 1
    assert License.objects.get(pk=soon.pk).reminder_sent_at == now
    assert License.objects.get(pk=later.pk).reminder_sent_at is None
    assert recipients("license_expiring") == {world.buyer_analyst.email, world.buyer_manager.email}
    assert len(mail.outbox) == 2
    assert services.license_send_renewal_reminders(actor=SYSTEM, now=now + datetime.timedelta(hours=1)) == 0
    with pytest.raises(errors.PermissionDenied):
        services.license_send_renewal_reminders(actor=world.operator)


def test_renewal_carries_the_scope_forward(world):
    offer = world.offer()
    request = submit(
        world.buyer_analyst, offer, scope={"fields": ["sigungu_code", "amount"], "regions": ["41110"]}
    )
    services.access_request_approve(
        actor=world.center_reviewer, access_request=request, narrowed_scope={"fields": ["amount"]}
    )
    license = License.objects.get(access_request=request)

    renewal = services.license_renew(actor=world.buyer_manager, license=license)
    assert renewal.renewal_of == license
    assert (
        renewal.requested_scope
        == renewal.scope
        == license.scope
        == {"fields": ["amount"], "regions": ["41110"], "date_from": None, "date_to": None}
    )
    assert (renewal.state, renewal.requester, renewal.purpose) == (
        State.CENTER_REVIEW,
        world.buyer_manager,
        request.purpose,
    )
    assert AuditEvent.objects.filter(verb="transactions.license.renewal_requested").count() == 1
    with pytest.raises(errors.InvalidState):  # one open request per organization and offer
        services.license_renew(actor=world.buyer_analyst, license=license)

    # Approved while the old license runs: the new one starts where the old one ends.
    services.access_request_approve(actor=world.center_reviewer, access_request=renewal)
    renewed = License.objects.get(access_request=renewal)
    assert renewed.valid_from == license.valid_until


def test_renewal_after_new_terms_needs_them_accepted(world):
    license = licensed(world)
    offer = license.offer
    offer.current_terms = LicenseTerms.objects.create(offer=offer, version=2, text="개정 약관")
    offer.save(update_fields=["current_terms"])
    with pytest.raises(errors.ApplicationError) as exc:
        services.license_renew(actor=world.buyer_analyst, license=license)
    assert "accept_terms" in exc.value.errors
    renewal = services.license_renew(actor=world.buyer_analyst, license=license, accept_terms=True)
    assert renewal.terms.version == 2


@pytest.mark.parametrize(
    "who, error",
    [
        ("center_manager", errors.PermissionDenied),
        ("operator", errors.PermissionDenied),
        ("other_buyer", errors.NotFound),
    ],
)
def test_only_the_licensee_renews(world, who, error):
    license = licensed(world)
    with pytest.raises(error):
        services.license_renew(actor=world.actor(who), license=license)


def test_a_revoked_license_is_not_renewed(world):
    license = services.license_revoke(actor=world.operator, license=licensed(world), reason="x")
    with pytest.raises(errors.InvalidState):
        services.license_renew(actor=world.buyer_analyst, license=license)


def test_an_expired_license_is_renewed_from_now(world):
    license = licensed(world)
    services.license_expire(actor=SYSTEM, license=license, now=license.valid_until)
    renewal = services.license_renew(actor=world.buyer_analyst, license=license)
    before = timezone.now()
    services.access_request_approve(actor=world.center_reviewer, access_request=renewal)
    renewed = License.objects.get(access_request=renewal)
    assert renewed.valid_from >= before  # not where the ended license would have run out
    assert renewed.valid_from < license.valid_until


# --- downloads ------------------------------------------------------------------------------


def test_each_download_is_counted_and_recorded(world):
    license = licensed(world, download_quota=2)
    event = services.license_download_record(
        actor=world.buyer_analyst, license=license, extract_id=7, size_bytes=1234
    )
    assert (event.user, event.organization, event.extract_id, event.bytes) == (
        world.buyer_analyst,
        world.buyer,
        7,
        1234,
    )
    services.license_download_record(actor=SYSTEM, license=license, user=world.buyer_manager)
    assert License.objects.get(pk=license.pk).downloads_used == 2
    with pytest.raises(errors.InvalidState) as exc:
        services.license_download_record(actor=world.buyer_analyst, license=license)
    assert "quota" in exc.value.message
    audit = AuditEvent.objects.filter(verb="transactions.license.downloaded")
    assert audit.count() == 2
    assert {a.actor for a in audit} == {world.buyer_analyst, world.buyer_manager}
    assert all(a.other_organization == world.center for a in audit)  # the provider sees who downloaded


def test_downloads_stop_when_revoked(world):
    license = services.license_revoke(actor=world.operator, license=licensed(world), reason="x")
    with pytest.raises(errors.InvalidState) as exc:
        services.license_download_record(actor=world.buyer_analyst, license=license)
    assert "revoked" in exc.value.message
    assert DownloadEvent.objects.count() == 0
    with pytest.raises(errors.PermissionDenied):
        services.license_download_record(actor=world.center_manager, license=license)

"""Licenses: issued on the last step of a request, then `active → expired | revoked`; renewal
reminders; renewal as a new request carrying the old scope; the record of each download."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm

from catalog.selectors import offer_snapshot
from marketplace import errors, reactions
from marketplace.actors import SYSTEM
from marketplace.audit import audit_record
from marketplace.authz import authorize
from marketplace.context import client_ip
from transactions import keystore, permissions, selectors
from transactions.models import AccessRequest, DownloadEvent, License, license_is_usable
from transactions.notifications import BUYER, CENTER, notify
from transactions.services._workflow import _locked_request, _user
from transactions.services.ledger import disclosure_release_record

State = License.State


def _license_audit(license: License, *, actor, verb: str, before=None, after=None):
    return audit_record(
        actor=actor,
        verb=f"transactions.license.{verb}",
        target=license,
        organization=license.organization,
        other_organization=license.dataset.center,
        before=before,
        after=after,
    )


def _locked_license(pk: int) -> License:
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("organization", "dataset__center", "offer", "access_request__organization")
        .get(pk=pk)
    )


def license_issue(*, actor, access_request: AccessRequest, now: datetime.datetime | None = None) -> License:
    """Issue the license of a licensed request: a snapshot of its scope, the offer's privacy
    settings, the accepted terms' text and SHA-256, the validity window (a renewal starts when
    the license it renews ends), the quota, and a fresh secret key for pseudonymization. The
    buyer organization's group gets the object permission to view it. Issued by the platform
    only (SYSTEM), inside the approval's or payment's transaction; issuing twice returns the
    first license."""
    authorize(permissions.license_issue, actor, access_request)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        existing = License.objects.filter(access_request=locked).first()
        if existing is not None:
            return existing
        if locked.state != AccessRequest.State.LICENSED:
            raise errors.InvalidState(_("Only a request approved (and paid, when priced) gets a license."))
        offer = locked.offer
        snapshot = locked.offer_snapshot or offer_snapshot(offer)
        valid_from = now
        previous = locked.renewal_of
        if previous is not None and previous.state == State.ACTIVE and previous.valid_until > now:
            valid_from = previous.valid_until
        license = License.objects.create(
            access_request=locked,
            organization=locked.organization,
            offer=offer,
            dataset=offer.dataset,
            scope=locked.scope,
            offer_snapshot=snapshot,
            terms_text=locked.terms.text,
            terms_sha256=locked.terms_sha256,
            valid_from=valid_from,
            valid_until=valid_from + datetime.timedelta(days=snapshot["duration_days"]),
            download_quota=snapshot["download_quota"],
            deliver_updates=snapshot["deliver_updates"],
        )
        # Its pseudonymization key, stored only encrypted (and possibly in the key store's own
        # database: a rolled-back issue leaves an unused sealed key there, nothing else).
        keystore.license_key_create(license.pk)
        if offer.dataset.current_version_id:
            disclosure_release_record(actor=SYSTEM, license=license, version=offer.dataset.current_version)
        assign_perm("transactions.view_license", locked.organization.group, license)
        _license_audit(
            license,
            actor=actor,
            verb="issued",
            after={
                "request": locked.pk,
                "scope": license.scope,
                "terms_sha256": license.terms_sha256,
                "valid_from": license.valid_from.isoformat(),
                "valid_until": license.valid_until.isoformat(),
                "download_quota": license.download_quota,
            },
        )
        notify(verb="license_issued", audiences=[BUYER, CENTER], license=license, access_request=locked)
        reactions.announce_on_commit(reactions.LICENSE_ISSUED, license_id=license.pk)
    return license


def license_revoke(*, actor, license: License, reason: str) -> License:
    """A manager of the dataset's center, or an operator, ends a license at once with a reason;
    downloads stop. Revoking a revoked license changes nothing; an expired one cannot be."""
    authorize(permissions.license_revoke, actor, license, can_view=permissions.license_view)
    reason = (reason or "").strip()
    if not reason:
        raise errors.ApplicationError(
            _("Give a reason so the licensee knows why."), errors={"reason": [_("This field is required.")]}
        )
    with transaction.atomic():
        locked = _locked_license(license.pk)
        if locked.state == State.REVOKED:
            return locked
        if locked.state != State.ACTIVE:
            raise errors.InvalidState(_("This license has expired; there is nothing to revoke."))
        locked.state = State.REVOKED
        locked.revoked_reason = reason
        locked.revoked_at = timezone.now()
        locked.revoked_by = _user(actor)
        locked.save(update_fields=["state", "revoked_reason", "revoked_at", "revoked_by"])
        _license_audit(
            locked,
            actor=actor,
            verb="revoked",
            before={"state": State.ACTIVE},
            after={"state": State.REVOKED, "reason": reason},
        )
        notify(
            verb="license_revoked",
            audiences=[BUYER, CENTER],
            license=locked,
            actor=actor,
            params={"reason": reason},
        )
    return locked


def license_expire(*, actor, license: License, now: datetime.datetime | None = None) -> License:
    """The platform ends a license whose window has passed (Celery beat, hourly)."""
    authorize(permissions.license_expire, actor, license)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_license(license.pk)
        if locked.state == State.EXPIRED:
            return locked
        if locked.state != State.ACTIVE:
            raise errors.InvalidState(_("This license is revoked; it does not expire."))
        if locked.valid_until > now:
            raise errors.InvalidState(
                _("This license is valid until %(until)s.")
                % {"until": f"{timezone.localtime(locked.valid_until):%Y-%m-%d %H:%M}"}
            )
        locked.state = State.EXPIRED
        locked.expired_at = now
        locked.save(update_fields=["state", "expired_at"])
        _license_audit(
            locked,
            actor=actor,
            verb="expired",
            before={"state": State.ACTIVE},
            after={"state": State.EXPIRED},
        )
        notify(verb="license_expired", audiences=[BUYER], license=locked)
    return locked


def license_send_renewal_reminders(*, actor, now: datetime.datetime | None = None, days: int = 7) -> int:
    """Tell licensees whose license ends within `days` (once per license). Returns how many
    were reminded. Celery beat, daily."""
    authorize(permissions.license_send_renewal_reminders, actor)
    now = now or timezone.now()
    sent = 0
    for pk in selectors.licenses_due_for_reminder(now, days=days).values_list("pk", flat=True):
        with transaction.atomic():
            locked = _locked_license(pk)
            if locked.reminder_sent_at is not None or locked.state != State.ACTIVE:
                continue
            locked.reminder_sent_at = now
            locked.save(update_fields=["reminder_sent_at"])
            _license_audit(
                locked,
                actor=actor,
                verb="renewal_reminder_sent",
                after={"valid_until": locked.valid_until.isoformat()},
            )
            notify(verb="license_expiring", audiences=[BUYER], license=locked)
            sent += 1
    return sent


def license_download_record(
    *,
    actor,
    license: License,
    extract_id: int | None = None,
    size_bytes: int = 0,
    user=None,
    now: datetime.datetime | None = None,
) -> DownloadEvent:
    """Count one download against the license's quota and record who downloaded what, from
    where (the provider reads it in the audit trail). Refused (409) unless the license is
    usable: active, inside its window, with quota left. The extract engine calls this for
    each download; `user` is the person when the worker records as SYSTEM."""
    authorize(permissions.license_download_record, actor, license, can_view=permissions.license_view)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_license(license.pk)
        if not license_is_usable(locked, now):
            raise errors.InvalidState(_download_refusal(locked, now))
        locked.downloads_used += 1
        locked.save(update_fields=["downloads_used"])
        person = _user(actor) or user
        event = DownloadEvent.objects.create(
            license=locked,
            extract_id=extract_id,
            user=person,
            organization=locked.organization,
            bytes=size_bytes,
            ip=client_ip.get(),
        )
        _license_audit(
            locked,
            actor=actor if person is None else person,
            verb="downloaded",
            after={"extract": extract_id, "bytes": size_bytes, "downloads_used": locked.downloads_used},
        )
    return event


def _download_refusal(license: License, now) -> str:
    if license.state == State.REVOKED:
        return _("This license was revoked; downloads have stopped.")
    if license.state == State.EXPIRED or now >= license.valid_until:
        return _("This license has expired; request a renewal to download again.")
    if now < license.valid_from:
        return _("This license starts on %(date)s.") % {
            "date": f"{timezone.localtime(license.valid_from):%Y-%m-%d}"
        }
    return _("The download quota of this license is used up.")

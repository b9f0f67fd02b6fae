"""Invoices for priced offers: issued on the last approval, paid (which issues the license)
or voided. Money moves once: marking paid takes an idempotency key, and the same key gives
the same answer."""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.selectors import offer_snapshot
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.audit import audit_record
from marketplace.authz import authorize
from transactions import permissions
from transactions.models import AccessRequest, Invoice, InvoiceSequence, RequestEvent, vat_krw
from transactions.notifications import BUYER, CENTER, OPERATORS, notify
from transactions.payments import DEFAULT_PROVIDER, provider_for
from transactions.services._workflow import _locked_request, _record_step, _transition, _user
from transactions.services.licenses import license_issue

State = AccessRequest.State
Action = RequestEvent.Action


def _snapshot(invoice: Invoice) -> dict:
    return {
        "number": invoice.number,
        "state": invoice.state,
        "supply_krw": invoice.supply_krw,
        "vat_krw": invoice.vat_krw,
        "total_krw": invoice.total_krw,
    }


def _invoice_audit(
    invoice: Invoice, access_request: AccessRequest, *, actor, verb: str, before=None, after=None
):
    return audit_record(
        actor=actor,
        verb=f"transactions.invoice.{verb}",
        target=invoice,
        organization=access_request.organization,
        other_organization=access_request.offer.dataset.center,
        before=before,
        after=after,
    )


def _take_invoice_number(year: int) -> int:
    """The next number of `year`, under a lock on the year's counter row: concurrent issues
    queue here, and a rolled-back issue gives its number back (no gaps)."""
    InvoiceSequence.objects.bulk_create([InvoiceSequence(year=year, last=0)], ignore_conflicts=True)
    sequence = InvoiceSequence.objects.select_for_update().get(year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return sequence.last


def invoice_issue(*, actor, access_request: AccessRequest, now: datetime.datetime | None = None) -> Invoice:
    """Issue the invoice of an approved, priced request: `JT-<year>-<000123>`, sequential per
    year without gaps; supply = the offer's price, VAT 10% rounded half up to whole won. Issued
    by the platform only (SYSTEM), inside the approval's transaction. Issuing twice returns the
    first invoice."""
    authorize(permissions.invoice_issue, actor, access_request)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        existing = Invoice.objects.filter(access_request=locked).first()
        if existing is not None:
            return existing
        if locked.state != State.AWAITING_PAYMENT:
            raise errors.InvalidState(_("Only an approved request awaiting payment is invoiced."))
        supply = (locked.offer_snapshot or offer_snapshot(locked.offer))["price_krw"]
        if supply <= 0:
            raise errors.InvalidState(_("Free offers are not invoiced."))
        year = timezone.localtime(now).year
        sequence = _take_invoice_number(year)
        vat = vat_krw(supply)
        invoice = Invoice.objects.create(
            number=f"JT-{year}-{sequence:06d}",
            year=year,
            sequence=sequence,
            access_request=locked,
            organization=locked.organization,
            supply_krw=supply,
            vat_krw=vat,
            total_krw=supply + vat,
            state=Invoice.State.ISSUED,
            provider=DEFAULT_PROVIDER,
            issued_at=now,
        )
        _invoice_audit(invoice, locked, actor=actor, verb="issued", after=_snapshot(invoice))
        _record_step(
            locked, action=Action.INVOICED, from_state=locked.state, actor=actor, note=invoice.number
        )
        notify(
            verb="invoice_issued",
            audiences=[BUYER, OPERATORS],
            access_request=locked,
            params={"number": invoice.number, "total": f"{invoice.total_krw:,}"},
        )
    return invoice


def _record_payment(actor, locked: Invoice, locked_request, *, provider, reference: str, key) -> None:
    """Under the locks: confirm the payment with its provider, mark the invoice paid, license
    the request, tell the buyer and the center, issue the license."""
    # how it was paid: the invoice's method, or another one on offer (a card payment
    # confirmed with the gateway instead of a transfer)
    method = provider or locked.provider
    confirmation = provider_for(method).confirm(locked, reference=reference)
    before = _snapshot(locked)
    locked.provider = method
    locked.state = Invoice.State.PAID
    locked.paid_at = confirmation.paid_at
    locked.paid_by = _user(actor)
    locked.paid_reference = confirmation.reference
    locked.idempotency_key = key
    locked.save(
        update_fields=["state", "paid_at", "paid_by", "paid_reference", "idempotency_key", "provider"]
    )
    _invoice_audit(
        locked,
        locked_request,
        actor=actor,
        verb="paid",
        before=before,
        after={**_snapshot(locked), "reference": locked.paid_reference, "provider": locked.provider},
    )
    _transition(locked_request, to_state=State.LICENSED, action=Action.PAID, actor=actor, note=locked.number)
    notify(
        verb="invoice_paid",
        audiences=[BUYER, CENTER],
        access_request=locked_request,
        actor=actor,
        params={"number": locked.number},
    )
    license_issue(actor=SYSTEM, access_request=locked_request)


def invoice_mark_paid(
    *,
    actor,
    invoice: Invoice,
    reference: str,
    idempotency_key: str | None = None,
    provider: str | None = None,
) -> Invoice:
    """An operator records the payment of an issued invoice (for bank transfers: the transfer's
    reference); the license is issued in the same transaction. Marking a paid invoice paid
    again returns it unchanged; a repeated idempotency key returns the invoice it paid, and a
    key already used for another invoice is refused."""
    authorize(permissions.invoice_mark_paid, actor, invoice, can_view=permissions.invoice_view)
    key = (idempotency_key or "").strip() or None
    try:
        with transaction.atomic():
            if key is not None:
                previous = Invoice.objects.filter(idempotency_key=key).first()
                if previous is not None:
                    return _same_key_answer(previous, invoice)
            locked_request = _locked_request(invoice.access_request_id)
            locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
            if locked.state == Invoice.State.PAID:
                return locked
            if locked.state == Invoice.State.VOID:
                raise errors.InvalidState(_("This invoice is void; it cannot be paid."))
            if locked_request.state != State.AWAITING_PAYMENT:
                raise errors.InvalidState(_("The request of this invoice is not awaiting payment."))
            _record_payment(actor, locked, locked_request, provider=provider, reference=reference, key=key)
    except IntegrityError:  # the same key, used concurrently
        previous = Invoice.objects.filter(idempotency_key=key).first() if key else None
        if previous is None:
            raise
        return _same_key_answer(previous, invoice)
    return locked


def _same_key_answer(previous: Invoice, invoice: Invoice) -> Invoice:
    if previous.pk != invoice.pk:
        raise errors.InvalidState(
            _("This idempotency key was already used to pay invoice %(number)s.")
            % {"number": previous.number}
        )
    return previous


def _invoice_void_locked(access_request: AccessRequest, *, actor, reason: str) -> Invoice | None:
    """Void the issued invoice of a request the caller has locked (withdrawal, void)."""
    invoice = Invoice.objects.select_for_update().filter(access_request=access_request).first()
    if invoice is None or invoice.state != Invoice.State.ISSUED:
        return invoice
    before = _snapshot(invoice)
    invoice.state = Invoice.State.VOID
    invoice.voided_at = timezone.now()
    invoice.voided_by = _user(actor)
    invoice.void_reason = reason
    invoice.save(update_fields=["state", "voided_at", "voided_by", "void_reason"])
    _invoice_audit(
        invoice,
        access_request,
        actor=actor,
        verb="voided",
        before=before,
        after={**_snapshot(invoice), "reason": reason},
    )
    notify(
        verb="invoice_voided",
        audiences=[BUYER],
        access_request=access_request,
        actor=actor,
        params={"number": invoice.number, "reason": reason},
    )
    return invoice


def invoice_void(*, actor, invoice: Invoice, reason: str) -> Invoice:
    """An operator cancels an unpaid invoice with a reason; its request ends as rejected (with
    the reason in its history). Paid invoices cannot be voided."""
    authorize(permissions.invoice_void, actor, invoice, can_view=permissions.invoice_view)
    reason = (reason or "").strip()
    if not reason:
        raise errors.ApplicationError(
            _("Give a reason for voiding the invoice."), errors={"reason": [_("This field is required.")]}
        )
    with transaction.atomic():
        locked_request = _locked_request(invoice.access_request_id)
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.state == Invoice.State.VOID:
            return current
        if current.state == Invoice.State.PAID:
            raise errors.InvalidState(_("This invoice is paid; a paid invoice cannot be voided."))
        current = _invoice_void_locked(locked_request, actor=actor, reason=reason)
        if locked_request.state == State.AWAITING_PAYMENT:
            _transition(
                locked_request,
                to_state=State.REJECTED,
                action=Action.INVOICE_VOIDED,
                actor=actor,
                note=reason,
            )
            notify(
                verb="request_rejected",
                audiences=[BUYER, CENTER],
                access_request=locked_request,
                actor=actor,
                params={"reason": reason},
            )
    return current

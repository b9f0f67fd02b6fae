"""Payment providers: how an invoice gets paid. One interface so that a card gateway can be
added beside bank transfer; bank transfer (an operator records the transfer they see on the
account) is the one that works here.

A provider never changes state itself: `services.invoice_mark_paid` asks the provider to
confirm the payment and then records it under a row lock."""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketplace import errors
from transactions.models import Invoice


@dataclass(frozen=True)
class PaymentConfirmation:
    reference: str
    paid_at: datetime.datetime


class PaymentProvider(ABC):
    code: str = ""
    name = ""

    @abstractmethod
    def instructions(self, invoice: Invoice) -> str:
        """What the buyer does to pay this invoice, in the active language."""

    @abstractmethod
    def confirm(self, invoice: Invoice, *, reference: str) -> PaymentConfirmation:
        """Check that `invoice` is paid (with the provider's `reference`) or raise
        ApplicationError with a reason a person can act on."""


class BankTransferProvider(PaymentProvider):
    """The buyer transfers the total to the platform's account quoting the invoice number; an
    operator sees the transfer and records its reference (the bank's transaction id)."""

    code = "bank_transfer"
    name = gettext_lazy("Bank transfer")
    max_reference_length = 200

    def instructions(self, invoice: Invoice) -> str:
        account = getattr(settings, "PAYMENT_BANK_ACCOUNT", "") or _("the account shown on the invoice")
        return _("Transfer %(total)s won to %(account)s, quoting %(number)s as the sender's note.") % {
            "total": f"{invoice.total_krw:,}",
            "account": account,
            "number": invoice.number,
        }

    def confirm(self, invoice: Invoice, *, reference: str) -> PaymentConfirmation:
        reference = (reference or "").strip()
        if not reference:
            raise errors.ApplicationError(
                _("Enter the bank transfer's reference so the payment can be traced."),
                errors={"reference": [_("This field is required.")]},
            )
        if len(reference) > self.max_reference_length:
            raise errors.ApplicationError(
                _("The reference is too long."),
                errors={"reference": [_("At most %(max)s characters.") % {"max": self.max_reference_length}]},
            )
        return PaymentConfirmation(reference=reference, paid_at=timezone.now())


class TossPaymentsProvider(PaymentProvider):
    """Card payments through Toss Payments, a Korean payment gateway. The buyer pays in Toss's
    checkout, which hands back a payment key; `confirm` asks Toss's API to confirm it
    (`POST {TOSS_API_URL}` — https://api.tosspayments.com/v1/payments/confirm — with the secret
    key as HTTP Basic user, JSON `paymentKey`, `orderId` = the invoice number, `amount` = its
    total) and accepts only a payment of this invoice, for its total, in state DONE. Enabled when
    `TOSS_SECRET_KEY` is set (Toss's test keys, `test_sk_…`, take no real money). The checkout
    itself is Toss's script, which this app does not load (every asset is served from the app,
    under a strict CSP): here the key comes from the operator's form or the API."""

    code = "toss"
    name = gettext_lazy("Toss Payments (card)")

    def instructions(self, invoice: Invoice) -> str:
        return _("Pay %(total)s won by card through Toss Payments for invoice %(number)s.") % {
            "total": f"{invoice.total_krw:,}",
            "number": invoice.number,
        }

    def confirm(self, invoice: Invoice, *, reference: str) -> PaymentConfirmation:
        import base64
        import json
        import urllib.error
        import urllib.request

        key = (reference or "").strip()
        if not key or len(key) > 200:
            raise errors.ApplicationError(
                _("Enter the payment key Toss Payments gave for this payment."),
                errors={"reference": [_("This field is required.")]},
            )
        secret = base64.b64encode(f"{settings.TOSS_SECRET_KEY}:".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the URL is a setting, https in production
            settings.TOSS_API_URL,
            data=json.dumps(
                {"paymentKey": key, "orderId": invoice.number, "amount": invoice.total_krw}
            ).encode(),
            method="POST",
            headers={
                "Authorization": f"Basic {secret}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"jangteo-{invoice.number}-{key}"[:300],
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.TOSS_TIMEOUT_SECONDS) as answer:  # noqa: S310
                payment = json.load(answer)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc).get("message") or str(exc)
            except ValueError:
                message = str(exc)
            raise errors.ApplicationError(
                _("Toss Payments refused the payment: %(message)s") % {"message": message},
                errors={"reference": [message]},
            ) from exc
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise errors.ApplicationError(
                _("Toss Payments could not be reached; nothing was recorded. Try again in a moment.")
            ) from exc
        if (
            payment.get("status") != "DONE"
            or payment.get("orderId") != invoice.number
            or payment.get("totalAmount") != invoice.total_krw
        ):
            message = _(
                "This payment is not a completed payment of invoice %(number)s for %(total)s won."
            ) % {
                "number": invoice.number,
                "total": f"{invoice.total_krw:,}",
            }
            raise errors.ApplicationError(message, errors={"reference": [message]})
        try:
            paid_at = datetime.datetime.fromisoformat(payment["approvedAt"])
        except (KeyError, TypeError, ValueError):
            paid_at = timezone.now()
        return PaymentConfirmation(reference=payment.get("paymentKey") or key, paid_at=paid_at)


DEFAULT_PROVIDER = BankTransferProvider.code


def providers() -> dict[str, PaymentProvider]:
    """The payment methods on offer: bank transfer always, a card gateway when configured."""
    available: dict[str, PaymentProvider] = {BankTransferProvider.code: BankTransferProvider()}
    if getattr(settings, "TOSS_SECRET_KEY", ""):
        available[TossPaymentsProvider.code] = TossPaymentsProvider()
    return available


def provider_for(code: str) -> PaymentProvider:
    try:
        return providers()[code]
    except KeyError:
        raise errors.ApplicationError(
            _("Payments by %(method)s are not available.") % {"method": code}
        ) from None

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

from marketplace import errors
from transactions.models import Invoice


@dataclass(frozen=True)
class PaymentConfirmation:
    reference: str
    paid_at: datetime.datetime


class PaymentProvider(ABC):
    code: str = ""
    name: str = ""

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
    name = "Bank transfer"
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


PROVIDERS: dict[str, PaymentProvider] = {BankTransferProvider.code: BankTransferProvider()}
DEFAULT_PROVIDER = BankTransferProvider.code


def provider_for(code: str) -> PaymentProvider:
    try:
        return PROVIDERS[code]
    except KeyError:
        raise errors.ApplicationError(
            _("Payments by %(method)s are not available.") % {"method": code}
        ) from None

import datetime
import re
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction

from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests.transactions.factories import request_in_state, submit
from transactions import services
from transactions.models import (
    AccessRequest,
    Invoice,
    InvoiceSequence,
    License,
    Notification,
    vat_krw,
)
from transactions.payments import BankTransferProvider, PaymentProvider, provider_for
from transactions.services.invoices import _take_invoice_number

State = AccessRequest.State
pytestmark = pytest.mark.django_db
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(
    "supply, vat",
    [
        (10_005, 1_001),
        (9_999, 1_000),
        (1, 0),
        (4, 0),
        (5, 1),
        (15, 2),
        (100_000, 10_000),
        (0, 0),
        (1_234_565, 123_457),
        (99_999_999_995, 10_000_000_000),
    ],
)
def test_vat_is_ten_percent_rounded_half_up_to_whole_won(supply, vat):
    assert vat_krw(supply) == vat


def test_an_invoice_is_issued_on_approval_of_a_priced_offer(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = request_in_state(world, State.AWAITING_PAYMENT, price_krw=10_005)
    invoice = Invoice.objects.get(access_request=request)
    assert re.fullmatch(r"JT-\d{4}-000001", invoice.number)
    assert (invoice.supply_krw, invoice.vat_krw, invoice.total_krw) == (10_005, 1_001, 11_006)
    assert invoice.state == Invoice.State.ISSUED
    assert invoice.organization == world.buyer
    assert not License.objects.filter(access_request=request).exists()
    audit = AuditEvent.objects.get(verb="transactions.invoice.issued")
    assert (audit.organization, audit.other_organization) == (world.buyer, world.center)
    assert {m.to[0] for m in mail.outbox if invoice.number in m.subject} == {
        world.buyer_analyst.email,
        world.buyer_manager.email,
        world.operator.email,
    }


def test_numbers_are_sequential_per_year_and_restart_each_year(world):
    numbers = [request_in_state(world, State.AWAITING_PAYMENT).invoice.number for _ in range(3)]
    year = numbers[0][3:7]
    assert numbers == [f"JT-{year}-000001", f"JT-{year}-000002", f"JT-{year}-000003"]

    new_year = datetime.datetime(int(year) + 1, 1, 1, 0, 5, tzinfo=SEOUL)
    with mock.patch("django.utils.timezone.now", return_value=new_year):
        invoice = request_in_state(world, State.AWAITING_PAYMENT).invoice
    assert invoice.number == f"JT-{int(year) + 1}-000001"
    assert invoice.year == int(year) + 1


def test_the_year_is_the_korean_calendar_year(world):
    # 2030-12-31 16:00 UTC is already 2031-01-01 in Seoul.
    moment = datetime.datetime(2030, 12, 31, 16, 0, tzinfo=datetime.UTC)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        invoice = request_in_state(world, State.AWAITING_PAYMENT).invoice
    assert invoice.number == "JT-2031-000001"


def test_a_rolled_back_issue_gives_its_number_back():
    assert _take_invoice_number(2040) == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _take_invoice_number(2040) == 2
        raise RuntimeError("the approval failed after numbering")
    assert _take_invoice_number(2040) == 2
    assert InvoiceSequence.objects.get(year=2040).last == 2


def test_invoices_are_issued_by_the_platform_only(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    with pytest.raises(errors.PermissionDenied):
        services.invoice_issue(actor=world.operator, access_request=request)
    assert services.invoice_issue(actor=SYSTEM, access_request=request) == request.invoice  # once


def test_mark_paid_issues_the_license(world, django_capture_on_commit_callbacks):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        invoice = services.invoice_mark_paid(
            actor=world.operator, invoice=request.invoice, reference="KB 2026-0042"
        )
    assert (invoice.state, invoice.paid_reference, invoice.paid_by) == (
        "paid",
        "KB 2026-0042",
        world.operator,
    )
    assert invoice.paid_at is not None
    request.refresh_from_db()
    assert request.state == State.LICENSED
    assert License.objects.get(access_request=request).state == License.State.ACTIVE
    parties = {
        world.buyer_analyst.email,
        world.buyer_manager.email,
        world.center_reviewer.email,
        world.center_manager.email,
    }
    for verb in ("invoice_paid", "license_issued"):
        assert (
            set(Notification.objects.filter(verb=verb).values_list("recipient__email", flat=True)) == parties
        )
    assert {m.to[0] for m in mail.outbox if invoice.number in m.subject} == parties


def test_mark_paid_needs_a_reference(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    with pytest.raises(errors.ApplicationError) as exc:
        services.invoice_mark_paid(actor=world.operator, invoice=request.invoice, reference="  ")
    assert "reference" in exc.value.errors
    assert Invoice.objects.get(pk=request.invoice.pk).state == Invoice.State.ISSUED


def test_the_same_idempotency_key_gives_the_same_answer(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    first = services.invoice_mark_paid(
        actor=world.operator, invoice=request.invoice, reference="KB-1", idempotency_key="pay-42"
    )
    again = services.invoice_mark_paid(
        actor=world.operator, invoice=request.invoice, reference="KB-other", idempotency_key="pay-42"
    )
    assert again.pk == first.pk
    assert (again.paid_reference, again.paid_at) == ("KB-1", first.paid_at)
    assert AuditEvent.objects.filter(verb="transactions.invoice.paid").count() == 1
    assert License.objects.filter(access_request=request).count() == 1

    other = request_in_state(world, State.AWAITING_PAYMENT)
    with pytest.raises(errors.InvalidState) as exc:
        services.invoice_mark_paid(
            actor=world.operator, invoice=other.invoice, reference="KB-2", idempotency_key="pay-42"
        )
    assert first.number in exc.value.message
    assert Invoice.objects.get(pk=other.invoice.pk).state == Invoice.State.ISSUED


def test_paying_twice_without_a_key_changes_nothing(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    first = services.invoice_mark_paid(actor=world.operator, invoice=request.invoice, reference="KB-1")
    second = services.invoice_mark_paid(actor=world.operator, invoice=request.invoice, reference="KB-9")
    assert second.paid_reference == first.paid_reference == "KB-1"
    assert AuditEvent.objects.filter(verb="transactions.invoice.paid").count() == 1


@pytest.mark.parametrize(
    "who, error",
    [
        ("buyer_manager", errors.PermissionDenied),
        ("center_manager", errors.PermissionDenied),
        ("other_buyer", errors.NotFound),
    ],
)
def test_only_operators_record_payments(world, who, error):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    with pytest.raises(error):
        services.invoice_mark_paid(actor=world.actor(who), invoice=request.invoice, reference="KB-1")


def test_void_ends_the_request_with_the_reason(world, django_capture_on_commit_callbacks):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    with pytest.raises(errors.ApplicationError):
        services.invoice_void(actor=world.operator, invoice=request.invoice, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = services.invoice_void(actor=world.operator, invoice=request.invoice, reason="이중 청구")
    assert (invoice.state, invoice.void_reason, invoice.voided_by) == ("void", "이중 청구", world.operator)
    request.refresh_from_db()
    assert request.state == State.REJECTED
    last = request.events.order_by("id").last()
    assert (last.action, last.note) == ("invoice_voided", "이중 청구")
    assert (
        services.invoice_void(actor=world.operator, invoice=invoice, reason="again").void_reason
        == "이중 청구"
    )
    with pytest.raises(errors.InvalidState):
        services.invoice_mark_paid(actor=world.operator, invoice=invoice, reference="KB-1")


def test_a_paid_invoice_cannot_be_voided(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    invoice = services.invoice_mark_paid(actor=world.operator, invoice=request.invoice, reference="KB-1")
    with pytest.raises(errors.InvalidState):
        services.invoice_void(actor=world.operator, invoice=invoice, reason="환불")


def test_free_offers_are_never_invoiced(world):
    request = submit(world.buyer_analyst, world.offer(price_krw=0))
    services.access_request_approve(actor=world.center_reviewer, access_request=request)
    assert not Invoice.objects.exists()


def test_bank_transfer_is_a_payment_provider(world, settings):
    settings.PAYMENT_BANK_ACCOUNT = "국민은행 123-456"
    provider = provider_for("bank_transfer")
    assert isinstance(provider, PaymentProvider) and isinstance(provider, BankTransferProvider)
    invoice = request_in_state(world, State.AWAITING_PAYMENT, price_krw=1_000_000).invoice
    text = provider.instructions(invoice)
    assert invoice.number in text and "1,100,000" in text and "123-456" in text
    with pytest.raises(errors.ApplicationError):
        provider.confirm(invoice, reference="")
    assert provider.confirm(invoice, reference=" KB-7 ").reference == "KB-7"
    with pytest.raises(errors.ApplicationError):
        provider_for("card")

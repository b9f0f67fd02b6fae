"""Row locks under real concurrency: threads with their own database connections racing on
PostgreSQL (SQLite serializes writers, so these skip there; CI runs them)."""

import threading

import pytest
from django.db import connection
from django.utils import translation

from catalog.models import Offer
from marketplace import errors
from marketplace.models import AuditEvent
from tests.services import database_is_postgres
from tests.transactions.factories import submit
from transactions import services
from transactions.models import AccessRequest, Invoice, License, RequestEvent

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not database_is_postgres(), reason="DATABASE_URL does not point at PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def race(n: int, work) -> list:
    """Run `work(i)` in `n` threads released together; each result or the exception raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=20)
            results[i] = work(i)
        except BaseException as exc:  # reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return results


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_approvals_issue_exactly_one_license(world, round_):
    request = submit(world.buyer_analyst, world.offer())
    reviewers = [world.center_reviewer, world.center_manager]
    # Both reviewers loaded the request while it waited for review (read before the race: a
    # thread started after the other's commit would see it licensed, and rightly be refused).
    seen = [AccessRequest.objects.get(pk=request.pk) for _ in reviewers]

    def approve(i):
        return services.access_request_approve(actor=reviewers[i], access_request=seen[i]).state

    results = race(2, approve)
    assert results == ["licensed", "licensed"], results
    assert License.objects.filter(access_request=request).count() == 1
    assert RequestEvent.objects.filter(access_request=request, action="approved").count() == 1
    assert AuditEvent.objects.filter(verb="transactions.license.issued").count() == 1


def test_concurrent_approvals_at_both_stages_issue_one_invoice(world):
    request = submit(
        world.buyer_analyst, world.offer(approval=Offer.Approval.CENTER_OPERATOR, price_krw=5_000)
    )
    services.access_request_approve(actor=world.center_reviewer, access_request=request)
    seen = [AccessRequest.objects.get(pk=request.pk) for _ in range(4)]  # loaded before the race

    def approve(i):
        return services.access_request_approve(actor=world.operator, access_request=seen[i]).state

    assert race(4, approve) == ["awaiting_payment"] * 4
    assert Invoice.objects.filter(access_request=request).count() == 1


def test_invoice_numbers_have_no_gaps_or_duplicates_under_concurrency(world):
    n = 8
    requests = [submit(world.buyer_analyst, world.offer(price_krw=1_000 * (i + 1))) for i in range(n)]

    def approve(i):
        fresh = AccessRequest.objects.get(pk=requests[i].pk)
        services.access_request_approve(actor=world.center_reviewer, access_request=fresh)
        return Invoice.objects.get(access_request_id=fresh.pk).number

    numbers = race(n, approve)
    assert all(isinstance(number, str) for number in numbers), numbers
    year = numbers[0][3:7]
    assert sorted(numbers) == [f"JT-{year}-{i:06d}" for i in range(1, n + 1)]


def test_concurrent_payments_with_one_key_move_money_once(world):
    request = submit(world.buyer_analyst, world.offer(price_krw=20_000))
    services.access_request_approve(actor=world.center_reviewer, access_request=request)
    invoice_id = Invoice.objects.get(access_request=request).pk

    def pay(i):
        invoice = Invoice.objects.get(pk=invoice_id)
        paid = services.invoice_mark_paid(
            actor=world.operator, invoice=invoice, reference=f"KB-{i}", idempotency_key="same-transfer"
        )
        return (paid.pk, paid.state)

    assert race(4, pay) == [(invoice_id, "paid")] * 4
    assert AuditEvent.objects.filter(verb="transactions.invoice.paid").count() == 1
    assert License.objects.filter(access_request=request).count() == 1


def test_concurrent_submits_leave_one_open_request(world):
    offer = world.offer()
    people = [world.buyer_analyst, world.buyer_manager, world.buyer_analyst]

    def send(i):
        # Threads start with no active language: ask for English, as the assertion reads it.
        with translation.override("en"):
            return submit(people[i], offer).pk

    results = race(3, send)
    created = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, errors.InvalidState)]
    assert len(created) == 1 and len(refused) == 2, results
    assert all("already has an open request" in exc.message for exc in refused)
    assert AccessRequest.objects.filter(offer=offer).count() == 1

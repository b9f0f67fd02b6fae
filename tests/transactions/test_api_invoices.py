import pytest

from marketplace.models import AuditEvent
from tests.transactions.factories import request_in_state
from transactions.models import AccessRequest, Invoice, License

State = AccessRequest.State
pytestmark = pytest.mark.django_db


def test_invoice_shape(world, login):
    invoice = request_in_state(world, State.AWAITING_PAYMENT, price_krw=9_999).invoice
    body = login(world.buyer_manager).get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert {"id", "number", "supply_krw", "vat_krw", "total_krw", "state"} <= set(body)
    assert (body["supply_krw"], body["vat_krw"], body["total_krw"]) == (9_999, 1_000, 10_999)
    assert body["number"] == invoice.number and body["state"] == "issued"
    assert invoice.number in body["payment_instructions"] and "10,999" in body["payment_instructions"]
    assert body["issued_at"].endswith("+09:00")
    assert login(world.center_curator).get(f"/api/v1/invoices/{invoice.pk}/").status_code == 200
    assert login(world.other_buyer).get(f"/api/v1/invoices/{invoice.pk}/").status_code == 404


def test_mark_paid_with_an_idempotency_key_answers_the_same(world, login):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    client = login(world.operator)
    url = f"/api/v1/invoices/{request.invoice.pk}/mark-paid/"
    first = client.post(url, {"reference": "KB-0001"}, format="json", HTTP_IDEMPOTENCY_KEY="transfer-0001")
    second = client.post(url, {"reference": "KB-0002"}, format="json", HTTP_IDEMPOTENCY_KEY="transfer-0001")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["state"] == "paid" and first.json()["paid_reference"] == "KB-0001"
    assert AuditEvent.objects.filter(verb="transactions.invoice.paid").count() == 1
    assert License.objects.filter(access_request=request).count() == 1
    assert login(world.buyer_analyst).get(f"/api/v1/requests/{request.pk}/").json()["state"] == "licensed"

    other = request_in_state(world, State.AWAITING_PAYMENT)
    reused = client.post(
        f"/api/v1/invoices/{other.invoice.pk}/mark-paid/",
        {"reference": "KB-9", "idempotency_key": "transfer-0001"},
        format="json",
    )
    assert reused.status_code == 409
    assert request.invoice.number in reused.json()["detail"]


def test_mark_paid_needs_a_reference(world, login):
    invoice = request_in_state(world, State.AWAITING_PAYMENT).invoice
    response = login(world.operator).post(
        f"/api/v1/invoices/{invoice.pk}/mark-paid/", {"reference": ""}, format="json"
    )
    assert response.status_code == 400
    assert "reference" in response.json()["errors"]


def test_void_over_the_api(world, login):
    invoice = request_in_state(world, State.AWAITING_PAYMENT).invoice
    response = login(world.operator).post(
        f"/api/v1/invoices/{invoice.pk}/void/", {"reason": "견적 오류"}, format="json"
    )
    assert response.json()["state"] == "void"
    assert Invoice.objects.get(pk=invoice.pk).void_reason == "견적 오류"
    paid = login(world.operator).post(
        f"/api/v1/invoices/{invoice.pk}/mark-paid/", {"reference": "KB"}, format="json"
    )
    assert paid.status_code == 409


def test_invoice_list_is_filtered(world, login):
    mine = request_in_state(world, State.AWAITING_PAYMENT).invoice
    assert [i["id"] for i in login(world.buyer_analyst).get("/api/v1/invoices/").json()["results"]] == [
        mine.pk
    ]
    assert login(world.other_buyer).get("/api/v1/invoices/").json()["count"] == 0
    assert login(world.operator).get("/api/v1/invoices/?state=issued").json()["count"] == 1
    assert login(world.operator).get("/api/v1/invoices/?state=paid").json()["count"] == 0

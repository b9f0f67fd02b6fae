"""Payment that can be made (issue 17, item 5): the invoice shows the seller, the buyer, the
account to pay into and the tax invoice data, also as a printable document; a card payment
through Toss Payments is confirmed with the gateway's API before the license is issued.

Toss's API cannot be reached from here, so the real HTTP client talks to a local server that
answers as Toss documents its confirm endpoint (Basic auth with the secret key; JSON paymentKey,
orderId, amount; 200 with status DONE, or 4xx with code and message)."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from marketplace import errors
from tests.transactions.factories import request_in_state
from transactions import services
from transactions.models import AccessRequest, Invoice, License

pytestmark = pytest.mark.django_db

SECRET = "test_sk_jangteo"


class FakeToss(BaseHTTPRequestHandler):
    """Toss's `POST /v1/payments/confirm`, as documented: it knows one completed payment."""

    payments: dict = {}
    seen: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeToss.seen.append((self.path, self.headers["Authorization"], body))
        expected = "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
        payment = FakeToss.payments.get(body.get("paymentKey"))
        if self.headers["Authorization"] != expected:
            self._answer(401, {"code": "UNAUTHORIZED_KEY", "message": "인증되지 않은 시크릿 키입니다."})
        elif payment is None:
            self._answer(404, {"code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 정보 입니다."})
        else:
            self._answer(200, payment)

    def _answer(self, status: int, data: dict) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def toss(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeToss)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TOSS_SECRET_KEY = SECRET
    settings.TOSS_API_URL = f"http://127.0.0.1:{server.server_port}/v1/payments/confirm"
    FakeToss.payments, FakeToss.seen = {}, []
    yield FakeToss
    server.shutdown()
    server.server_close()


def awaiting(world, django_capture_on_commit_callbacks) -> Invoice:
    with django_capture_on_commit_callbacks(execute=True):
        request = request_in_state(world, AccessRequest.State.AWAITING_PAYMENT, price_krw=50_000)
    return Invoice.objects.get(access_request=request)


def test_a_card_payment_confirmed_by_toss_pays_the_invoice(world, toss, django_capture_on_commit_callbacks):
    invoice = awaiting(world, django_capture_on_commit_callbacks)
    toss.payments["pay_ok"] = {
        "paymentKey": "pay_ok",
        "orderId": invoice.number,
        "status": "DONE",
        "totalAmount": invoice.total_krw,
        "approvedAt": "2026-12-03T10:00:00+09:00",
    }
    with django_capture_on_commit_callbacks(execute=True):
        paid = services.invoice_mark_paid(
            actor=world.operator, invoice=invoice, reference="pay_ok", provider="toss"
        )
    assert (paid.state, paid.provider, paid.paid_reference) == ("paid", "toss", "pay_ok")
    assert paid.paid_at == datetime.datetime(2026, 12, 3, 1, 0, tzinfo=datetime.UTC)  # Toss's approvedAt
    (path, _auth, body) = toss.seen[-1]
    assert path == "/v1/payments/confirm"
    assert body == {"paymentKey": "pay_ok", "orderId": invoice.number, "amount": invoice.total_krw}
    assert License.objects.filter(access_request=invoice.access_request).exists()


@pytest.mark.parametrize(
    ("payment", "message"),
    [
        (None, "존재하지 않는 결제"),  # Toss does not know the key
        ({"status": "CANCELED"}, "not a completed payment"),
        ({"totalAmount": 1}, "not a completed payment"),  # paid, but not this amount
        ({"orderId": "JT-1999-000001"}, "not a completed payment"),  # another order's payment
    ],
)
def test_a_payment_toss_does_not_confirm_for_this_invoice_changes_nothing(
    world, toss, django_capture_on_commit_callbacks, payment, message
):
    invoice = awaiting(world, django_capture_on_commit_callbacks)
    if payment is not None:
        toss.payments["pay_x"] = {
            "paymentKey": "pay_x",
            "orderId": invoice.number,
            "status": "DONE",
            "totalAmount": invoice.total_krw,
            **payment,
        }
    with pytest.raises(errors.ApplicationError, match=message):
        services.invoice_mark_paid(actor=world.operator, invoice=invoice, reference="pay_x", provider="toss")
    invoice.refresh_from_db()
    assert (invoice.state, invoice.provider) == ("issued", "bank_transfer")
    assert not License.objects.filter(access_request=invoice.access_request).exists()


def test_toss_is_not_offered_without_its_key_and_unreachable_toss_records_nothing(
    world, settings, django_capture_on_commit_callbacks
):
    invoice = awaiting(world, django_capture_on_commit_callbacks)
    settings.TOSS_SECRET_KEY = ""
    with pytest.raises(errors.ApplicationError, match="not available"):
        services.invoice_mark_paid(actor=world.operator, invoice=invoice, reference="k", provider="toss")
    settings.TOSS_SECRET_KEY, settings.TOSS_API_URL = SECRET, "http://127.0.0.1:9/v1/payments/confirm"
    with pytest.raises(errors.ApplicationError, match="could not be reached"):
        services.invoice_mark_paid(actor=world.operator, invoice=invoice, reference="k", provider="toss")
    invoice.refresh_from_db()
    assert invoice.state == "issued"


def test_the_invoice_names_seller_buyer_account_and_tax_invoice_data_and_prints(
    world, settings, django_capture_on_commit_callbacks
):
    invoice = awaiting(world, django_capture_on_commit_callbacks)
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(world.buyer_manager)
    for path in (f"/invoices/{invoice.pk}/", f"/invoices/{invoice.pk}/print/"):
        html = client.get(path).content.decode()
        assert settings.OPERATOR_DETAILS["business_number"] in html  # the seller
        assert world.buyer.name in html and world.buyer.business_number[:3] in html  # the buyer
        assert settings.PAYMENT_BANK_ACCOUNT in html  # where to pay
        assert "세금계산서" in html and "50,000원" in html and "5,000원" in html and "55,000원" in html
    assert "site-header" not in client.get(f"/invoices/{invoice.pk}/print/").content.decode()
    stranger = Client()
    stranger.force_login(world.other_buyer)
    assert stranger.get(f"/invoices/{invoice.pk}/print/").status_code == 404

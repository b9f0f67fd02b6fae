"""The operator's risk threshold for record-level offers (issue 14): set in the API and on a web
page, refused when a value would switch a rule off, audited, and showing which open record
offers are above it now. Nobody else finds it."""

import pytest
from django.test import Client

from catalog import services
from catalog.models import Offer, RiskThresholdSetting
from marketplace.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db

RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]


@pytest.fixture
def open_record_offer(center, settings):
    """A record offer opened while the platform had a lax threshold (k = 1 passes): above the
    real one now."""
    settings.RISK_THRESHOLD_DEFAULTS = {
        "min_k": 1,
        "max_sample_uniqueness": 1.0,
        "max_unicity": 1.0,
        "max_linkage": 1.0,
    }
    dataset = factories.published_dataset(center, with_data=True, row_count=200)
    offer = services.offer_create(
        actor=factories.member(center, "curator"),
        dataset=dataset,
        terms="연구 목적 외 이용 금지",
        name="건별 내역",
        kind="records",
        fields=RECORDS,
        region_field="sigungu_code",
        date_field="approved_at",
    )
    settings.RISK_THRESHOLD_DEFAULTS = {}  # the real defaults from here on
    return offer


def test_the_operator_reads_and_sets_it_in_the_api_and_sees_what_is_above_it(
    api, login, operator, open_record_offer
):
    client = login(operator)
    body = client.get("/api/v1/risk-threshold/").json()
    assert (body["min_k"], body["max_linkage"]) == (5, 0.05)
    (over,) = body["offers_over"]
    assert over["id"] == open_record_offer.pk and "k-anonymity is 1" in " ".join(over["violations"])
    changed = client.patch("/api/v1/risk-threshold/", {"min_k": 1}, format="json")
    assert changed.status_code == 400 and "min_k" in changed.json()["errors"]
    changed = client.patch("/api/v1/risk-threshold/", {"max_unicity": 2}, format="json")
    assert changed.status_code == 400 and "max_unicity" in changed.json()["errors"]
    assert not RiskThresholdSetting.objects.exists()  # refused: nothing saved
    relaxed = client.patch(
        "/api/v1/risk-threshold/",
        {"min_k": 2, "max_sample_uniqueness": 1, "max_unicity": 1, "max_linkage": 1},
        format="json",
    )
    assert relaxed.status_code == 200 and relaxed.json()["min_k"] == 2
    assert relaxed.json()["offers_over"] == [
        {
            "id": open_record_offer.pk,
            "name": "건별 내역",
            "dataset": open_record_offer.dataset.slug,
            "violations": relaxed.json()["offers_over"][0]["violations"],
        }
    ]  # k = 1 is still under 2
    event = AuditEvent.objects.filter(verb="catalog.risk_threshold.updated").last()
    assert event.after["min_k"] == 2


def test_nobody_else_finds_it(api, login, center, buyer):
    assert api.get("/api/v1/risk-threshold/").status_code == 401
    for user in (factories.member(center, "manager"), factories.member(buyer, "manager")):
        client = login(user)
        assert client.get("/api/v1/risk-threshold/").status_code == 404
        assert client.patch("/api/v1/risk-threshold/", {"min_k": 50}, format="json").status_code == 404
    assert not RiskThresholdSetting.objects.exists()


def test_the_web_page_sets_it_in_percent_and_lists_the_offers_above_it(operator, open_record_offer):
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(operator)
    page = client.get("/operator/risk-threshold/").content.decode()
    assert "건별 내역" in page and 'value="5"' in page
    refused = client.post(
        "/operator/risk-threshold/",
        {"min_k": 1, "max_sample_uniqueness": 1, "max_unicity": 10, "max_linkage": 5},
    )
    assert refused.status_code == 200 and 'id="id_min_k_error"' in refused.content.decode()
    saved = client.post(
        "/operator/risk-threshold/",
        {"min_k": 3, "max_sample_uniqueness": 2.5, "max_unicity": 20, "max_linkage": 5},
    )
    assert saved.status_code == 302
    row = RiskThresholdSetting.objects.get()
    assert (row.min_k, row.max_sample_uniqueness, row.max_unicity, row.max_linkage) == (3, 0.025, 0.2, 0.05)
    assert Offer.objects.filter(pk=open_record_offer.pk, is_active=True).exists()

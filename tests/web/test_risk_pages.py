"""Treatments on the center's offer form, and the risk report on the offer and review pages."""

import pytest

from catalog import services
from catalog.models import Offer
from marketplace.actors import SYSTEM

pytestmark = pytest.mark.django_db

OFFER = {
    "name": "처리된 결제 내역",
    "kind": "records",
    "columns": ["시군코드", "업종", "카드번호", "금액", "승인일시"],
    "region_field": "시군코드",
    "date_field": "승인일시",
    "k": 5,
    "date_granularity": "month",
    "approval": "center",
    "price_krw": 0,
    "duration_days": 90,
    "download_quota": 3,
    "is_active": "",
    "terms": "목적 외 이용 금지",
}


def test_the_offer_form_saves_treatments_and_shows_the_risk_table(as_user, curator, live_dataset):
    dataset = live_dataset
    client = as_user(curator, "ko")
    page = client.get(f"/center/datasets/{dataset.slug}/offers/new/").content.decode()
    assert "시각 단위" in page and 'name="suppress_k"' in page and 'style="' not in page
    data = {**OFFER, "time_unit": "day", "amount_fields": ["금액"], "amount_round": 1000, "suppress_k": 2}
    assert client.post(f"/center/datasets/{dataset.slug}/offers/new/", data).status_code == 302
    offer = Offer.objects.get(name=OFFER["name"])
    assert offer.treatments["time_unit"] == "day" and offer.treatments["amount_round"] == 1000
    assert offer.treatments["suppress_k"] == 2 and offer.risk_report is not None

    page = client.get(f"/center/offers/{offer.pk}/").content.decode()
    assert "재식별 위험" in page and "k-익명성" in page
    assert 'value="day" selected' in page or 'value="day" selected>' in page.replace("\n", "")
    english = as_user(curator, "en").get(f"/center/offers/{offer.pk}/").content.decode()
    assert "Re-identification risk" in english and "Coarsen times to" in english


def test_a_treatment_error_is_shown_on_its_field(as_user, curator, live_dataset):
    dataset = live_dataset
    client = as_user(curator, "en")
    data = {**OFFER, "amount_round": 1000}  # no amount column named
    answer = client.post(f"/center/datasets/{dataset.slug}/offers/new/", data)
    page = answer.content.decode()
    assert answer.status_code == 200 and "id_amount_round_error" in page
    assert "Name the amount columns to round or top-code." in page
    assert not Offer.objects.filter(name=OFFER["name"]).exists()


def test_a_failing_offer_shows_its_violations(as_user, curator, live_dataset):
    dataset = live_dataset
    offer = Offer.objects.get(dataset=dataset)
    offer.risk_report = {
        "rows": 10,
        "quasi_identifiers": ["승인일시"],
        "k_anonymity": 1,
        "sample_uniqueness": 1.0,
        "below_k_share": 1.0,
        "classes": 10,
    }
    offer.save(update_fields=["risk_report"])
    services.risk_threshold_update(actor=SYSTEM, min_k=5, max_sample_uniqueness=0.01)
    page = as_user(curator, "ko").get(f"/center/offers/{offer.pk}/").content.decode()
    assert "재식별 위험" in page
    assert "badge-danger" in page
    english = as_user(curator, "en").get(f"/center/offers/{offer.pk}/").content.decode()
    assert "k-anonymity is 1, below the minimum of 5." in english

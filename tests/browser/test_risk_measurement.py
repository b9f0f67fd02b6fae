"""A center's offer over a large version in a real browser: the offer page shows the measurement
running with its progress bar, and shows the report by itself when the worker is done (the
page polls and reloads; no click)."""

import pytest

from catalog import services
from catalog.models import Offer
from catalog.services import risk_measurement
from marketplace.actors import SYSTEM
from tests import factories
from tests.catalog.test_risk_measured_later import OFFER  # the same record offer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_offer_page_follows_the_measurement_to_its_report(
    new_page, log_in, center, settings, monkeypatch
):
    settings.RISK_INLINE_MAX_ROWS = 100
    queued = []
    # The broker's side is held back so the page can be seen while the measurement is owed; the
    # worker's own run is tests/catalog/test_risk_measured_later.py's real-worker test.
    monkeypatch.setattr("marketplace.jobs.enqueue", lambda name, *args: queued.append((name, args)))
    curator = factories.member(center, "curator", email="curator@risk.kr")
    dataset = factories.published_dataset(center, with_data=True, row_count=300)
    offer = services.offer_create(actor=curator, dataset=dataset, **OFFER)
    assert offer.risk_status == "measuring" and [name for name, _ in queued] == [
        "catalog.tasks.measure_offer_risk"
    ]

    page = new_page()
    log_in(page, curator.email, factories.PASSWORD)
    page.goto(f"/center/offers/{offer.pk}/")
    notice = page.locator("#risk [data-poll]")
    assert "워커가 측정하고 있습니다" in notice.inner_text()
    assert page.locator("#risk progress").get_attribute("value") == "0"

    (offer_id, token) = queued[0][1]
    assert risk_measurement.offer_risk_measure(actor=SYSTEM, offer_id=offer_id, token=token) == "opened"
    page.locator("#risk table.risk-table").wait_for(timeout=15_000)  # reloaded by the page itself
    assert "k-익명성" in page.locator("#risk").inner_text()
    assert page.locator("#risk [data-poll]").count() == 0
    assert Offer.objects.get(pk=offer.pk).is_active

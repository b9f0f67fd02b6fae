"""Finding: an anonymous visitor's dataset-page preview showed real record rows (timestamps to
the second, amounts, pseudonyms), and `?offer=` of a restricted record offer (1,000,000 KRW,
two-step approval) answered anyone with that offer's rows. Previews now follow the offer's
access rules as well as its privacy rules, default to aggregates for visitors and are throttled."""

import re

import pytest

from catalog.models import Offer
from tests import factories

pytestmark = pytest.mark.django_db
RECORDS = ["approved_at", "sigungu_code", "industry", "card_id", "amount", "age_band", "sex"]
PSEUDONYM = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def dataset(world):
    return factories.published_dataset(world.center, with_data=True, row_count=300)


@pytest.fixture
def restricted(dataset):
    return factories.OfferFactory(
        dataset=dataset,
        fields=RECORDS,
        quasi_identifiers_allowed=True,
        approval=Offer.Approval.CENTER_OPERATOR,
        price_krw=1_000_000,
        buyer_categories=["research"],
    )


def _preview(client, dataset, offer=None):
    query = f"?offer={offer.pk}" if offer else ""
    return client.get(f"/api/v1/datasets/{dataset.slug}/preview/{query}")


def test_an_anonymous_visitor_cannot_preview_a_restricted_record_offer(api, dataset, restricted):
    response = _preview(api, dataset, restricted)
    assert response.status_code == 404
    assert "not visible" in response.json()["detail"]
    assert not PSEUDONYM.search(response.content.decode())


def test_a_buyer_the_offer_does_not_accept_cannot_preview_it(world, login, dataset, restricted):
    # The buyer is an SME; the offer is open to research institutes only.
    assert _preview(login(world.buyer_analyst), dataset, restricted).status_code == 404


def test_a_buyer_who_could_request_the_offer_sees_its_preview(world, login, dataset, restricted):
    response = _preview(login(world.other_buyer), dataset, restricted)  # a research institute
    assert response.status_code == 200
    assert response.json()["offer"] == restricted.pk and response.json()["rows"]


def test_the_center_previews_every_offer(world, login, dataset, restricted):
    assert _preview(login(world.center_curator), dataset, restricted).status_code == 200


def test_the_default_preview_for_visitors_holds_no_record_rows(api, login, world, dataset, restricted):
    for client in (api, login(world.other_buyer)):
        body = _preview(client, dataset).json()
        assert body["rows"] == [] and body["offer"] is None
    aggregate = factories.OfferFactory(
        dataset=dataset,
        kind=Offer.Kind.AGGREGATE,
        fields=[],
        dimensions=["sigungu_name", "approved_at"],
        measures=[{"field": "amount", "agg": "sum"}],
        subject_field="card_id",
        k=3,
        approval=Offer.Approval.AUTOMATIC,
    )
    body = _preview(api, dataset).json()
    assert body["offer"] == aggregate.pk
    assert body["columns"] == ["sigungu_name", "approved_at", "records", "sum_amount"]
    assert not PSEUDONYM.search(str(body))


def test_the_dataset_page_shows_visitors_no_record_rows(client, dataset, restricted):
    page = client.get(f"/datasets/{dataset.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No column can be previewed" in page
    assert not PSEUDONYM.search(page)
    assert "2024-01-01" not in page  # no record timestamps


def test_previews_have_their_own_throttle(api, dataset, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # read at each request
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "preview": "2/min"},
    }
    codes = [_preview(api, dataset).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert api.get(f"/api/v1/datasets/{dataset.slug}/").status_code == 200  # other reads unaffected

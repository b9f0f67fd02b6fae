"""Open statistics are held by everyone, so the disclosure ledger's rule applies between them and
every aggregate table a buyer can hold (issue 19: "the cross-release protection of the
aggregate-privacy issue").

The attack: a buyer licenses a coarse table with a high k (시·군 × 업종 × month, k = 60), whose
small cells are suppressed; a finer open table of the same data with a lower k (… × 연령대,
k = 3) publishes those cells' parts, and summing them gives the suppressed cells back. Whichever
of the two comes second is refused, through the API, with a message on `dimensions`; tables with
the same dimensions and rules live side by side."""

from __future__ import annotations

import pytest

from catalog import privacy, selectors
from catalog.policy import OfferPolicy
from insights import crosscheck
from insights.models import Release
from marketplace.duckdb import connect
from tests.privacy.test_aggregate_attacks_api import COLUMNS, MONTHLY, card_dataset, offer_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards(world, tmp_path):
    return card_dataset(world, tmp_path)


MONTH = {"name": "month", "field": "approved_at", "transform": "month"}
COARSE_OFFER = {
    "name": "시·군 × 업종 월별 (k=60)",
    "dimensions": ["sigungu_code", "industry", "approved_at"],
    "k": 60,
}


def release_body(cards, slug: str, *, dimensions, k: int) -> dict:
    return {
        "dataset": cards.slug,
        "slug": slug,
        "title": "결제 통계",
        "dimensions": dimensions,
        "measures": [{"field": "amount", "agg": "sum"}],
        "subject_field": "card_id",
        "dominance_field": "merchant_id",
        "date_field": "approved_at",
        "k": k,
    }


FINE = [{"field": "sigungu_code"}, {"field": "industry"}, {"field": "age_band"}, MONTH]
SAME_AS_OFFER = [{"field": "sigungu_code"}, {"field": "industry"}, MONTH]


def test_the_attack_is_real_the_fine_open_table_rebuilds_cells_the_offer_suppresses(world, cards):
    """Without the check, the finer open table gives back suppressed cells of the coarse offer."""
    version = cards.current_version
    schema = [privacy.Column(name, type_, sensitivity) for name, type_, sensitivity in COLUMNS]
    coarse = OfferPolicy.from_values(
        {**COARSE_OFFER, "kind": "aggregate", "measures": [{"field": "amount", "agg": "sum"}]}
        | {"subject_field": "card_id", "dominance_field": "merchant_id", "date_field": "approved_at"}
    ).normalized()
    fine, _derived = crosscheck._as_policy(
        {
            "dimensions": FINE,
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card_id",
            "dominance_field": "merchant_id",
            "k": 3,
        },
        {c.name: c for c in schema},
    )
    con = connect()
    try:
        rebuilt = privacy.linked_disclosures(
            con,
            parquet=selectors.version_files(version),
            schema=schema,
            noise_seed=version.parquet_sha256,
            new=(fine, {}),
            held=(coarse, {}),
        )
    finally:
        con.close()
    assert rebuilt > 0


def test_a_finer_open_table_beside_a_coarse_offer_is_refused(
    world, cards, login, django_capture_on_commit_callbacks
):
    offer_id(login, world, cards, **COARSE_OFFER)
    client = login(world.center_curator)
    refused = client.post(
        "/api/v1/insights/", release_body(cards, "fine-k3", dimensions=FINE, k=3), format="json"
    )
    assert refused.status_code == 400, refused.content
    messages = " ".join(refused.json()["errors"]["dimensions"])
    assert COARSE_OFFER["name"] in messages and "suppress" in messages
    assert not Release.objects.exists()  # nothing published, nothing queued
    # The same table as the offer's, under the same rules, is fine beside it.
    with django_capture_on_commit_callbacks(execute=True):
        same = client.post(
            "/api/v1/insights/",
            release_body(cards, "same-k60", dimensions=SAME_AS_OFFER, k=60),
            format="json",
        )
    assert same.status_code == 201, same.content


def test_a_coarse_offer_is_not_opened_beside_a_finer_open_table(
    world, cards, login, django_capture_on_commit_callbacks
):
    client = login(world.center_curator)
    with django_capture_on_commit_callbacks(execute=True):
        published = client.post(
            "/api/v1/insights/", release_body(cards, "fine-k3", dimensions=FINE, k=3), format="json"
        )
    assert published.status_code == 201, published.content
    refused = client.post(
        f"/api/v1/datasets/{cards.slug}/offers/",
        {**MONTHLY, **COARSE_OFFER},
        format="json",
    )
    assert refused.status_code == 400, refused.content
    assert "결제 통계" in " ".join(refused.json()["errors"]["dimensions"])
    # Saved closed, it is kept as a draft; opening it later is refused the same way.
    closed = offer_id(login, world, cards, **COARSE_OFFER, is_active=False)
    opened = client.patch(f"/api/v1/offers/{closed}/", {"is_active": True}, format="json")
    assert opened.status_code == 400, opened.content
    assert "dimensions" in opened.json()["errors"]
    assert client.get(f"/api/v1/offers/{closed}/").json()["is_active"] is False

"""GET /api/v1/insights/ and /api/v1/insights/{slug}/, publishing and retiring through the API."""

import pytest

from insights import services
from tests import factories
from tests.insights.conftest import publish

pytestmark = pytest.mark.django_db


def test_list_is_paginated_with_the_documented_fields(api, release):
    body = api.get("/api/v1/insights/").json()
    assert body["count"] == 1 and body["next"] is None
    item = body["results"][0]
    assert item["slug"] == "spend-region-month"
    assert item["title"] == "시·군 × 월 결제"
    assert item["dimensions"] == ["sigungu_code", "month"]
    assert item["measures"] == ["records", "sum_amount"]
    assert item["period"] == "2024-01-01/2024-06-28"
    assert item["method"] == "방법"
    assert item["version"] == 1


def test_detail_rows_and_filters_by_dimension(api, release):
    body = api.get("/api/v1/insights/spend-region-month/").json()
    assert {"slug", "title", "dimensions", "measures", "rows"} <= set(body)
    assert len(body["rows"]) == 18
    assert all(
        set(row) == {"sigungu_code", "month", "records", "sum_amount", "suppressed"} for row in body["rows"]
    )
    assert all(row["sum_amount"] is None for row in body["rows"] if row["suppressed"])
    one = api.get("/api/v1/insights/spend-region-month/?sigungu_code=41110&month=2024-03").json()["rows"]
    assert [(r["sigungu_code"], r["month"]) for r in one] == [("41110", "2024-03")]
    two = api.get("/api/v1/insights/spend-region-month/?sigungu_code=41110&sigungu_code=41130").json()["rows"]
    assert {r["sigungu_code"] for r in two} == {"41110", "41130"} and len(two) == 12
    assert api.get("/api/v1/insights/spend-region-month/?sigungu_code=99999").json()["rows"] == []


def test_integer_dimensions_filter_by_number(api, cards, django_capture_on_commit_callbacks):
    weekday = {"name": "weekday", "field": "approved_at", "transform": "weekday"}
    with django_capture_on_commit_callbacks(execute=True):
        publish(cards, slug="weekdays", feature="", dimensions=[weekday], k=3)
    rows = api.get("/api/v1/insights/weekdays/?weekday=6").json()["rows"]
    assert [r["weekday"] for r in rows] == [6]
    assert api.get("/api/v1/insights/weekdays/?weekday=six").json()["rows"] == []


def test_unknown_and_retired_releases(api, release, center, login):
    assert api.get("/api/v1/insights/nothing-here/").status_code == 404
    services.release_retire(actor=factories.member(center, "curator"), release=release)
    assert api.get("/api/v1/insights/spend-region-month/").status_code == 404
    assert api.get("/api/v1/insights/").json()["count"] == 0
    member = factories.member(center, "reviewer")
    assert login(member).get("/api/v1/insights/spend-region-month/").status_code == 200


def test_a_curator_publishes_and_retires_through_the_api(
    login, curator, cards, django_capture_on_commit_callbacks
):
    client = login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/insights/",
            {
                "dataset": cards.slug,
                "slug": "by-industry",
                "title": "업종별 결제",
                "dimensions": [{"field": "industry"}],
                "measures": [{"field": "amount", "agg": "sum"}],
                "subject_field": "card_id",
                "dominance_field": "merchant_id",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert response.json()["dimensions"] == ["industry"]
    rows = client.get("/api/v1/insights/by-industry/").json()["rows"]
    assert len(rows) == 3
    bad = client.post(
        "/api/v1/insights/",
        {
            "dataset": cards.slug,
            "slug": "ids",
            "title": "x",
            "dimensions": [{"field": "card_id"}],
            "subject_field": "card_id",
        },
        format="json",
    )
    assert bad.status_code == 400 and "dimension" in bad.json()["detail"].lower() + str(bad.json()["errors"])
    assert client.post("/api/v1/insights/by-industry/retire/").json()["status"] == "retired"


def test_releases_appear_in_the_dcat_feed_and_it_still_conforms(client, release):
    """The statistics releases are DCAT-AP datasets typed like the catalog's own entries: the
    harvested feed, releases included, has no violation of the official shapes."""
    from tests.catalog.test_feeds import SHAPES_DIR, assert_conforms, harvest

    feed = client.get("/catalog.jsonld").json()
    catalog = next(n for n in feed["@graph"] if n.get("@type") == "dcat:Catalog")
    node = next(
        d for d in catalog["dcat:dataset"] if d.get("dct:identifier") == "insights/spend-region-month"
    )
    media = {d["dcat:mediaType"]["@id"].rsplit("media-types/", 1)[1] for d in node["dcat:distribution"]}
    assert media == {"application/json", "text/csv"}
    if not (SHAPES_DIR / "shapes.ttl").exists():
        pytest.skip(f"DCAT-AP 3.0.1 shapes not found in {SHAPES_DIR}")
    from rdflib import Graph

    shapes = Graph()
    shapes.parse(SHAPES_DIR / "shapes.ttl", format="turtle")
    shapes.parse(SHAPES_DIR / "range.ttl", format="turtle")
    assert_conforms(harvest(client), shapes)


def test_a_cached_answer_is_the_fresh_answer_byte_for_byte(api, release):
    for url in ["/api/v1/insights/", "/api/v1/insights/spend-region-month/?sigungu_code=41110"]:
        fresh, cached = api.get(url), api.get(url)
        assert fresh.status_code == cached.status_code == 200
        assert cached.content == fresh.content and cached["Content-Type"] == "application/json"
        assert dict(cached.headers) == dict(fresh.headers)
        assert api.get(url, HTTP_ACCEPT="text/html")["Content-Type"].startswith("text/html")

"""Official open statistics (`manage.py import_open_statistics`): the real CP949 table of
local-currency issuance and use per 시·군 and month (data.gg.go.kr layout) becomes an insight
release as published — figures unchanged, source and attribution shown — and re-importing
replaces its rows as a new edition; a file that is not the table changes nothing."""

import csv
import io
from pathlib import Path

import duckdb
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from catalog.models import Dataset
from insights import services
from insights.models import Release
from marketplace import errors
from tests import factories

pytestmark = pytest.mark.django_db

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-kr"
ISSUANCE = REAL / "gg_local_currency_issuance_usage_monthly_cp949.csv"
SPEND = REAL / "gg_local_currency_spend_sigungu_gender_industry_2019.csv"
MARKETS = REAL / "national_traditional_market_standard_cp949.csv"
needs_files = pytest.mark.skipif(
    not ISSUANCE.exists(), reason="the shared data files are not beside the project"
)


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_open_statistics", *map(str, args), stdout=out)
    return out.getvalue()


def expected_use(name: str, month: str) -> int:
    """The published card use (thousand won) of `name` in `month`, read straight from the file."""
    with open(ISSUANCE, encoding="cp949", newline="") as f:
        for row in csv.DictReader(f):
            if row["시군명"] == name and row["기준년월"] == month:
                return int(row["월별카드사용액(천원)"])
    raise AssertionError(f"{name} {month} is not in the file")


@needs_files
def test_the_official_table_is_released_as_published(center):
    printed = run(ISSUANCE, "--layout", "issuance", "--center", center.business_number)
    assert "806 rows" in printed  # 31 시·군 × 26 months, the blank last line not counted
    release = Release.objects.get(slug="official-currency-use")
    assert release.source == "official" and "data.gg.go.kr" in release.attribution
    edition = release.current
    assert (edition.engine, edition.cell_count, edition.suppressed_count, edition.noisy_count) == (
        "official",
        806,
        0,
        0,
    )
    body = Client().get("/api/v1/insights/official-currency-use/?sigungu_code=41820&month=2021-02").json()
    assert body["source"] == "official" and body["attribution"] == release.attribution
    (row,) = body["rows"]
    assert row["sum_월별카드사용액(천원)"] == expected_use("가평군", "21-Feb") and row["suppressed"] is False
    # Shown on the pages, with its source, in Korean and English.
    page = Client(HTTP_ACCEPT_LANGUAGE="ko").get("/insights/regions/41820/").content.decode()
    assert "가평군 지역화폐 카드 사용액 (공표 통계)" in page and "data.gg.go.kr" in page
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get("/insights/").content.decode()
    assert "Local-currency card spending in Gyeonggi, official statistics" in english


@needs_files
def test_importing_again_replaces_the_rows_as_a_new_edition_and_a_wrong_file_changes_nothing(center):
    run(ISSUANCE, "--layout", "issuance", "--center", center.business_number)
    run(ISSUANCE, "--layout", "issuance", "--center", center.business_number)
    release = Release.objects.get(slug="official-currency-use")
    assert release.current.number == 2 and release.current.cell_count == 806
    assert Dataset.objects.filter(pk=release.dataset_id).count() == 1
    published = release.dataset.current_version_id
    with pytest.raises(CommandError, match="시군명"):
        run(MARKETS, "--layout", "issuance", "--center", center.business_number)
    release.refresh_from_db()
    release.dataset.refresh_from_db()
    assert release.current.number == 2 and release.dataset.current_version_id == published


@needs_files
def test_districts_count_for_their_city_and_unknown_places_are_refused(center, tmp_path):
    run(SPEND, "--layout", "spend", "--center", center.business_number)
    rows = Client().get("/api/v1/insights/official-spend-region-industry/?sigungu_code=41110").json()["rows"]
    total = sum(r["sum_총결제금액"] for r in rows)
    (expected,) = duckdb.execute(
        "SELECT sum(총결제금액) FROM read_csv(?) WHERE 시군구명 LIKE '수원시 %'", [str(SPEND)]
    ).fetchone()
    assert total == expected  # 장안·권선·팔달·영통구 added up to 수원시
    seoul = tmp_path / "spend.csv"
    seoul.write_text(
        "년월,시도명,시군구명,성별코드,가맹점업종명,총결제금액\n2019-10-01,서울특별시,종로구,F,한식,100\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="종로구"):
        run(seoul, "--layout", "spend", "--center", center.business_number)


def test_only_the_platform_or_an_operator_loads_official_figures(center, operator):
    dataset = factories.published_dataset(center, with_data=True, row_count=60)
    curator = factories.member(center, "curator")
    official = {
        "dataset": dataset,
        "slug": "official-by-a-center",
        "title": "공표 통계",
        "dimensions": [{"name": "sigungu_code", "field": "sigungu_code"}],
        "measures": [{"field": "amount", "agg": "sum"}],
        "subject_field": "",
        "source": "official",
    }
    with pytest.raises(errors.PermissionDenied):
        services.release_publish(actor=curator, **official)
    assert not Release.objects.exists()


def test_an_unknown_center_or_a_missing_file_is_refused(db, tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("시군명,기준년월\n가평군,2021-02-01\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no center"):
        run(table, "--layout", "issuance", "--center", "000-00-00000")
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing.csv", "--layout", "issuance", "--center", "000-00-00000")


@needs_files
def test_official_releases_join_the_dcat_feed_and_it_still_conforms(client, center):
    """The official release is harvested like the others, and the feed keeps conforming."""
    from tests.catalog.test_feeds import SHAPES_DIR, assert_conforms, harvest

    run(ISSUANCE, "--layout", "issuance", "--center", center.business_number)
    feed = client.get("/catalog.jsonld").json()
    catalog = next(n for n in feed["@graph"] if n.get("@type") == "dcat:Catalog")
    assert any(d.get("dct:identifier") == "insights/official-currency-use" for d in catalog["dcat:dataset"])
    if not (SHAPES_DIR / "shapes.ttl").exists():
        pytest.skip(f"DCAT-AP 3.0.1 shapes not found in {SHAPES_DIR}")
    from rdflib import Graph

    shapes = Graph()
    shapes.parse(SHAPES_DIR / "shapes.ttl", format="turtle")
    shapes.parse(SHAPES_DIR / "range.ttl", format="turtle")
    assert_conforms(harvest(client), shapes)

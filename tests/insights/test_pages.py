"""The insight pages: map shapes with their 시·군 codes and names, the tile grid said so on
the page, imported boundaries with their attribution, plain-language sentences in Korean and
English, data tables, formula-safe CSV and SVG downloads, and permalinks holding the filters."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from catalog.vocabularies import gyeonggi_regions
from insights.models import RegionShape
from tests.insights.conftest import INDUSTRY, MONTH, REGION, publish

pytestmark = pytest.mark.django_db

GEOJSON = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "geo" / "gyeonggi_sigungu_2018.geojson"
)


def page(path: str, language: str = "ko") -> str:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def releases(cards, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        publish(cards, slug="spend-region", feature="spend_region", dimensions=[REGION], k=3)
        publish(
            cards,
            slug="spend-region-industry",
            feature="spend_region_industry",
            dimensions=[REGION, INDUSTRY],
            k=3,
        )
        publish(cards, slug="spend-industry", feature="spend_industry", dimensions=[INDUSTRY], k=3)
        publish(
            cards,
            slug="spend-rim",
            feature="spend_region_industry_month",
            dimensions=[REGION, INDUSTRY, MONTH],
            k=3,
        )
        publish(cards, slug="spend-im", feature="spend_industry_month", dimensions=[INDUSTRY, MONTH], k=3)


def test_every_map_shape_has_its_code_and_name_and_the_tile_grid_says_so(releases):
    html = page("/insights/", "ko")
    codes = re.findall(r'<path class="region" data-region="(\d{5})"[^>]*>\s*<title>([^<:]+):', html)
    assert sorted(c for c, _n in codes) == sorted(r.code for r in gyeonggi_regions())
    assert dict(codes)["41110"] == "수원시"
    assert "타일 지도" in html
    assert "데이터 표" in html and "<table" in html
    english = page("/insights/", "en")
    assert "tile grid" in english and "Suwon-si" in english


@pytest.mark.skipif(not GEOJSON.exists(), reason="the shared boundary file is not beside the project")
def test_imported_boundaries_are_drawn_with_their_attribution(releases):
    out = io.StringIO()
    call_command("import_boundaries", str(GEOJSON), stdout=out)
    assert "31" in out.getvalue()
    assert RegionShape.objects.count() == 31
    assert set(RegionShape.objects.get(code="41110").neighbours) == {"41270", "41430", "41460", "41590"}
    html = page("/insights/regions/41110/")
    assert "통계지리정보서비스(SGIS)" in html and "타일 지도" not in html
    assert len(re.findall(r'data-region="\d{5}"', html)) == 31


def test_import_refuses_what_is_not_gyeonggi(tmp_path):
    path = tmp_path / "x.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(Exception, match="Gyeonggi"):
        call_command("import_boundaries", str(path))


def test_compare_page_says_what_the_charts_show_in_korean_and_english(releases):
    ko = page("/insights/compare/?region=41110&industry=카페", "ko")
    assert "수원시 카페의 평균 결제액은" in ko
    assert "작년 같은 달이 없습니다" in ko  # six months of data: no year-earlier month
    assert 'href="/insights/compare/?industry=%EC%B9%B4%ED%8E%98&amp;region=41110#compare-trend"' in ko
    en = page("/insights/compare/?region=41110&industry=카페", "en")
    assert "An average 카페 payment in Suwon-si was" in en


def test_compare_page_without_a_valid_choice_asks_for_one(releases):
    html = page("/insights/compare/?region=41110&industry=없는업종", "en")
    assert "Choose both a city or county and an industry" in html
    assert 'id="compare-results"' not in html


def test_chart_csv_is_formula_safe_and_the_svg_downloads(releases):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(
        "/insights/charts/region-industries/?region=41110&format=csv"
    )
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["Industry", "Spending (won)"]
    industries = {row[0] for row in rows[1:]}
    assert '\'=HYPERLINK("x")' in industries and '=HYPERLINK("x")' not in industries
    svg = Client().get("/insights/charts/gg-map/?format=svg")
    assert svg["Content-Type"].startswith("image/svg+xml") and b"data-region=" in svg.content
    assert Client().get("/insights/charts/region-trend/?format=csv").status_code == 404  # needs a region


def test_release_csv_is_formula_safe_and_filtered(releases):
    response = Client().get("/insights/releases/spend-region-industry.csv?sigungu_code=41110")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["sigungu_code", "industry", "records", "sum_amount", "suppressed"]
    assert {r[0] for r in rows[1:]} == {"41110"}
    assert any(r[1].startswith("'=") for r in rows[1:])


def test_region_page_lists_neighbours_and_an_unknown_code_is_404(releases):
    html = page("/insights/regions/41110/", "ko")
    for name in ("안산시", "의왕시", "용인시", "화성시"):
        assert name in html
    assert Client().get("/insights/regions/11110/").status_code == 404


def test_visitors_share_a_cached_insight_page_with_their_own_csrf_token(
    releases, django_capture_on_commit_callbacks
):
    """A visitor's insight page comes whole from the cache (rendered once per language and
    filters), each visitor with a CSRF token of their own; a retired release leaves it at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.views import CSRF_SLOT
    from insights import services
    from insights.models import Release
    from marketplace.actors import SYSTEM

    path = "/insights/regions/41110/"
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_html = first.get(path).content.decode()
    with CaptureQueriesContext(connection) as queries:
        second_html = second.get(path).content.decode()
    assert len(queries) == 0  # the whole page came from the cache
    assert CSRF_SLOT not in first_html + second_html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second_html).group(1)
    assert token not in first_html
    switched = second.post("/i18n/setlang/", {"language": "en", "next": path, "csrfmiddlewaretoken": token})
    assert switched.status_code == 302  # the CSRF check passed with this visitor's own token
    assert (
        'href="/insights/releases/spend-region-industry.csv"' in first_html
        or "spend-region-industry" in first_html
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.release_retire(actor=SYSTEM, release=Release.objects.get(slug="spend-region-industry"))
    assert "spend-region-industry" not in Client().get(path).content.decode()


def test_a_cached_korean_page_keeps_its_particles_resolved(releases, monkeypatch):
    """Korean particles are fitted once, when the visitors' page is made; later visitors get the
    fitted page from the cache without the work being done again."""
    from marketplace import korean

    calls = []
    real = korean.with_particles
    monkeypatch.setattr(korean, "with_particles", lambda text: calls.append(text) or real(text))
    path = "/insights/"
    first = Client(HTTP_ACCEPT_LANGUAGE="ko").get(path).content.decode()
    assert any(real(text) != text for text in calls)  # the page had particles, fitted when made
    calls.clear()
    second = Client(HTTP_ACCEPT_LANGUAGE="ko").get(path).content.decode()
    assert calls == []  # not again for the next visitor
    both_forms = re.compile(
        r"을\(를\)|를\(을\)|이\(가\)|가\(이\)|은\(는\)|는\(은\)|과\(와\)|와\(과\)|\(으\)로"
    )
    unfitted = [m.group(0) for m in both_forms.finditer(first + second)]
    assert unfitted == [] and real(first) == first
    assert re.sub(r'value="[^"]+"', "", first) == re.sub(r'value="[^"]+"', "", second)

"""Insight journeys in a real browser: a merchant compares their business with their area, and
a visitor reads a 시·군 page on a phone. Screenshots go to var/screenshots/ (insights-*)."""

import pytest

from insights.models import Release
from tests import factories
from tests.insights.conftest import INDUSTRY, MONTH, REGION, publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def open_statistics(db):
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")
    cards = factories.published_dataset(center, with_data=True, row_count=900)
    for slug, feature, dims in [
        ("spend-region", "spend_region", [REGION]),
        ("spend-month", "spend_month", [MONTH]),
        ("spend-industry", "spend_industry", [INDUSTRY]),
        ("spend-region-month", "spend_region_month", [REGION, MONTH]),
        ("spend-region-industry", "spend_region_industry", [REGION, INDUSTRY]),
        ("spend-region-industry-month", "spend_region_industry_month", [REGION, INDUSTRY, MONTH]),
        ("spend-industry-month", "spend_industry_month", [INDUSTRY, MONTH]),
    ]:
        publish(cards, slug=slug, feature=feature, dimensions=dims, k=3)
    assert Release.objects.filter(current__isnull=False).count() == 7  # built on commit (eager)
    buyer = factories.OrganizationFactory(kind="buyer", name="골목카페", buyer_category="sme")
    return factories.member(buyer, "manager", email="owner@cafe.kr", name="카페 사장")


def test_merchant_compares_their_business(new_page, shot, log_in, open_statistics):
    page = new_page()
    log_in(page, "owner@cafe.kr", factories.PASSWORD)
    page.goto("/insights/")
    assert page.locator('svg path[data-region="41110"] title').first.text_content().startswith("수원시")
    shot(page, "insights", "overview")
    page.click('a[href="/insights/compare/"] >> nth=0')
    page.select_option("#id_region", "41110")
    page.select_option("#id_industry", "카페")
    page.click("#compare-submit")
    page.wait_for_selector("#compare-trend")
    assert "region=41110" in page.url and "industry=" in page.url
    assert page.locator("#compare-trend .sentences p").count() >= 1
    assert "평균 결제액" in page.locator("#compare-ticket .sentences").text_content()
    shot(page, "insights", "compare")
    permalink = page.locator("#compare-trend a.permalink").get_attribute("href")
    assert "region=41110" in permalink and permalink.endswith("#compare-trend")
    with page.expect_download() as download:
        page.click("#compare-trend a[href*='format=csv']")
    assert download.value.suggested_filename.endswith(".csv")
    page.click("#compare-ticket summary")
    assert page.locator("#compare-ticket table").is_visible()


def test_visitor_reads_a_city_page_on_a_phone(new_page, shot, open_statistics):
    page = new_page(width=390, height=844)
    page.goto("/insights/")
    page.click('a[data-region-link="41110"]')
    page.wait_for_url("**/insights/regions/41110/")
    assert page.locator("h1").text_content().startswith("수원시")
    assert page.locator("svg [data-region]").count() == 31
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    shot(page, "insights", "region-phone")
    page.click("#region-trend summary")
    assert page.locator("#region-trend table tbody tr").count() == 6
    shot(page, "insights", "region-phone-table")

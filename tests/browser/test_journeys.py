"""The issue's journeys through a real browser: a center publishing data (with a real Celery
worker ingesting the upload), a buyer finding and requesting it, an operator's work, the
language switch and a phone. Screenshots of the key pages go to var/screenshots/.

Elements are found by ids, names and links, not by their (translated) text."""

import csv
import io
import re
import time
import zipfile

import pytest

from catalog import services as catalog
from tests import factories
from tests.catalog.conftest import CARD_CSV, upload
from transactions import services as tx
from transactions.models import AccessRequest, Invoice, License

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = factories.PASSWORD


@pytest.fixture
def people(db):
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")
    buyer = factories.OrganizationFactory(kind="buyer", name="골목카페", buyer_category="sme")
    operators = factories.OrganizationFactory(kind="operator", name="장터 운영팀", buyer_category="")
    return {
        "center": center,
        "buyer": buyer,
        "curator": factories.member(
            center, "curator", "reviewer", email="curator@center.kr", name="김큐레이터"
        ),
        "analyst": factories.member(buyer, "analyst", email="analyst@cafe.kr", name="박분석"),
        "operator": factories.member(operators, "operator", email="operator@jangteo.kr", name="운영자"),
    }


def _published_dataset(people, **offer):
    """A dataset ingested from a CP949 CSV (eagerly, in this process) and published with an offer."""
    curator = people["curator"]
    dataset = catalog.dataset_create(
        actor=curator,
        center=people["center"],
        title="경기지역화폐 결제 내역",
        title_en="Gyeonggi local currency payments",
        summary="시·군별 지역화폐 카드 결제",
        theme="local_currency",
        regions=["41110", "41130"],
        keywords=["지역화폐", "카드"],
    )
    version = upload(curator, dataset, CARD_CSV, encoding="cp949")
    # Ingested at once when tasks run eagerly; by the real worker when the test has one.
    deadline = time.monotonic() + 90
    version.refresh_from_db()
    while version.status in ("uploaded", "ingesting") and time.monotonic() < deadline:
        time.sleep(0.2)
        version.refresh_from_db()
    assert version.status == "ready", version.error
    catalog.version_publish(actor=curator, version=version)
    dataset.refresh_from_db()
    catalog.offer_create(
        actor=curator,
        dataset=dataset,
        terms="연구 및 상권 분석 목적 외 이용 금지",
        **{
            "name": "공개 결제 내역",
            "kind": "records",
            "fields": ["시군코드", "시군명", "업종", "카드번호", "금액", "승인일시"],
            "region_field": "시군코드",
            "date_field": "승인일시",
            "price_krw": 0,
            "approval": "automatic",
            **offer,
        },
    )
    return dataset


def test_center_journey(new_page, shot, log_in, people, celery_worker_process, tmp_path):
    page = new_page()
    log_in(page, "curator@center.kr", PASSWORD)
    page.goto("/center/")
    shot(page, "center", "datasets")
    page.click('a[href="/center/datasets/new/"]')
    page.fill("#id_title", "경기지역화폐 결제 내역")
    page.fill("#id_title_en", "Gyeonggi local currency payments")
    page.fill("#id_summary", "시·군별 지역화폐 카드 결제")
    page.select_option("#id_theme", "local_currency")
    page.fill("#id_keywords", "지역화폐, 카드")
    page.check('input[name="regions"][value="41110"]')
    page.check('input[name="regions"][value="41130"]')
    shot(page, "center", "new-dataset")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/center/datasets/[^/]+/$"))

    csv_path = tmp_path / "카드결제.csv"
    csv_path.write_bytes(CARD_CSV.encode("cp949"))
    page.set_input_files("#id_file", str(csv_path))
    page.click('form[enctype="multipart/form-data"] button[type=submit]')
    page.wait_for_url(re.compile(r"/center/versions/\d+/$"))
    shot(page, "center", "ingesting")
    # jangteo.js polls status.json and reloads the page when the worker has finished.
    page.wait_for_selector("#fields-form", timeout=90_000)
    shot(page, "center", "fields")

    age = page.locator("fieldset.field-row", has=page.locator("legend code", has_text="연령대"))
    age.locator("select").select_option("excluded")
    age.locator("input[type=text]").fill("연령대 (10세 단위)")
    page.click("#fields-form button[type=submit]")
    page.wait_for_load_state()
    assert (
        page.locator("fieldset.field-row", has=page.locator("legend code", has_text="연령대"))
        .locator("select")
        .input_value()
        == "excluded"
    )

    page.click("#publish-button")
    page.wait_for_url(re.compile(r"/center/datasets/[^/]+/$"))
    shot(page, "center", "published")

    page.click('a[href$="/offers/new/"]')
    page.fill("#id_name", "공개 결제 내역")
    page.check('input[name="kind"][value="records"]')
    for column in ("시군코드", "업종", "카드번호", "금액", "승인일시"):
        page.check(f'input[name="columns"][value="{column}"]')
    page.select_option("#id_region_field", "시군코드")
    page.select_option("#id_date_field", "승인일시")
    page.select_option("#id_approval", "center")
    page.fill("#id_price_krw", "0")
    page.fill("#id_terms", "연구 및 상권 분석 목적 외 이용 금지")
    shot(page, "center", "offer-form")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/center/datasets/[^/]+/$"))

    # A buyer asks; the center approves a narrower scope (without the card number).
    from catalog.models import Offer

    offer = Offer.objects.get(name="공개 결제 내역")
    request = tx.access_request_submit(
        actor=people["analyst"],
        offer=offer,
        scope={"fields": ["시군코드", "업종", "카드번호", "금액"], "regions": ["41110"]},
        purpose="수원시 카페 업종 매출 분석",
        purpose_category="commercial",
        accept_terms=True,
    )
    page.goto("/center/reviews/")
    shot(page, "center", "review-queue")
    page.click(f'a[href="/requests/{request.pk}/"] >> nth=0')
    page.uncheck('#approve-form input[name="columns"][value="카드번호"]')
    page.fill("#approve-form textarea[name=note]", "카드번호는 제외하고 승인합니다.")
    shot(page, "center", "review")
    page.click("#approve-button")
    page.wait_for_load_state()
    shot(page, "center", "approved")
    request.refresh_from_db()
    assert request.state == "licensed" and "카드번호" not in request.scope["fields"]


def test_buyer_journey(new_page, shot, log_in, people, celery_worker_process, tmp_path):
    """…through the license to its file: the real worker builds it while the page shows the
    progress, the buyer downloads the ZIP; then an operator traces that file back to the
    license it was delivered under."""
    dataset = _published_dataset(people)
    page = new_page()
    log_in(page, "analyst@cafe.kr", PASSWORD)
    page.goto("/")
    shot(page, "buyer", "home")
    page.fill("#home-q", "지역화폐")
    page.press("#home-q", "Enter")
    page.wait_for_url(re.compile(r"/datasets/\?q="))
    shot(page, "buyer", "search")
    page.click(f'.result-list a[href="/datasets/{dataset.slug}/"]')
    page.wait_for_url(f"**/datasets/{dataset.slug}/")
    assert page.locator("section[aria-labelledby=profiles] svg").count() > 0
    # The dataset has a record-level offer only: visitors see no record rows (issue 14).
    assert page.locator("section[aria-labelledby=preview]").count() == 1
    assert page.locator("section[aria-labelledby=preview] table").count() == 0
    shot(page, "buyer", "dataset")
    page.click('a[href*="/request/"]')
    page.check('input[name="regions"][value="41110"]')
    page.uncheck('input[name="columns"][value="시군명"]')
    page.select_option("#id_purpose_category", "commercial")
    page.fill("#id_purpose", "수원시 카페 업종의 월별 매출 흐름 분석")
    page.check("#id_accept_terms")
    shot(page, "buyer", "request-form")
    page.click("#request-form button[type=submit]")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    shot(page, "buyer", "request")
    request = AccessRequest.objects.get(organization=people["buyer"])
    assert request.state == "licensed"  # an automatic, free offer: approved at once
    assert request.scope["regions"] == ["41110"] and "시군명" not in request.scope["fields"]
    assert "카드번호" in request.scope["fields"]  # an identifier: delivered as a pseudonym
    license = request.license
    page.click(f'a[href="/licenses/{license.pk}/"]')
    page.wait_for_url(f"**/licenses/{license.pk}/")
    shot(page, "buyer", "license")

    # The license's first file is queued on issue; the worker builds it while jangteo.js polls
    # extracts.json, and the page reloads with a Download button once it is ready.
    (extract,) = license.extracts.all()
    row = f"#extract-{extract.pk}"
    if page.locator(f"{row} progress").count():
        shot(page, "buyer", "license-extract-progress")
    page.wait_for_selector(f'{row}[data-status="succeeded"] #download-{extract.pk}', timeout=90_000)
    shot(page, "buyer", "license-extracts")
    with page.expect_download() as download_info:
        page.click(f"#download-{extract.pk}")
    bundle = tmp_path / "bundle.zip"
    download_info.value.save_as(bundle)
    assert download_info.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(bundle) as z:
        assert {"data.csv", "manifest.json", "datapackage.json"} <= set(z.namelist())
        data = z.read("data.csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows and {r["시군코드"] for r in rows} == {"41110"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["카드번호"]) for r in rows)  # pseudonyms, not card numbers
    license.refresh_from_db()
    assert license.downloads_used == 1

    # Another format: queued from the form, built by the worker, shown with its progress.
    page.goto(f"/licenses/{license.pk}/")
    page.select_option("#id_format", "parquet")
    page.click("#extract-format-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/licenses/{license.pk}/#extracts$"))
    parquet = license.extracts.get(format="parquet")
    shot(page, "buyer", "license-other-format")
    page.wait_for_selector(f'#extract-{parquet.pk}[data-status="succeeded"]', timeout=90_000)
    shot(page, "buyer", "license-extracts-ready")
    page.goto("/notifications/")
    shot(page, "buyer", "notifications")

    # The file turns up elsewhere: an operator traces it among the dataset's licenses.
    other_buyer = factories.OrganizationFactory(kind="buyer", name="옆집 베이커리", buyer_category="sme")
    tx.access_request_submit(
        actor=factories.member(other_buyer, "analyst", email="analyst@bakery.kr"),
        offer=request.offer,
        scope={"fields": ["시군코드", "업종", "카드번호", "금액"]},
        purpose="베이커리 상권 분석",
        purpose_category="commercial",
        accept_terms=True,
    )
    leaked = tmp_path / "found-online.csv"
    leaked.write_bytes(data)
    operator = new_page()
    log_in(operator, "operator@jangteo.kr", PASSWORD)
    operator.goto("/operator/leaks/")
    operator.select_option("#id_dataset", dataset.slug)
    operator.set_input_files("#id_file", str(leaked))
    operator.click("#leak-form button[type=submit]")
    operator.wait_for_selector("#candidates-table")
    shot(operator, "operator", "leak-trace")
    first = operator.locator("#candidates-table tbody tr").first
    assert first.get_attribute("id") == f"candidate-{license.pk}"
    assert first.get_attribute("class") == "likely"
    assert operator.locator("#candidates-table tbody tr").count() == 2
    assert f'href="/licenses/{license.pk}/"' in first.inner_html()


def test_operator_journey(new_page, shot, log_in, people):
    pending = factories.OrganizationFactory(kind="buyer", name="새내기 상점", verification="pending")
    dataset = factories.published_dataset(people["center"], title="경기 카드 결제 (가명)", slug="card-pseudo")
    offer = factories.OfferFactory(dataset=dataset, price_krw=500_000, approval="center_operator")
    request = tx.access_request_submit(
        actor=people["analyst"],
        offer=offer,
        scope={"fields": ["sigungu_code", "amount"]},
        purpose="재방문율 연구",
        purpose_category="research",
        accept_terms=True,
    )
    tx.access_request_approve(actor=people["curator"], access_request=request)

    page = new_page()
    log_in(page, "operator@jangteo.kr", PASSWORD)
    page.goto("/operator/")
    shot(page, "operator", "home")
    page.goto("/operator/organizations/")
    shot(page, "operator", "verification")
    page.click(f'form[action="/operator/organizations/{pending.pk}/verify/"] button')
    page.wait_for_load_state()
    pending.refresh_from_db()
    assert pending.verification == "verified"

    page.goto("/operator/reviews/")
    shot(page, "operator", "review-queue")
    page.click(f'a[href="/requests/{request.pk}/"] >> nth=0')
    shot(page, "operator", "review")
    page.click("#approve-button")
    page.wait_for_load_state()
    request.refresh_from_db()
    assert request.state == "awaiting_payment"

    invoice = Invoice.objects.get(access_request=request)
    page.goto(f"/invoices/{invoice.pk}/")
    page.fill("#id_reference", "국민은행 입금 골목카페")
    shot(page, "operator", "invoice")
    page.click("#mark-paid-form button[type=submit]")
    page.wait_for_load_state()
    invoice.refresh_from_db()
    assert invoice.state == "paid"

    license = License.objects.get(access_request=request)
    page.goto(f"/licenses/{license.pk}/")
    page.fill("#id_revoke-reason", "목적 외 이용이 확인됨")
    page.click('form[action$="/revoke/"] button[type=submit]')
    page.wait_for_load_state()
    shot(page, "operator", "revoked")
    license.refresh_from_db()
    assert license.state == "revoked"
    page.goto("/audit/?verb=transactions.license")
    shot(page, "operator", "audit")


def test_language_switch(new_page, shot, people):
    page = new_page()
    page.goto("/datasets/")
    assert page.get_attribute("html", "lang") == "ko"
    shot(page, "language", "korean")
    page.select_option("#language-select", "en")  # jangteo.js submits the form on change
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.url.endswith("/datasets/")
    shot(page, "language", "english")
    page.select_option("#language-select", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")


def test_phone_viewport(new_page, shot, people):
    dataset = _published_dataset(people)
    page = new_page(width=390, height=844)
    for step, url in (("home", "/"), ("catalog", "/datasets/"), ("dataset", f"/datasets/{dataset.slug}/")):
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url} scrolls sideways by {overflow}px on a phone"
        shot(page, "phone", step)
    # The menu collapses behind a button that opens it.
    nav = page.locator("#main-nav")
    assert not nav.is_visible()
    page.click(".nav-toggle")
    assert nav.is_visible()
    shot(page, "phone", "menu")

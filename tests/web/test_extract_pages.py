"""The license page's files (list, live progress, download through a signed link, another
format) and the operators' leak-tracing page."""

import io
import zipfile

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tests.transactions.factories import submit
from transactions import services
from transactions.models import DownloadEvent, Extract, License

pytestmark = pytest.mark.django_db

RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]
SCOPE = {"fields": RECORDS, "regions": [], "date_from": None, "date_to": None}


@pytest.fixture
def offer(center):
    dataset = factories.published_dataset(
        center, with_data=True, row_count=120, slug="card-data", title="카드 결제 가명 데이터"
    )
    return factories.OfferFactory(dataset=dataset, fields=RECORDS, approval="automatic", download_quota=3)


def _license(actor, offer, capture) -> License:
    """A license issued at once (automatic, free), its first file built by the task (eager)."""
    with capture(execute=True):
        request = submit(actor, offer, scope=dict(SCOPE))
    return License.objects.get(access_request=request)


@pytest.fixture
def license(analyst, offer, django_capture_on_commit_callbacks):
    license = _license(analyst, offer, django_capture_on_commit_callbacks)
    (extract,) = license.extracts.all()
    assert extract.status == "succeeded", extract.error
    return license


@pytest.fixture
def manager(buyer):
    return factories.member(buyer, "manager", email="manager@cafe.kr")


def _zip(response) -> dict[str, bytes]:
    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return {name: z.read(name) for name in z.namelist()}


# --- the license page ------------------------------------------------------------------------


def test_license_page_lists_files_and_shows_buttons_only_to_the_licensee(
    web, as_user, analyst, manager, curator, reviewer, operator, stranger, license
):
    extract = license.extracts.get()
    url = f"/licenses/{license.pk}/"
    download_action = f'action="/licenses/{license.pk}/extracts/{extract.pk}/download/"'
    for user in (analyst, manager):
        html = as_user(user).get(url).content.decode()
        assert f'id="extract-{extract.pk}"' in html and 'data-status="succeeded"' in html
        assert download_action in html and 'id="extract-format-form"' in html
        assert '<option value="parquet">' in html
        assert 'data-poll="' not in html  # nothing is being built
    for user in (curator, reviewer, operator):
        response = as_user(user).get(url)
        html = response.content.decode()
        assert response.status_code == 200, user
        assert f'id="extract-{extract.pk}"' in html  # they see the list…
        assert download_action not in html and 'id="extract-format-form"' not in html  # …not the buttons
    assert as_user(stranger).get(url).status_code == 404
    assert web.get(url).status_code == 302


def test_progress_endpoint_per_role_and_while_building(
    web, as_user, analyst, curator, operator, stranger, license
):
    url = f"/licenses/{license.pk}/extracts.json"
    data = as_user(analyst).get(url).json()
    (item,) = data["items"]
    assert data["done"] is True and item["status"] == "succeeded" and item["progress"] == 100
    assert as_user(curator).get(url).status_code == 200
    assert as_user(operator).get(url).status_code == 200
    assert as_user(stranger).get(url).status_code == 404
    assert web.get(url).status_code == 302

    # A file being built: the page polls, and the endpoint reports it until it ends.
    client = as_user(analyst, language="en")
    client.post(f"/licenses/{license.pk}/extracts/", {"format": "jsonl"})
    queued = license.extracts.get(format="jsonl")
    Extract.objects.filter(pk=queued.pk).update(status="running", progress=42)
    html = client.get(f"/licenses/{license.pk}/").content.decode()
    assert f'data-poll="/licenses/{license.pk}/extracts.json"' in html
    assert f'data-poll-item="{queued.pk}"' in html and 'aria-live="polite"' in html
    assert 'value="42"' in html and "Building: 42%" in html  # the number in text, not only a bar
    data = client.get(url).json()
    assert data["done"] is False and data["label"] == "1 file is being built."
    running = next(i for i in data["items"] if i["id"] == queued.pk)
    assert (running["status"], running["progress"], running["done"]) == ("running", 42, False)


def test_download_redirects_to_a_valid_signed_link(as_user, analyst, license):
    extract = license.extracts.get()
    client = as_user(analyst)
    response = client.post(f"/licenses/{license.pk}/extracts/{extract.pk}/download/")
    assert response.status_code == 302
    prefix = "/api/v1/extracts/download/"
    assert response["Location"].startswith(prefix)
    token = response["Location"].removeprefix(prefix).rstrip("/")
    payload = signing.TimestampSigner(salt=services.extracts.SIGNING_SALT).unsign_object(token, max_age=600)
    assert payload == {"e": extract.pk, "u": analyst.pk}
    assert client.get(f"/licenses/{license.pk}/extracts/{extract.pk}/download/").status_code == 405

    download = client.get(response["Location"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    files = _zip(download)
    assert set(files) == {"data.csv", "manifest.json", "datapackage.json"}
    license.refresh_from_db()
    assert license.downloads_used == 1
    assert DownloadEvent.objects.get().user == analyst
    page = client.get(f"/licenses/{license.pk}/").content.decode()
    assert "2 / 3" in page  # downloads left


def test_download_is_refused_to_others_and_when_the_quota_is_used_up(
    web, as_user, analyst, curator, operator, stranger, license
):
    extract = license.extracts.get()
    url = f"/licenses/{license.pk}/extracts/{extract.pk}/download/"
    assert as_user(curator).post(url).status_code == 403  # sees the file, may not download it
    assert as_user(operator).post(url).status_code == 403
    assert as_user(stranger).post(url).status_code == 404
    assert web.post(url).status_code == 302 and "/accounts/login/" in web.post(url)["Location"]
    assert as_user(analyst).post(f"/licenses/{license.pk}/extracts/99999/download/").status_code == 404

    License.objects.filter(pk=license.pk).update(downloads_used=3)
    client = as_user(analyst, language="en")
    response = client.post(url, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[0] == (f"/licenses/{license.pk}/#extracts", 302)
    assert "The download quota of this license is used up." in html
    assert f'action="{url}"' not in html  # no button while it cannot work


def test_asking_for_another_format_queues_a_new_extract(as_user, analyst, license):
    client = as_user(analyst, language="en")
    response = client.post(f"/licenses/{license.pk}/extracts/", {"format": "parquet"}, follow=True)
    assert response.redirect_chain[-1] == (f"/licenses/{license.pk}/#extracts", 302)
    extract = license.extracts.get(format="parquet")
    assert extract.status == "queued" and extract.requested_by == analyst
    html = response.content.decode()
    assert "The Parquet file is queued; its progress shows below." in html
    assert f'id="extract-{extract.pk}"' in html and 'data-status="queued"' in html

    again = client.post(f"/licenses/{license.pk}/extracts/", {"format": "parquet"}, follow=True)
    assert license.extracts.filter(format="parquet").count() == 1
    assert "The Parquet file is already being built." in again.content.decode()
    ready = client.post(f"/licenses/{license.pk}/extracts/", {"format": "csv_bom"}, follow=True)
    assert "file is ready below." in ready.content.decode()


def test_format_errors_show_on_the_form(as_user, analyst, curator, operator, license):
    client = as_user(analyst, language="en")
    url = f"/licenses/{license.pk}/extracts/"
    response = client.post(url, {"format": "docx"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_format_error"' in html
    assert 'id="extract-format-form"' in html and license.extracts.count() == 1
    client.post(url, {"format": "jsonl"})  # queued (no worker runs here)
    html = client.post(url, {"format": "docx"}).content.decode()
    assert 'data-status="queued"' in html and 'id="id_format_error"' in html
    assert 'data-poll="' not in html  # polling would end in a reload that repeats the POST

    services.license_revoke(actor=operator, license=license, reason="목적 외 이용")
    response = client.post(url, {"format": "parquet"})
    html = response.content.decode()
    assert response.status_code == 200 and 'class="form-errors"' in html
    assert "This license is not active, so no file can be built for it." in html
    assert not license.extracts.filter(format="parquet").exists()
    assert as_user(curator).post(url, {"format": "parquet"}).status_code == 403


def test_a_failed_file_shows_its_reason_and_can_be_built_again(
    as_user, analyst, license, django_capture_on_commit_callbacks
):
    extract = license.extracts.get()
    Extract.objects.filter(pk=extract.pk).update(
        status="failed", file="", error="The dataset's data file is missing from storage."
    )
    client = as_user(analyst, language="en")
    html = client.get(f"/licenses/{license.pk}/").content.decode()
    assert "missing from storage" in html and "Build again" in html
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/licenses/{license.pk}/extracts/", {"format": extract.format})
    extract.refresh_from_db()
    assert extract.status == "succeeded"


# --- operators: leak tracing -------------------------------------------------------------------


def test_leak_page_is_for_operators_only(web, as_user, analyst, curator, operator):
    assert as_user(operator).get("/operator/leaks/").status_code == 200
    assert 'href="/operator/leaks/"' in as_user(operator).get("/operator/").content.decode()
    for user in (analyst, curator):
        assert as_user(user).get("/operator/leaks/").status_code == 404
        assert as_user(user).post("/operator/leaks/", {}).status_code == 404
    assert web.get("/operator/leaks/").status_code == 302


def test_leak_page_ranks_the_license_the_file_came_from(
    as_user, analyst, operator, offer, license, django_capture_on_commit_callbacks
):
    other_buyer = factories.OrganizationFactory(kind="buyer", name="다른 상점")
    other = _license(
        factories.member(other_buyer, "analyst", email="analyst@other.kr"),
        offer,
        django_capture_on_commit_callbacks,
    )
    leaked = other.extracts.get()
    with default_storage.open(leaked.file) as f, zipfile.ZipFile(f) as z:
        data = z.read("data.csv")

    client = as_user(operator, language="en")
    page = client.get("/operator/leaks/").content.decode()
    assert f'<option value="{offer.dataset.slug}">' in page and 'enctype="multipart/form-data"' in page
    response = client.post(
        "/operator/leaks/", {"dataset": offer.dataset.slug, "file": SimpleUploadedFile("유출.csv", data)}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f"The file most likely comes from license #{other.pk} (다른 상점)." in html
    first_row = html.index(f'id="candidate-{other.pk}"')
    assert first_row < html.index(f'id="candidate-{license.pk}"')  # ranked first
    assert f'href="/licenses/{other.pk}/"' in html and f'id="candidate-{other.pk}" class="likely"' in html
    assert "card_id" in html and "100.0%" in html


def test_leak_page_shows_errors_on_the_form(as_user, operator, offer, license):
    client = as_user(operator, language="en")
    response = client.post("/operator/leaks/", {"dataset": offer.dataset.slug})
    assert 'id="id_file_error"' in response.content.decode()
    response = client.post(
        "/operator/leaks/", {"dataset": offer.dataset.slug, "file": SimpleUploadedFile("leak.docx", b"hello")}
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_file_error"' in html and "Unsupported file type." in html
    response = client.post(
        "/operator/leaks/", {"dataset": "no-such-dataset", "file": SimpleUploadedFile("leak.csv", b"a\n1\n")}
    )
    assert 'id="id_dataset_error"' in response.content.decode()


def test_leak_page_says_when_no_license_matches(as_user, operator, offer, license):
    client = as_user(operator, language="en")
    unrelated = b"card_id\n" + b"\n".join(b"%064x" % i for i in range(5)) + b"\n"
    response = client.post(
        "/operator/leaks/", {"dataset": offer.dataset.slug, "file": SimpleUploadedFile("leak.csv", unrelated)}
    )
    html = response.content.decode()
    assert "No license of this dataset produces the pseudonyms in this file." in html
    assert 'class="likely"' not in html


def test_leak_page_traces_by_rows_when_the_pseudonyms_are_gone(
    as_user, analyst, operator, center, django_capture_on_commit_callbacks
):
    """A file posted without its pseudonym column is still traced, by its rows, on an offer
    with a per-license sample; the page gives rows held and the confidence, in both languages."""
    dataset = factories.published_dataset(center, with_data=True, row_count=600, slug="sampled")
    offer = factories.OfferFactory(
        dataset=dataset, fields=RECORDS, approval="automatic", treatments={"sample_percent": 50}
    )
    mine = _license(analyst, offer, django_capture_on_commit_callbacks)
    other_buyer = factories.OrganizationFactory(kind="buyer", name="다른 상점")
    other = _license(
        factories.member(other_buyer, "analyst", email="analyst@other.kr"),
        offer,
        django_capture_on_commit_callbacks,
    )
    with default_storage.open(other.extracts.get().file) as f, zipfile.ZipFile(f) as z:
        lines = z.read("data.csv").decode("utf-8-sig").splitlines()
    drop = lines[0].split(",").index("card_id")
    posted = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines)
    for language, said, column in (
        ("en", "Found by its rows with 95.0% confidence", "Rows held"),
        ("ko", "행으로 찾았습니다. 신뢰도 95.0%", "일치한 행"),
    ):
        response = as_user(operator, language=language).post(
            "/operator/leaks/",
            {"dataset": dataset.slug, "file": SimpleUploadedFile("posted.csv", posted.encode())},
        )
        html = response.content.decode()
        assert said in html and column in html, html[html.find('role="status"') :][:400]
        assert f'id="candidate-{other.pk}" class="likely"' in html
        assert html.index(f'id="candidate-{other.pk}"') < html.index(f'id="candidate-{mine.pk}"')


# --- reads moved into selectors ------------------------------------------------------------------


def test_operator_home_and_dashboard_read_through_selectors(as_user, operator, curator, license):
    from catalog import selectors as catalog_selectors
    from transactions import selectors

    figures = catalog_selectors.platform_figures()
    assert figures["datasets"] == 1 and figures["rows"] == 120 and figures["buyers"] >= 1
    workload = selectors.operator_workload()
    assert workload["active_licenses"] == 1 and workload["requests_by_state"] == {"licensed": 1}
    assert selectors.requests_by_buyer_category([license.dataset]) == [("sme", 1)]
    assert catalog_selectors.published_theme_counts() == {"local_currency": 1}
    home = as_user(operator, language="en").get("/operator/").content.decode()
    assert "active licenses" in home
    assert as_user(curator).get("/center/dashboard/").status_code == 200

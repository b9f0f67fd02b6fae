"""A center uploads a file larger than the single-request limit from the upload page: it goes
up in pieces over tus, the connection drops midway, and pressing Upload again resumes where
the server stands instead of starting over (issue 16). Headless Chromium against the live
server."""

import hashlib

import pytest

from catalog import services as catalog
from catalog.models import DatasetVersion, ResumableUpload
from tests import factories
from tests.catalog.test_services_partitions import card_csv

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_large_file_goes_up_in_pieces_and_resumes_after_a_dropped_connection(
    new_page, log_in, shot, settings
):
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")
    curator = factories.member(center, "curator", email="curator@center.kr", name="김큐레이터")
    dataset = catalog.dataset_create(
        actor=curator, center=center, title="월별 카드 결제", theme="local_currency", period_field="거래일자"
    )
    data = card_csv(list(range(1, 13)) * 6, per_month=25).encode()  # 1,800 rows over 12 months
    settings.UPLOAD_MAX_BYTES = len(data) // 3  # beyond what one request may carry
    settings.RESUMABLE_WEB_CHUNK_BYTES = 16 * 1024
    pieces = -(-len(data) // settings.RESUMABLE_WEB_CHUNK_BYTES)

    page = new_page()
    log_in(page, curator.email, factories.PASSWORD)
    sent = []
    dropped = []

    def drop_the_fourth_piece(route):
        if len(dropped) == 0 and len(sent) == 3:
            dropped.append(route.request.headers.get("upload-offset"))
            route.abort("connectionreset")
        else:
            sent.append(route.request.headers.get("upload-offset"))
            route.continue_()

    page.route(
        "**/api/v1/uploads/*/",
        lambda route: drop_the_fourth_piece(route) if route.request.method == "PATCH" else route.continue_(),
    )
    page.goto(f"/center/datasets/{dataset.slug}/upload/")
    page.set_input_files("#id_file", files=[{"name": "카드결제.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("form[data-resumable-upload] button[type=submit]")
    error = page.locator("[data-resumable-error]")
    error.wait_for(state="visible")
    assert "다시" in error.inner_text()  # tells the person how to resume, in Korean
    sent_share = 100 * 3 * settings.RESUMABLE_WEB_CHUNK_BYTES // len(data)
    assert f"MB 보냄 ({sent_share}%)" in page.inner_text("[data-resumable-text]")  # 3 pieces went up
    shot(page, "center", "upload-interrupted")
    assert ResumableUpload.objects.get().offset == 3 * settings.RESUMABLE_WEB_CHUNK_BYTES

    page.click("form[data-resumable-upload] button[type=submit]")  # the same file, again
    page.wait_for_url("**/center/versions/*/", timeout=60_000)
    shot(page, "center", "upload-resumed-version")
    # Every piece crossed once, except the one the connection dropped: resumed, not restarted.
    assert len(sent) == pieces and sent[3] == dropped[0]
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == DatasetVersion.Status.READY, version.error
    assert version.row_count == 1800 and version.original_filename == "카드결제.csv"
    with version.source.open("rb") as stored:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(data).digest()

"""Issue 17, item 3: ingestion errors read well in Korean and English, and a failed upload
does not use up a version number."""

import ast
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from catalog.models import DatasetVersion
from tests import factories
from tests.catalog.conftest import upload

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20


def ingest(curator, dataset, content, capture, **kwargs):
    with capture(execute=True):
        version = upload(curator, dataset, content, **kwargs)
    version.refresh_from_db()
    return version


def ingestion_templates() -> list[str]:
    """Every message template the ingestion engine raises (the strings passed to `_t`)."""
    found = []
    for path in Path("catalog/ingestion").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_t":
                found.append(node.args[0].value)
    return found


def test_every_ingestion_message_has_a_korean_translation():
    templates = ingestion_templates()
    assert len(templates) >= 15
    with translation.override("ko"):
        untranslated = [t for t in templates if translation.gettext(t) == t]
    assert untranslated == []


@pytest.mark.django_db
def test_a_png_fails_with_a_readable_message_in_each_language(
    api, curator, dataset, django_capture_on_commit_callbacks
):
    version = ingest(curator, dataset, PNG, django_capture_on_commit_callbacks)
    assert version.status == "failed"
    assert version.error == (
        "This is not a CSV, TSV or Parquet file: it is a PNG image. Upload the data as CSV, TSV or Parquet."
    )
    page = Client()
    page.force_login(curator, backend="django.contrib.auth.backends.ModelBackend")
    page.cookies["django_language"] = "ko"
    html = page.get(f"/center/versions/{version.pk}/").content.decode()
    assert "CSV, TSV, Parquet 파일이 아닙니다. PNG 이미지입니다." in html
    assert "then upload it again" not in html and "This is not" not in html
    api.force_authenticate(curator)
    assert api.get(f"/api/v1/versions/{version.pk}/").json()["error"] == version.error
    korean = api.get(f"/api/v1/versions/{version.pk}/", HTTP_ACCEPT_LANGUAGE="ko").json()["error"]
    assert korean.startswith("CSV, TSV, Parquet 파일이 아닙니다.")


@pytest.mark.django_db
def test_a_ragged_row_names_its_row_in_korean(curator, dataset, django_capture_on_commit_callbacks):
    version = ingest(curator, dataset, "a,b\n1,2\n3,4,5\n", django_capture_on_commit_callbacks)
    assert (version.status, version.error_row) == ("failed", 2)
    with translation.override("ko"):
        assert version.error_text.startswith("2행의 값은 3개인데 머리글의 열은 2개입니다.")
    with translation.override("en"):
        assert version.error_text == "Row 2 has 3 fields; the header has 2."


@pytest.mark.django_db
def test_a_failed_upload_does_not_use_up_a_version_number(
    curator, dataset, ingested, django_capture_on_commit_callbacks
):
    assert ingested.number == 1
    failed = ingest(curator, dataset, PNG, django_capture_on_commit_callbacks)
    assert (failed.number, failed.status) == (2, "failed")
    again = ingest(curator, dataset, "a,b\n1,2\n", django_capture_on_commit_callbacks)
    assert (again.number, again.status) == (2, "ready")
    assert not DatasetVersion.objects.filter(pk=failed.pk).exists()
    assert sorted(dataset.versions.values_list("number", flat=True)) == [1, 2]
    # Each failure is taken over by the next upload, by whoever makes it.
    broken = ingest(curator, dataset, PNG, django_capture_on_commit_callbacks)
    assert broken.number == 3
    other = factories.member(dataset.center, "curator", email="second@center.kr")
    third = ingest(other, dataset, "a,b\n5,6\n", django_capture_on_commit_callbacks)
    assert third.number == 3

"""Hostile uploads: each ends as a clear 4xx or a failed version with a message, and leaves
every other file and row as it was."""

import os

import duckdb
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from catalog.models import DatasetVersion


@pytest.fixture
def curator_dataset(center):
    from tests import factories

    curator = factories.member(center, "curator")
    dataset = services.dataset_create(actor=curator, center=center, title="악성 파일 시험")
    return curator, dataset


def media_files() -> set[str]:
    root = settings.MEDIA_ROOT
    return {os.path.relpath(os.path.join(d, f), root) for d, _s, fs in os.walk(root) for f in fs}


def post_file(client, dataset, name, content: bytes):
    return client.post(
        f"/api/v1/datasets/{dataset.slug}/versions/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, shown",
    [
        ("../../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("카드 결제 🙂.csv", "카드 결제 🙂.csv"),
        ("a\x00b.csv", "ab.csv"),
        ("/abs/olute.csv", "olute.csv"),
    ],
)
def test_file_names_never_choose_where_files_go(
    login, curator_dataset, django_capture_on_commit_callbacks, name, shown
):
    curator, dataset = curator_dataset
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(login(curator), dataset, name, "지역,금액\n수원시,1000\n".encode())
    assert response.status_code == 202, response.content
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.source.name.startswith(f"datasets/{dataset.pk}/uploads/") and version.source.name.endswith(
        ".bin"
    )
    assert version.original_filename == shown
    assert version.status == "ready"


@pytest.mark.django_db
def test_nested_parquet_fails_naming_the_column(
    login, curator_dataset, tmp_path, django_capture_on_commit_callbacks
):
    curator, dataset = curator_dataset
    path = tmp_path / "nested.parquet"
    duckdb.sql(f"copy (select 1 as id, [1, 2] as tags, {{'a': 1}} as info) to '{path}' (format parquet)")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(login(curator), dataset, "nested.csv", path.read_bytes())
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.status == "failed"
    assert "tags" in version.error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"a,b\n1,2\n" + b"x" * 3_000_000 + b",1\n", "longer than 2,000,000 bytes"),
        (b"a,b\n1,2\n\xff\xfe\xfa,3\n", "neither UTF-8 nor CP949"),
        ("이름,금액\n홍길동,1000\n".encode() + "김철수,2000\n".encode("cp949"), "neither UTF-8 nor CP949"),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "Row 2 has 2 fields"),
    ],
    ids=["empty", "50mb-style-long-line", "junk-bytes", "mixed-encodings", "ragged"],
)
def test_bad_files_end_failed_or_refused_and_change_nothing_else(
    login, curator_dataset, django_capture_on_commit_callbacks, content, message
):
    curator, dataset = curator_dataset
    client = login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        good = post_file(client, dataset, "good.csv", "지역,금액\n수원시,1000\n".encode())
    services.version_publish(actor=curator, version=DatasetVersion.objects.get(pk=good.json()["id"]))
    files_before, versions_before = media_files(), DatasetVersion.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(client, dataset, "bad.csv", content)
    if response.status_code == 400:
        assert message in response.json()["detail"] or message in str(response.json().get("errors"))
        assert DatasetVersion.objects.count() == versions_before and media_files() == files_before
        return
    assert response.status_code == 202
    bad = DatasetVersion.objects.get(pk=response.json()["id"])
    assert bad.status == "failed" and message in bad.error, bad.error
    assert bad.parquet == "" and not bad.fields.exists()
    new_files = media_files() - files_before
    assert new_files == {bad.source.name}  # only the upload itself; no half-made Parquet
    dataset.refresh_from_db()
    assert dataset.current_version_id == good.json()["id"]

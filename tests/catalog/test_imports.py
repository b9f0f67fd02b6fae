"""Versions imported from the center's prefix in object storage (issue 16; API.md, second wave:
`source_uris` instead of a file). Against a real S3 server over HTTP (moto), through the API
and the real tasks: each file by its own task, the last one joining them (run eagerly here; a
real worker in test_an_import_runs_through_a_real_worker)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from django.core.files.storage import default_storage

from catalog import ingestion, selectors
from catalog.models import DatasetVersion, VersionSource
from catalog.services import imports
from catalog.storage import local_path
from marketplace.actors import SYSTEM
from tests import factories
from tests.catalog.test_services_partitions import card_csv, ingest, publish, table
from tests.services import free_port, wait_until

pytestmark = pytest.mark.django_db


def post(client, dataset, uris, **fields):
    return client.post(
        f"/api/v1/datasets/{dataset.slug}/versions/", {"source_uris": uris, **fields}, format="json"
    )


def imported(client, dataset, uris, capture, **fields) -> tuple[int, dict]:
    with capture(execute=True):
        response = post(client, dataset, uris, **fields)
    assert response.status_code == 202, response.content
    return response.status_code, client.get(f"/api/v1/versions/{response.json()['id']}/").json()


def parquet_bytes(text: str, work_dir: Path) -> bytes:
    """The CSV as a Parquet file with the types ingestion gives it (what a center exports)."""
    source = work_dir / "month.csv"
    source.write_text(text, encoding="utf-8")
    return ingestion.ingest_file(source, work_dir / "out").parquet_path.read_bytes()


def test_a_folder_of_monthly_files_in_three_formats_imports_as_one_partitioned_version(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks, tmp_path
):
    # January as CP949 CSV, February gzip'd UTF-8, March as Parquet: one file per month.
    import_bucket.put(center, "cards/2024-01.csv", card_csv([1]).encode("cp949"))
    import_bucket.put(center, "cards/2024-02.csv.gz", gzip.compress(card_csv([2], start=12).encode()))
    import_bucket.put(center, "cards/2024-03.parquet", parquet_bytes(card_csv([3], start=24), tmp_path))
    client = login(curator)
    _status, body = imported(
        client, partitioned, [import_bucket.uri(center, "cards/")], django_capture_on_commit_callbacks
    )
    assert body["status"] == "ready", body["error"]
    version = DatasetVersion.objects.get(pk=body["id"])
    assert version.row_count == 36 and version.source_bytes > 0
    sources = list(version.sources.order_by("position"))
    assert [s.key.rsplit("/", 1)[-1] for s in sources] == ["2024-01.csv", "2024-02.csv.gz", "2024-03.parquet"]
    assert {s.status for s in sources} == {VersionSource.Status.DONE}
    assert [s.result["file_kind"] for s in sources] == ["csv", "csv.gz", "parquet"]
    parts = list(version.parts.order_by("period", "region"))
    assert sorted({p.period for p in parts}) == ["2024-01", "2024-02", "2024-03"]
    assert sum(p.rows for p in parts) == 36
    # The same rows as the three months uploaded as one file, and profiles merged over all three.
    single = ingest(curator, partitioned, card_csv([1, 2, 3]), django_capture_on_commit_callbacks)
    assert single.status == DatasetVersion.Status.READY, single.error
    assert table(selectors.version_files(version)) == table(selectors.version_files(single))
    amount = version.fields.get(name="금액").profile
    assert (amount["null_count"], amount["min"], amount["max"]) == (0, 1000, 1110)
    assert version.fields.get(name="거래일자").profile["max"].startswith("2024-03")


def test_an_imported_month_appends_to_the_published_table(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    first = ingest(curator, partitioned, card_csv([1, 2]), django_capture_on_commit_callbacks)
    publish(curator, first)
    uri = import_bucket.put(center, "2024-03.csv", card_csv([3], start=100))
    client = login(curator)
    _status, body = imported(client, partitioned, [uri], django_capture_on_commit_callbacks, mode="append")
    assert (body["status"], body["mode"], body["row_count"]) == ("ready", "append", 36), body["error"]
    version = DatasetVersion.objects.get(pk=body["id"])
    # The months already published are the same files, shared; only March is new.
    assert set(first.parts.all()) < set(version.parts.all())
    assert {p.period for p in version.new_parts.all()} == {"2024-03"}
    # The same month again is refused at ingestion unless replace_periods, as for an upload.
    publish(curator, version)
    _status, again = imported(client, partitioned, [uri], django_capture_on_commit_callbacks, mode="append")
    assert again["status"] == "failed" and "2024-03" in again["error"], again


def test_uris_outside_the_centers_prefix_are_refused_each_by_name_and_nothing_is_recorded(
    login, curator, center, partitioned, import_bucket
):
    other = factories.OrganizationFactory(kind="center", name="다른 센터")
    theirs = import_bucket.put(other, "secret.csv", card_csv([1]))
    ours = import_bucket.put(center, "2024-01.csv", card_csv([1]))
    bucket = ours.split("/")[2]
    wanted = [
        ours,
        theirs,  # another center's file
        ours.replace(f"/{center.pk}/", f"/{center.pk}/../{other.pk}/").replace("2024-01", "secret"),
        f"s3://other-bucket/centers/{center.pk}/2024-01.csv",
        f"https://{bucket}.s3.amazonaws.com/centers/{center.pk}/2024-01.csv",
        import_bucket.uri(center, "missing.csv"),
        import_bucket.uri(center, "empty/"),
    ]
    response = post(login(curator), partitioned, wanted)
    assert response.status_code == 400
    body = response.json()
    problems = body["errors"]["source_uris"]
    assert len(problems) == len(wanted) - 1  # all but our own file
    assert any(theirs in p and "outside your center's import prefix" in p for p in problems)
    assert any("missing.csv" in p and "no file" in p for p in problems)
    assert f"s3://{bucket}/centers/{center.pk}/" in body["detail"]  # where the center's files go
    assert not partitioned.versions.exists()


def test_only_the_centers_curators_import_and_others_learn_nothing_of_the_files(
    login, center, partitioned, import_bucket
):
    uri = import_bucket.put(center, "2024-01.csv", card_csv([1]))
    buyer_org = factories.OrganizationFactory(kind="buyer")
    analyst = factories.member(buyer_org, "analyst", email="analyst@buyer.kr")
    response = post(login(analyst), partitioned, [uri])
    assert response.status_code in (403, 404)
    assert "2024-01" not in response.content.decode()
    assert not partitioned.versions.exists()


def test_a_bad_file_fails_the_version_naming_it_and_removes_what_the_others_stored(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    import_bucket.put(center, "in/a.csv", card_csv([1]))
    import_bucket.put(center, "in/b.csv", b"\x00\x01\x02 not a table \xff\xfe" * 50)
    client = login(curator)
    _status, body = imported(
        client, partitioned, [import_bucket.uri(center, "in/")], django_capture_on_commit_callbacks
    )
    assert body["status"] == "failed"
    assert body["error"].startswith("b.csv: "), body["error"]
    version = DatasetVersion.objects.get(pk=body["id"])
    done = version.sources.get(key__endswith="a.csv")
    assert done.status == VersionSource.Status.DONE
    assert not any(default_storage.exists(p["path"]) for p in done.result["parts"])
    assert not version.parts.exists()


def test_files_with_different_columns_fail_the_join_naming_the_file(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    import_bucket.put(center, "in/a.csv", card_csv([1]))
    import_bucket.put(center, "in/b.csv", card_csv([2]).replace("금액", "결제금액"))
    client = login(curator)
    _status, body = imported(
        client, partitioned, [import_bucket.uri(center, "in/")], django_capture_on_commit_callbacks
    )
    assert body["status"] == "failed"
    assert "b.csv" in body["error"] and "결제금액" in body["error"], body["error"]


def test_a_file_replaced_after_the_import_was_requested_is_not_ingested(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    uri = import_bucket.put(center, "2024-01.csv", card_csv([1]))
    client = login(curator)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = post(client, partitioned, [uri])
    assert response.status_code == 202
    import_bucket.put(center, "2024-01.csv", card_csv([1, 2]))  # changed before ingestion ran
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    body = client.get(f"/api/v1/versions/{response.json()['id']}/").json()
    assert body["status"] == "failed" and "replaced after the import was requested" in body["error"]


def test_an_unpartitioned_dataset_imports_several_files_as_one_file_in_the_order_named(
    login, curator, center, dataset, import_bucket, django_capture_on_commit_callbacks
):
    second = import_bucket.put(center, "b.csv", card_csv([2], start=100))
    first = import_bucket.put(center, "a.csv", card_csv([1]))
    client = login(curator)
    _status, body = imported(client, dataset, [second, first], django_capture_on_commit_callbacks)
    assert body["status"] == "ready", body["error"]
    version = DatasetVersion.objects.get(pk=body["id"])
    assert version.parquet.endswith("/data.parquet") and not version.parts.exists()
    ids = [
        r[0]
        for r in duckdb.execute(
            "SELECT 거래번호 FROM read_parquet(?)", [str(local_path(version.parquet))]
        ).fetchall()
    ]
    assert ids[0] == "T00100" and ids[-1] == "T00011" and len(ids) == 24  # b.csv's rows, then a.csv's
    # The staged per-file Parquet files are gone once they are in the version's file.
    assert not any(default_storage.exists(s.result["staged"]) for s in version.sources.all())


def test_a_file_and_source_uris_together_or_neither_are_refused(login, curator, partitioned, import_bucket):
    client = login(curator)
    neither = client.post(
        f"/api/v1/datasets/{partitioned.slug}/versions/", {"mode": "replace"}, format="json"
    )
    assert neither.status_code == 400 and "source_uris" in neither.json()["errors"]["file"][0]
    empty = post(client, partitioned, [])
    assert empty.status_code == 400


def test_without_import_storage_the_center_is_told_to_upload(login, curator, partitioned, settings):
    settings.IMPORT_BUCKET = ""
    response = post(login(curator), partitioned, ["s3://anything/centers/1/a.csv"])
    assert response.status_code == 400 and "upload the file instead" in response.json()["detail"]


def test_the_error_is_shown_in_korean(login, curator, center, partitioned, import_bucket):
    client = login(curator)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"
    response = post(client, partitioned, [f"s3://other-bucket/centers/{center.pk}/a.csv"])
    assert response.status_code == 400
    assert "가져오기" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_an_import_runs_through_a_real_worker(
    login, curator, center, partitioned, import_bucket, celery_worker_process
):
    for month in (1, 2, 3):
        import_bucket.put(center, f"w/2024-0{month}.csv", card_csv([month], start=100 * month))
    response = post(login(curator), partitioned, [import_bucket.uri(center, "w/")])
    assert response.status_code == 202, response.content
    version = wait_until(
        lambda: DatasetVersion.objects.filter(
            pk=response.json()["id"], status__in=["ready", "failed"]
        ).first(),
        timeout=120,
    )
    assert version.status == "ready", version.error
    assert version.row_count == 36 and version.progress == 100
    assert version.sources.filter(status="done").count() == 3


def test_each_file_shows_its_progress_to_the_center_only(
    login, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    import_bucket.put(center, "in/a.csv", card_csv([1]))
    import_bucket.put(center, "in/b.csv", b"\x00\x01 not a table \xff" * 50)
    client = login(curator)
    _status, body = imported(
        client, partitioned, [import_bucket.uri(center, "in/")], django_capture_on_commit_callbacks
    )
    files = client.get(f"/api/v1/versions/{body['id']}/sources/").json()
    assert [(f["uri"].rsplit("/", 1)[-1], f["status"]) for f in files] == [
        ("a.csv", "done"),
        ("b.csv", "failed"),
    ]
    assert files[0]["progress"] == 100 and files[1]["error"]
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ko"
    assert client.get(f"/api/v1/versions/{body['id']}/sources/").json()[1]["error"] != files[1]["error"]
    buyer_org = factories.OrganizationFactory(kind="buyer")
    analyst = factories.member(buyer_org, "analyst", email="analyst@buyer.kr")
    assert login(analyst).get(f"/api/v1/versions/{body['id']}/sources/").status_code == 404


def test_the_upload_page_imports_from_object_storage_and_shows_what_is_wrong(
    client, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    client.force_login(curator)
    page = client.get(f"/center/datasets/{partitioned.slug}/upload/", HTTP_ACCEPT_LANGUAGE="en")
    prefix = import_bucket.uri(center, "")
    assert prefix in page.content.decode()  # the page says where the center's files go
    outside = client.post(
        f"/center/datasets/{partitioned.slug}/upload/",
        {"import-source_uris": f"s3://other-bucket/x.csv\n{import_bucket.uri(center, 'missing.csv')}"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert outside.status_code == 200
    text = outside.content.decode()
    assert "other-bucket/x.csv" in text and "missing.csv" in text and not partitioned.versions.exists()
    import_bucket.put(center, "cards/2024-01.csv", card_csv([1]))
    import_bucket.put(center, "cards/2024-02.csv", card_csv([2], start=12))
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            f"/center/datasets/{partitioned.slug}/upload/",
            {"import-source_uris": import_bucket.uri(center, "cards/"), "import-mode": "replace"},
        )
    version = partitioned.versions.get()
    assert started.status_code == 302 and started["Location"].endswith(f"/center/versions/{version.pk}/")
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY and version.row_count == 24


def test_the_version_page_lists_each_imported_file_with_its_progress(
    client, curator, center, partitioned, import_bucket, django_capture_on_commit_callbacks
):
    import_bucket.put(center, "in/2024-01.csv", card_csv([1]))
    import_bucket.put(center, "in/2024-02.csv", card_csv([2], start=12))
    client.force_login(curator)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        started = client.post(
            f"/center/datasets/{partitioned.slug}/upload/",
            {"import-source_uris": import_bucket.uri(center, "in/")},
        )
    version = partitioned.versions.get()
    assert started.status_code == 302 and len(queued) == 1
    # The version is being ingested; its first file is done, the second still queued.
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.INGESTING)
    first = version.sources.get(position=0)
    with django_capture_on_commit_callbacks(execute=False):
        imports.version_source_ingest(actor=SYSTEM, source_id=first.pk)
    status = client.get(f"/center/versions/{version.pk}/status.json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert [(i["id"], i["progress"]) for i in status["items"]] == [(0, 100), (1, 0)]
    assert 0 < status["progress"] < 100 and not status["done"]
    page = client.get(f"/center/versions/{version.pk}/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "가져온 파일 2개" in page and "2024-01.csv" in page and 'data-poll-item="1"' in page


def test_storage_out_of_reach_while_a_file_is_read_is_a_retryable_error(
    curator, center, partitioned, import_bucket, settings, tmp_path
):
    from catalog import import_store

    (file,) = import_store.resolve(center.pk, [import_bucket.put(center, "a.csv", card_csv([1]))])
    settings.IMPORT_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    with pytest.raises(ConnectionError):  # an OSError: the ingestion task retries it with backoff
        import_store.download(file, tmp_path / "a.csv")


def test_storage_out_of_reach_when_the_import_is_asked_is_a_503_and_records_nothing(
    login, curator, center, partitioned, settings
):
    settings.IMPORT_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    response = post(login(curator), partitioned, [f"s3://{settings.IMPORT_BUCKET}/centers/{center.pk}/a.csv"])
    assert response.status_code == 503 and "Try again" in response.json()["detail"]
    assert not partitioned.versions.exists()

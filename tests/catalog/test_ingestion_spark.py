"""Parquet files ingested on Spark through Spark Connect (issue 16): a large Parquet file of a
partitioned dataset is converted and cut into partition files by Spark, and the version holds
what DuckDB's ingestion gives: the same columns and types, the same rows in the same files in
the same order, the same recorded ranges and the same profiles. A real Spark Connect server
(local[2]); files uploaded and imported through the services and the API."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import duckdb
import pytest
from celery.exceptions import Retry
from django.core.files import File

from catalog import services, spark, spark_ingestion
from catalog.models import DatasetVersion
from demo import generator
from marketplace.duckdb import connect
from tests import factories
from tests.catalog.test_imports import imported, parquet_bytes
from tests.catalog.test_services_partitions import card_csv, ingest, table

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards_parquet(tmp_path) -> Path:
    """The demo's card payments as a center exports them, with more types than text and
    integers (a decimal, a float, a boolean, a small integer, a date), a column named in
    Korean with a space, and rows without a date or a 시·군 (their own partitions)."""
    plain = tmp_path / "plain.parquet"
    generator.generate_card_transactions(plain, rows=3_000, seed=5)
    source = tmp_path / "cards.parquet"
    duckdb.execute(
        f"""COPY (SELECT transaction_id,
                CASE WHEN hash(transaction_id) % 97 = 0 THEN NULL ELSE approved_at END AS approved_at,
                CASE WHEN hash(transaction_id) % 89 = 0 THEN NULL ELSE sigungu_code END AS sigungu_code,
                dong, card_id, amount,
                CAST(amount / 3 AS DECIMAL(12, 2)) AS "결제 금액",
                CAST(amount AS FLOAT) / 7 AS ratio, amount % 2 = 0 AS even,
                CAST(amount % 100 AS TINYINT) AS cents, CAST(approved_at AS DATE) AS day
            FROM read_parquet('{plain}')) TO '{source}' (FORMAT parquet)"""
    )
    return source


def _upload(curator, center, source: Path, capture, *, title: str) -> DatasetVersion:
    return factories.cards_upload(curator, center, source, capture, title=title)


def _files(version) -> dict[tuple, tuple]:
    """(period, region) → what the catalog recorded of the file, and its rows in file order."""
    from catalog.storage import local_path

    con = connect()
    try:
        files = {}
        for p in version.parts.all():
            rows = con.execute("SELECT * FROM read_parquet(?)", [str(local_path(p.path))]).fetchall()
            files[(p.period, p.region)] = ((p.rows, p.date_min, p.date_max, p.region_min, p.region_max), rows)
        return files
    finally:
        con.close()


def _fields(version) -> list[tuple]:
    return list(version.fields.order_by("position").values_list("position", "name", "type", "profile"))


def test_a_large_parquet_upload_is_ingested_on_spark_as_duckdb_ingests_it(
    center, cards_parquet, spark_remote, settings, django_capture_on_commit_callbacks, caplog
):
    curator = factories.member(center, "curator")
    capture = django_capture_on_commit_callbacks
    on_duckdb = _upload(curator, center, cards_parquet, capture, title="DuckDB")
    assert on_duckdb.status == DatasetVersion.Status.READY, on_duckdb.error

    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    with caplog.at_level(logging.INFO, logger="catalog.spark_ingestion"):
        on_spark = _upload(curator, center, cards_parquet, capture, title="Spark")
    assert "ingested on Spark" in caplog.text
    assert on_spark.status == DatasetVersion.Status.READY, on_spark.error
    assert on_spark.row_count == on_duckdb.row_count == 3_000
    assert (on_spark.file_kind, on_spark.source_sha256) == (on_duckdb.file_kind, on_duckdb.source_sha256)
    assert _fields(on_spark) == _fields(on_duckdb)  # names, types and profiles
    spark_files, duckdb_files = _files(on_spark), _files(on_duckdb)
    assert ("unknown", "41110") in spark_files and any(r == "unknown" for _, r in spark_files)
    assert spark_files.keys() == duckdb_files.keys()  # the same files
    for key, (recorded, rows) in spark_files.items():
        assert recorded == duckdb_files[key][0]  # rows, date and region ranges
        assert sorted(rows) == sorted(duckdb_files[key][1])
        # Spark keeps each file's rows in the upload's order (transaction numbers ascend there);
        # DuckDB's partitioned writer regroups them.
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    described = "DESCRIBE SELECT * FROM read_parquet(?)"
    written = [duckdb.execute(described, [_path(v)]).fetchall() for v in (on_spark, on_duckdb)]
    assert written[0] == written[1]  # DECIMAL(12,2), FLOAT, TINYINT… as DuckDB writes them
    assert not list(Path(settings.WORK_DIR).glob("ingest-*"))


def _path(version) -> str:
    from catalog.storage import local_path

    return str(local_path(version.parts.order_by("path").first().path))


def test_an_append_on_spark_adds_its_months_to_the_published_table(
    curator, partitioned, spark_remote, settings, django_capture_on_commit_callbacks, tmp_path, caplog
):
    """The months a large Parquet file appends are cut by Spark and join the published files."""
    capture = django_capture_on_commit_callbacks
    first = ingest(curator, partitioned, card_csv([1, 2]), capture)
    services.version_publish(actor=curator, version=first)
    march = tmp_path / "march.parquet"
    march.write_bytes(parquet_bytes(card_csv([3], start=24), tmp_path))
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    with capture(execute=True), open(march, "rb") as f, caplog.at_level(logging.INFO):
        appended = services.version_upload(
            actor=curator,
            dataset=partitioned,
            file=File(f, name="march.parquet"),
            filename="march.parquet",
            mode="append",
        )
    appended.refresh_from_db()
    assert appended.status == DatasetVersion.Status.READY, appended.error
    assert "ingested on Spark" in caplog.text
    assert sorted({p.period for p in appended.parts.all()}) == ["2024-01", "2024-02", "2024-03"]
    kept = {p.path for p in first.parts.all()}
    assert kept <= {p.path for p in appended.parts.all()}  # the published files are shared
    settings.SPARK_REMOTE = ""
    whole = ingest(curator, partitioned, card_csv([1, 2, 3]), capture)
    assert table(_all(appended)) == table(_all(whole))


def _all(version) -> list[str]:
    from catalog import selectors

    return selectors.version_files(version)


def test_an_imported_folder_goes_to_the_engine_each_file_fits(
    login, curator, center, partitioned, import_bucket, spark_remote, settings,
    django_capture_on_commit_callbacks, tmp_path, caplog,
):  # fmt: skip
    """The CP949 CSV (transcoded by the worker) and the Parquet file are converted by Spark; the
    gzip'd CSV too, until a quoted field after a space (which DuckDB drops, Spark keeps) stops
    it, and DuckDB converts that file: one version, the rows of the three months."""
    import_bucket.put(center, "cards/2024-01.csv", card_csv([1]).encode("cp949"))
    quoted = card_csv([2], start=12).replace(",M01,", ', "M01",')
    import_bucket.put(center, "cards/2024-02.csv.gz", gzip.compress(quoted.encode()))
    import_bucket.put(center, "cards/2024-03.parquet", parquet_bytes(card_csv([3], start=24), tmp_path))
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    client = login(curator)
    with caplog.at_level(logging.INFO, logger="catalog.spark_ingestion"):
        _status, body = imported(
            client, partitioned, [import_bucket.uri(center, "cards/")], django_capture_on_commit_callbacks
        )
    assert body["status"] == "ready", body["error"]
    assert (
        "A CSV of 13 lines is ingested on Spark" in caplog.text
        and "(12 rows) ingested on Spark" in caplog.text
    )
    assert caplog.text.count("could not be converted on Spark") == 1 and "a quote first" in caplog.text
    version = DatasetVersion.objects.get(pk=body["id"])
    settings.SPARK_REMOTE = ""
    single = ingest(curator, partitioned, card_csv([1, 2, 3]), django_capture_on_commit_callbacks)
    assert table(_all(version)) == table(_all(single))
    assert version.fields.get(name="금액").profile["max"] == single.fields.get(name="금액").profile["max"]


def test_what_is_not_for_spark_is_ingested_on_duckdb_with_its_messages(
    center, spark_remote, settings, django_capture_on_commit_callbacks, tmp_path, caplog
):
    """A type the engines do not write alike (here a list) stays on DuckDB, which refuses it with
    its own message; a file without the period column gets the message DuckDB's check gives."""
    curator = factories.member(center, "curator")
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    nested = tmp_path / "nested.parquet"
    duckdb.execute(
        f"COPY (SELECT TIMESTAMP '2024-01-05 10:00' AS approved_at, '41110' AS sigungu_code, [1, 2] AS items) "
        f"TO '{nested}' (FORMAT parquet)"
    )
    caplog.set_level(logging.INFO, logger="catalog.spark_ingestion")
    refused = _upload(curator, center, nested, django_capture_on_commit_callbacks, title="nested")
    assert "ingested on DuckDB, not Spark: column items is INTEGER[]" in caplog.text
    assert refused.status == DatasetVersion.Status.FAILED and "nested values" in refused.error

    cut = tmp_path / "cut.parquet"  # a file cut short: no footer
    cut.write_bytes(nested.read_bytes()[:-40])
    damaged = _upload(curator, center, cut, django_capture_on_commit_callbacks, title="cut")
    assert "DuckDB cannot read its schema" in caplog.text
    assert damaged.status == DatasetVersion.Status.FAILED and "may be damaged" in damaged.error

    undated = tmp_path / "undated.parquet"
    duckdb.execute(f"COPY (SELECT '41110' AS sigungu_code, 1 AS amount) TO '{undated}' (FORMAT parquet)")
    failed = _upload(curator, center, undated, django_capture_on_commit_callbacks, title="undated")
    assert failed.status == DatasetVersion.Status.FAILED
    assert 'partitioned by the column "approved_at"' in failed.error


def test_a_damaged_file_is_named_by_duckdb_as_when_duckdb_ingests_it(
    center, spark_remote, settings, django_capture_on_commit_callbacks, tmp_path, caplog
):
    """Text that is not UTF-8 in the middle of a Parquet file: Spark copies it unchecked, DuckDB
    refuses to read what Spark wrote, and the upload gets DuckDB's own message about the file."""
    curator = factories.member(center, "curator")
    damaged = tmp_path / "damaged.parquet"
    duckdb.execute(
        "COPY (SELECT TIMESTAMP '2024-01-05 10:00' + INTERVAL (i) MINUTE AS approved_at, "
        "'41110' AS sigungu_code, CASE WHEN i = 25000 THEN 'w00000250QQ' "
        "ELSE 'w' || lpad(CAST(i AS VARCHAR), 10, '0') END AS note FROM range(50000) r(i)) "
        f"TO '{damaged}' (FORMAT parquet, COMPRESSION uncompressed)"
    )
    data = damaged.read_bytes()
    assert data.count(b"w00000250QQ") == 1  # one value, not the column's statistics
    damaged.write_bytes(data.replace(b"w00000250QQ", b"\xff" * 11))  # the file's structure intact
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    with caplog.at_level(logging.INFO, logger="catalog.spark_ingestion"):
        failed = _upload(curator, center, damaged, django_capture_on_commit_callbacks, title="damaged")
    assert "ingested on Spark" in caplog.text  # Spark read and wrote it: DuckDB refused the copy
    assert "could not be ingested on Spark, so DuckDB ingests it: Invalid Input Error" in caplog.text
    assert failed.status == DatasetVersion.Status.FAILED
    assert "could not be read; it may be damaged" in failed.error and "UTF8" in failed.error

    broken = tmp_path / "broken.parquet"  # the first page's header overwritten: Spark fails on it
    broken.write_bytes(data[:4] + b"\xff" * 200 + data[204:])
    caplog.clear()
    failed = _upload(curator, center, broken, django_capture_on_commit_callbacks, title="broken")
    assert "could not be ingested on Spark, so DuckDB ingests it: Spark" in caplog.text
    assert failed.status == DatasetVersion.Status.FAILED and "may be damaged" in failed.error
    assert not list(Path(settings.WORK_DIR).glob("ingest-*"))


def test_a_spark_server_lost_during_ingestion_is_tried_again_on_duckdb(
    center, cards_parquet, own_spark_server, settings, django_capture_on_commit_callbacks, caplog, monkeypatch
):
    """The server dies once the session is open, before Spark writes: the ingestion task gives
    the version back to the queue and is tried again after a backoff (at once here), the server
    no longer answers, so DuckDB ingests the file. Nothing of the lost attempt is left."""
    server, remote = own_spark_server
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = remote, 1
    settings.SPARK_CONNECT_RETRIES = 0  # the client gives up on a lost server at once
    meter = spark._Meter

    class Losing(meter):
        def span(self, lo: float, hi: float) -> None:
            if server.poll() is None:
                server.kill()
                server.wait()
            super().span(lo, hi)

    monkeypatch.setattr(spark, "_Meter", Losing)
    curator = factories.member(center, "curator")
    caplog.set_level(logging.INFO)
    with pytest.raises(Retry) as again:  # eager tasks raise what a worker would queue again
        _upload(curator, center, cards_parquet, django_capture_on_commit_callbacks, title="lost")
    assert isinstance(again.value.exc, ConnectionError)
    assert 0 <= again.value.when <= 5  # the job tasks' first backoff, jittered
    version = DatasetVersion.objects.get(dataset__title="lost")
    assert version.status == DatasetVersion.QUEUED  # given back, not failed
    with django_capture_on_commit_callbacks(execute=True):
        again.value.sig.apply()  # what the worker runs when the backoff is over
    version.refresh_from_db()
    assert "ingested on Spark" in caplog.text and "is ingested on DuckDB" in caplog.text
    assert version.status == DatasetVersion.Status.READY, version.error
    assert version.row_count == 3_000 and version.parts.count() > 300
    assert not list(Path(settings.WORK_DIR).glob("ingest-*"))


def test_the_plan_is_decided_from_the_schema_alone(cards_parquet, tmp_path):
    """DuckDB reads the footer: names as the DuckDB conversion gives them, the types, the rows."""
    partitioning = {"period_column": "approved_at", "unit": "month", "region_column": "sigungu_code"}
    con = connect()
    try:
        chosen = spark_ingestion.plan(con, cards_parquet, partitioning)
        assert chosen.rows == 3_000
        assert ("결제 금액", "결제 금액") in chosen.select
        assert chosen.types[chosen.select.index(("결제 금액", "결제 금액"))] == "number"
        by_date = spark_ingestion.plan(con, cards_parquet, {**partitioning, "region_column": "day"})
        assert by_date == "the region column day is date; its key is its text"
        empty = tmp_path / "empty.parquet"
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{cards_parquet}') LIMIT 0) TO '{empty}' (FORMAT parquet)"
        )
        assert spark_ingestion.plan(con, empty, partitioning) == "the file holds no rows"
    finally:
        con.close()

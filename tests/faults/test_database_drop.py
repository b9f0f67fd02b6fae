"""The database drops the worker's connection in the middle of a job (a PostgreSQL restart or
failover, a proxy cutting idle sessions). The task's transient-error retry runs the job again
and it ends succeeded, once."""

import pytest
from django.db import connection

from catalog.models import DatasetVersion
from tests import factories
from tests.faults.conftest import (
    WORKER_APPLICATION_NAME,
    duplicated,
    extract_effects,
    files_under,
    license_with_extract,
    once,
    upload,
    version_effects,
    wait_for,
    write_card_csv,
)
from transactions.models import Extract

pytestmark = pytest.mark.services

EXTRACT_ROWS = 1_000_000
INGEST_ROWS = 600_000


def terminate_worker_sessions() -> int:
    """pg_terminate_backend on every session of the test's workers; how many were cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [WORKER_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def test_database_connection_dropped_during_an_extract_and_an_ingestion(faults, world, tmp_path):
    worker = faults.worker("db-drop", wait=False)
    dataset = factories.published_dataset(world.center, with_data=True, row_count=EXTRACT_ROWS)
    curator = factories.member(world.center, "curator")
    source = write_card_csv(tmp_path / "upload.csv", rows=INGEST_ROWS)
    _license, extract = license_with_extract(world, dataset)
    worker.ready()

    wait_for(
        lambda: Extract.objects.filter(pk=extract.pk, status="running", progress__gt=0).exists(), timeout=120
    )
    cut_extract = terminate_worker_sessions()
    assert cut_extract >= 1
    extract = wait_for(
        lambda: Extract.objects.filter(pk=extract.pk, status__in=["succeeded", "failed"]).first(),
        timeout=180,
        message=lambda: (
            "the extract did not finish after its worker's database connection was dropped "
            f"(it is {Extract.objects.get(pk=extract.pk).status})"
        ),
    )
    from_extract = extract_effects(extract)

    version = upload(curator, factories.DatasetFactory(center=world.center), source)
    wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status="ingesting", progress__gt=0).exists(),
        timeout=120,
        interval=0.02,
    )
    cut_ingest = terminate_worker_sessions()
    assert cut_ingest >= 1
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status__in=["ready", "failed"]).first(),
        timeout=180,
    )
    from_version = version_effects(version)
    retries = worker.log().count("Retry in")
    completed = int(extract.status == "succeeded") + int(version.status == "ready")
    twice = duplicated(from_extract) + duplicated(from_version)
    faults.report(
        "database connection dropped during a task",
        queued=2, completed=completed, recovered=retries, duplicated=twice, failed=0,
        notes=f"extract (csv_bom, {extract.row_count:,} rows): {cut_extract} worker session(s) terminated; "
        f"{extract.attempts} attempts; effects: {from_extract}\ningestion (CSV, {version.row_count:,} "
        f"rows): {cut_ingest} worker session(s) terminated; {version.attempts} attempts; effects: "
        f"{from_version}\nrecovered = task retries after OperationalError (see the worker log)",
    )  # fmt: skip
    assert (completed, retries, twice) == (2, 2, 0)
    assert (from_extract, from_version) == (once(from_extract), once(from_version))
    assert (extract.attempts, version.attempts) == (2, 2)
    assert worker.log().count("Retry in") == worker.log().count("retry: Retry in") == 2
    assert "OperationalError" in worker.log()
    assert files_under(faults.work_dir) == []

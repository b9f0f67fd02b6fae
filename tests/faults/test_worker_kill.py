"""SIGKILL a worker in the middle of a job. Nothing is lost (the sweep finds the job and a worker
finishes it), nothing runs its effect twice, no partial file is ever visible."""

import pytest

from catalog.models import DatasetVersion
from tests import factories
from tests.faults.conftest import (
    duplicated,
    extract_effects,
    files_under,
    license_with_extract,
    once,
    storage_files,
    sweep_extracts,
    sweep_versions,
    upload,
    version_effects,
    wait_for,
    write_card_csv,
)
from transactions.models import Extract

pytestmark = pytest.mark.services

EXTRACT_ROWS = 1_000_000  # a few seconds of building: time to be killed in the middle
INGEST_ROWS = 600_000


def test_sigkill_of_the_pool_process_during_an_extract(faults, world):
    worker = faults.worker("extract-kill", wait=False)
    dataset = factories.published_dataset(world.center, with_data=True, row_count=EXTRACT_ROWS)
    license, extract = license_with_extract(world, dataset)  # the license's file is queued
    worker.ready()

    running = wait_for(
        lambda: Extract.objects.filter(pk=extract.pk, status="running", progress__gte=20).first(),
        timeout=120,
        interval=0.02,
    )
    child = worker.kill_child()
    killed_at = running.progress
    # The main process sees its pool process die and puts the message back (acks_late +
    # reject_on_worker_lost); the new pool process gets it, finds the row `running` inside its
    # deadline and leaves it alone: a delivery never starts a second build of a running job.
    worker.wait_for_log("WorkerLostError")
    worker.wait_for_log("succeeded in", count=1)
    assert "'running'" in worker.log().rsplit("succeeded in", 1)[1].splitlines()[0]
    extract.refresh_from_db()
    assert (extract.status, extract.attempts, extract.file) == ("running", 1, "")
    assert storage_files(f"extracts/{license.pk}/{extract.pk}") == [], "nothing partial in storage"
    leftovers = files_under(faults.work_dir)  # the killed build's private directory

    # The beat sweep, once the run deadline has passed, queues it again; it is built once.
    assert sweep_extracts() == [extract.pk]
    extract = wait_for(
        lambda: Extract.objects.filter(pk=extract.pk, status__in=["succeeded", "failed"]).first(), timeout=180
    )
    effects = extract_effects(extract)
    completed = Extract.objects.filter(pk=extract.pk, status="succeeded").count()
    faults.report(
        "SIGKILL of the pool process during an extract",
        queued=1, completed=completed, recovered=1, duplicated=duplicated(effects), failed=0,
        attempts=extract.attempts,
        notes=f"csv_bom, {extract.row_count:,} rows; pool process {child} killed at {killed_at}%; the "
        f"redelivered message answered 'running' without building\neffects: {effects}\nthe killed build's "
        f"work files, removed by the sweep: {', '.join(leftovers)}",
    )  # fmt: skip
    assert (completed, duplicated(effects), effects) == (1, 0, once(effects))
    assert (extract.attempts, extract.row_count) == (2, EXTRACT_ROWS)
    assert files_under(faults.work_dir) == [], "the sweep removed the killed build's work files"


def test_sigkill_of_the_whole_worker_during_ingestion(faults, world, tmp_path):
    first = faults.worker("ingest-kill", wait=False)
    curator = factories.member(world.center, "curator")
    dataset = factories.DatasetFactory(center=world.center)
    source = write_card_csv(tmp_path / "upload.csv", rows=INGEST_ROWS)
    version = upload(curator, dataset, source)
    first.ready()

    # Killed while converting to Parquet (progress 55-80%): a partial Parquet file exists.
    running = wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status="ingesting", progress__gte=56).first(),
        timeout=120,
        interval=0.02,
    )
    first.kill()  # main process and pool: a lost machine; its message stays unacknowledged
    killed_at = running.progress
    version.refresh_from_db()
    assert (version.status, version.attempts, version.parquet) == ("ingesting", 1, "")
    folder = f"datasets/{dataset.pk}/versions/{version.number}"
    assert storage_files(folder) == [], "nothing partial in storage"
    assert faults.queue_length() == 0  # the message is not coming back before the visibility timeout
    leftovers = files_under(faults.work_dir)

    # A fresh worker gets nothing: the job is lost until the sweep finds it.
    second = faults.worker("ingest-fresh").consumes()
    assert "catalog.tasks.ingest_version[" not in second.log(), "no message reached the fresh worker"
    assert DatasetVersion.objects.get(pk=version.pk).attempts == 1
    assert sweep_versions() == [version.pk]
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=version.pk, status__in=["ready", "failed"]).first(),
        timeout=180,
    )
    effects = version_effects(version)
    completed = int(version.status == "ready")
    faults.report(
        "SIGKILL of the whole worker during ingestion",
        queued=1, completed=completed, recovered=1, duplicated=duplicated(effects), failed=0,
        attempts=version.attempts,
        notes=f"CSV, {version.row_count:,} rows; worker (main and pool process) killed at {killed_at}%: "
        f"the message was lost with it\neffects: {effects}\nthe killed run's work files, removed by the "
        f"sweep: {', '.join(leftovers)}",
    )  # fmt: skip
    assert (completed, duplicated(effects), effects) == (1, 0, once(effects))
    assert (version.attempts, version.row_count) == (2, INGEST_ROWS)
    assert files_under(faults.work_dir) == [], "the sweep removed the killed run's work files"
    assert files_under(faults.duckdb_temp_dir) == []

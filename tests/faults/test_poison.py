"""Jobs that fail every time. However they fail — an error that no retry cures, or taking their
worker process down with them each time (the kernel's OOM killer, a crash in native code) —
they end `failed` with a reason after a bounded number of attempts, and the worker goes on to
do the next job."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import translation

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
    wait_for,
    write_card_csv,
)
from transactions.models import Extract

pytestmark = pytest.mark.services

CRASHING_EXTRACT_ROWS = 1_000_000
CRASHING_INGEST_ROWS = 600_000


def translated(message: str, **values) -> str:
    """`message` as the workers write it (in the site's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext(message) % values


def answered_running(worker) -> int:
    """Deliveries that found their job `running` elsewhere and left it alone."""
    return worker.log().count("s: 'running'")


def test_poison_jobs_end_failed_after_bounded_attempts(faults, world, tmp_path):
    worker = faults.worker("poison", wait=False)
    curator = factories.member(world.center, "curator")
    corrupt = factories.published_dataset(world.center, with_data=True, row_count=100)
    Path(default_storage.path(corrupt.current_version.parquet)).write_bytes(b"PAR1 not a Parquet file")
    crashing = factories.published_dataset(world.center, with_data=True, row_count=CRASHING_EXTRACT_ROWS)
    healthy = factories.published_dataset(world.center, with_data=True, row_count=500)
    source = write_card_csv(tmp_path / "upload.csv", rows=CRASHING_INGEST_ROWS)
    worker.ready()

    # 1. An error no retry cures: the version's Parquet file is corrupt.
    _license, bad = license_with_extract(world, corrupt)
    bad = wait_for(lambda: Extract.objects.filter(pk=bad.pk, status__in=["succeeded", "failed"]).first())
    assert bad.status == "failed" and bad.attempts == 1
    assert "does not match" in bad.error and bad.file == ""

    # 2. An ingestion that takes its worker process down every time it runs.
    version = upload(curator, factories.DatasetFactory(center=world.center), source)
    ingest_kills = 0
    while True:
        row = wait_for(
            lambda: (
                DatasetVersion.objects.filter(pk=version.pk)
                .exclude(status="ingesting", attempts__lte=ingest_kills)
                .exclude(status="uploaded")
                .first()
            ),
            timeout=120,
            interval=0.02,
        )
        if row.status != "ingesting":
            break
        assert row.attempts <= settings.INGEST_MAX_ATTEMPTS, (
            f"the poison ingestion started a {row.attempts}th time (INGEST_MAX_ATTEMPTS is "
            f"{settings.INGEST_MAX_ATTEMPTS}): every redelivery starts it again, for ever"
        )
        worker.kill_child()
        ingest_kills += 1
    version.refresh_from_db()
    assert (version.status, version.attempts) == ("failed", settings.INGEST_MAX_ATTEMPTS)
    assert version.error == translated(
        "Ingestion did not finish after %(n)s attempts. Try uploading again.", n=settings.INGEST_MAX_ATTEMPTS
    )
    assert storage_files(f"datasets/{version.dataset_id}/versions/{version.number}") == []
    assert sweep_versions() == []  # nothing left to re-queue; it removes the killed runs' work files

    # 3. An extract that takes its worker process down every time it runs.
    _license, job = license_with_extract(world, crashing)
    extract_kills = sweeps = 0
    while True:
        row = wait_for(
            lambda: (
                Extract.objects.filter(pk=job.pk)
                .exclude(status="running", attempts__lte=extract_kills)
                .exclude(status="queued")
                .first()
            ),
            timeout=120,
            interval=0.02,
        )
        if row.status != "running":
            break
        answered = answered_running(worker)
        worker.kill_child()
        extract_kills += 1
        # Redelivered at once (reject_on_worker_lost), found `running`, left alone: no loop.
        wait_for(lambda: answered_running(worker) > answered, timeout=60)
        sweeps += 1
        if not sweep_extracts():
            break
        assert extract_kills <= settings.EXTRACT_MAX_ATTEMPTS
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", settings.EXTRACT_MAX_ATTEMPTS)
    assert job.error == translated(
        "The file could not be built after %(n)s attempts.", n=settings.EXTRACT_MAX_ATTEMPTS
    )
    assert storage_files(f"extracts/{job.license_id}/{job.pk}") == []
    assert files_under(faults.work_dir) == [], "the sweeps removed the killed builds' work files"

    # 4. The worker is fine: the next job succeeds.
    _license, good = license_with_extract(world, healthy)
    good = wait_for(lambda: Extract.objects.filter(pk=good.pk, status__in=["succeeded", "failed"]).first())
    effects = extract_effects(good)
    failed = (
        Extract.objects.filter(status="failed").count()
        + DatasetVersion.objects.filter(status="failed").count()
    )
    faults.report(
        "poison jobs",
        queued=4, completed=int(good.status == "succeeded"), recovered=0, duplicated=duplicated(effects),
        failed=failed,
        notes=f"corrupt Parquet extract: failed at once ({bad.attempts} attempt), no retry: {bad.error[:70]!r}\n"
        f"ingestion crashing its worker: killed {ingest_kills} times, failed after {version.attempts} "
        f"attempts\nextract crashing its worker: killed {extract_kills} times, {sweeps} sweeps, failed after "
        f"{job.attempts} attempts\nthen a healthy extract on the same worker: {good.status}, effects {effects}",
    )  # fmt: skip
    assert (good.status, failed, duplicated(effects), effects) == ("succeeded", 3, 0, once(effects))
    assert (ingest_kills, extract_kills) == (settings.INGEST_MAX_ATTEMPTS, settings.EXTRACT_MAX_ATTEMPTS)
    assert worker.alive()

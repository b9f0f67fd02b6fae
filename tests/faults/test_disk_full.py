"""The worker's temporary directory fills up in the middle of a build. The task retries (a full
disk may be freed), a bounded number of times, then the extract ends `failed` with a reason;
no partial file is left anywhere, and the next job that fits succeeds."""

import os
import shutil
import subprocess

import pytest
from django.conf import settings
from django.utils import translation

from tests import factories
from tests.faults.conftest import (
    duplicated,
    extract_effects,
    files_under,
    license_with_extract,
    once,
    require_services,
    storage_files,
    wait_for,
)
from transactions.models import Extract
from transactions.tasks import build_extract

pytestmark = pytest.mark.services

CAP = "8m"
ROWS = 300_000  # about 25 MB of CSV: three times what the work directory can hold


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs capped at CAP (mounting needs root, which CI has)."""
    require_services()
    path = tmp_path / "small"
    path.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a size-capped tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={CAP}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_temp_directory_fails_the_job_after_bounded_retries(small_disk, faults, world):
    work, spill = small_disk / "work", small_disk / "duckdb"
    worker = faults.worker("disk-full", wait=False, JANGTEO_WORK_DIR=str(work), DUCKDB_TEMP_DIR=str(spill))
    too_big = factories.published_dataset(world.center, with_data=True, row_count=ROWS)
    fits = factories.published_dataset(world.center, with_data=True, row_count=200)
    _license, extract = license_with_extract(world, too_big)
    worker.ready()

    extract = wait_for(
        lambda: Extract.objects.filter(pk=extract.pk, status__in=["succeeded", "failed"]).first(), timeout=150
    )
    attempts = build_extract.max_retries + 1
    assert (extract.status, extract.attempts, extract.file) == ("failed", attempts, "")
    with translation.override(settings.LANGUAGE_CODE):
        reason = translation.gettext(
            "Building the file failed after %(n)s attempts (%(error)s). Ask for it again later."
        )
    assert extract.error in {reason % {"n": attempts, "error": e} for e in ("IOException", "OSError")}
    assert "No space left on device" in worker.log()
    retries = worker.log().count("Retry in")
    assert retries == build_extract.max_retries
    assert storage_files(f"extracts/{extract.license_id}/{extract.pk}") == []
    assert files_under(work) == [] and files_under(spill) == [], "no partial file left behind"
    assert shutil.disk_usage(small_disk).used < 1 << 20

    # The space is back: the next job that fits is built on the same worker.
    _license, small = license_with_extract(world, fits)
    small = wait_for(lambda: Extract.objects.filter(pk=small.pk, status__in=["succeeded", "failed"]).first())
    effects = extract_effects(small)
    faults.report(
        "a full temporary directory",
        queued=2, completed=int(small.status == "succeeded"), recovered=0, duplicated=duplicated(effects),
        failed=int(extract.status == "failed"),
        notes=f"work directory on a {CAP} tmpfs; csv_bom of {ROWS:,} rows: {retries} retries, "
        f"{extract.attempts} attempts, then failed: {extract.error!r}\nthen an extract of "
        f"{small.row_count} rows on the same worker: {small.status}, effects {effects}",
    )  # fmt: skip
    assert (small.status, duplicated(effects), effects) == ("succeeded", 0, once(effects))

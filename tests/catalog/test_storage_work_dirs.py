"""One sweep for the work directories killed workers leave behind: ingestion's `ingest-*` and
the extracts' `extract-*`, each removed by its own service's requeue once older than a run."""

import datetime
import os

import pytest
from django.utils import timezone

from catalog import services as catalog_services
from catalog.storage import remove_stale_work_dirs
from marketplace.actors import SYSTEM
from transactions import services as transaction_services


def _work_dir(root, name: str, *, age: datetime.timedelta):
    path = root / name
    path.mkdir(parents=True)
    (path / "part.parquet").write_bytes(b"x")
    stamp = (timezone.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def work_root(settings, tmp_path):
    settings.WORK_DIR = tmp_path / "work"
    return settings.WORK_DIR


def test_removes_only_directories_with_the_prefix_untouched_since_the_cutoff(work_root):
    old = _work_dir(work_root, "ingest-1-aaaa", age=datetime.timedelta(hours=3))
    fresh = _work_dir(work_root, "ingest-2-bbbb", age=datetime.timedelta(minutes=5))
    other = _work_dir(work_root, "extract-3-cccc", age=datetime.timedelta(hours=3))
    cache = _work_dir(work_root, "cache", age=datetime.timedelta(days=30))
    a_file = work_root / "ingest-file"
    a_file.write_bytes(b"not a directory")
    os.utime(a_file, (0, 0))

    remove_stale_work_dirs("ingest-", timezone.now() - datetime.timedelta(hours=1))

    assert not old.exists()
    assert fresh.exists() and other.exists() and cache.exists() and a_file.exists()


def test_a_missing_work_dir_is_nothing_to_do(settings, tmp_path):
    settings.WORK_DIR = tmp_path / "never-created"
    remove_stale_work_dirs("extract-", timezone.now())
    assert not settings.WORK_DIR.exists()


def test_an_empty_prefix_is_refused_rather_than_sweeping_everything(work_root):
    kept = _work_dir(work_root, "cache", age=datetime.timedelta(days=30))
    with pytest.raises(ValueError):
        remove_stale_work_dirs("", timezone.now())
    assert kept.exists()


@pytest.mark.django_db
def test_each_requeue_sweeps_its_own_stale_work_dirs(work_root, settings):
    ingest_old = _work_dir(
        work_root, "ingest-1-aaaa", age=settings.INGEST_RUN_DEADLINE + datetime.timedelta(minutes=1)
    )
    ingest_running = _work_dir(work_root, "ingest-2-bbbb", age=settings.INGEST_RUN_DEADLINE / 2)
    extract_old = _work_dir(
        work_root, "extract-1-aaaa", age=settings.EXTRACT_RUN_DEADLINE + datetime.timedelta(minutes=1)
    )
    extract_running = _work_dir(work_root, "extract-2-bbbb", age=settings.EXTRACT_RUN_DEADLINE / 2)

    assert catalog_services.versions_requeue_stuck(actor=SYSTEM) == []
    assert not ingest_old.exists() and ingest_running.exists()
    assert extract_old.exists()

    assert transaction_services.extracts_requeue_stuck(actor=SYSTEM) == []
    assert not extract_old.exists() and extract_running.exists()
    assert ingest_running.exists()

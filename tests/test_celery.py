"""The Celery round trip: a real worker process takes a task from the broker and its result
lands in the database the test reads."""

import pytest

from marketplace.models import WorkerHeartbeat
from marketplace.tasks import worker_heartbeat
from tests.services import broker_is_redis, database_is_postgres, wait_until


@pytest.mark.services
def test_real_worker_runs_a_task_and_writes_the_database(celery_worker_process):
    # A task sent through the broker is run by the worker process and its result committed to
    # the database this test reads; each later task finds the row and counts once more.
    WorkerHeartbeat.objects.all().delete()
    worker_heartbeat.delay()
    beat = wait_until(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-").first(), timeout=60
    )
    before = beat.task_count
    worker_heartbeat.delay()
    wait_until(lambda: WorkerHeartbeat.objects.get(pk=beat.pk).task_count == before + 1, timeout=60)


@pytest.mark.services
def test_ci_runs_on_postgresql_and_redis():
    """Skips on the embedded defaults; with REQUIRE_SERVICES=1 (CI) the skip is a failure."""
    if not database_is_postgres():
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    if not broker_is_redis():
        pytest.skip("CELERY_BROKER_URL does not point at Redis")

"""The Celery round trip: a real worker process takes a task from the broker and its result
lands in the database the test reads."""

import pytest

from marketplace.models import WorkerHeartbeat
from marketplace.tasks import worker_heartbeat
from tests.services import broker_is_redis, database_is_postgres, wait_until


@pytest.mark.services
def test_real_worker_runs_a_task_and_writes_the_database(celery_worker_process):
    worker_heartbeat.delay()
    beat = wait_until(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-").first(), timeout=60
    )
    assert beat.task_count == 1
    worker_heartbeat.delay()
    wait_until(lambda: WorkerHeartbeat.objects.get(pk=beat.pk).task_count == 2, timeout=60)


@pytest.mark.services
def test_ci_runs_on_postgresql_and_redis():
    """Skips on the embedded defaults; with REQUIRE_SERVICES=1 (CI) the skip is a failure."""
    if not database_is_postgres():
        pytest.skip("DATABASE_URL does not point at PostgreSQL")
    if not broker_is_redis():
        pytest.skip("CELERY_BROKER_URL does not point at Redis")

"""Redis restarts with 100 jobs queued. It keeps nothing on disk, so every queued message is
gone; the jobs are rows in PostgreSQL, and the sweep queues them again once they have waited
past EXTRACT_QUEUE_DEADLINE. All 100 are built, none twice."""

import pytest
from django.db.models import Count

from catalog.models import Offer
from marketplace.models import AuditEvent
from tests import factories
from tests.faults.conftest import (
    RECORDS,
    audit_count,
    license_with_extract,
    redis_answers,
    redis_is_local,
    restart_redis,
    start_redis,
    storage_files,
    sweep_extracts,
    wait_for,
)
from transactions.models import Extract

pytestmark = pytest.mark.services

JOBS = 100


def test_redis_restart_with_100_jobs_queued(faults, world):
    if not redis_is_local():
        pytest.skip("restarting Redis needs the local server at 127.0.0.1:6379")
    dataset = factories.published_dataset(world.center, with_data=True, row_count=50)
    extracts = []
    for _ in range(JOBS):  # one license per offer; issuing it queues its file
        offer = factories.OfferFactory(dataset=dataset, fields=RECORDS, approval=Offer.Approval.AUTOMATIC)
        extracts.append(license_with_extract(world, dataset, offer=offer)[1])
    ids = [e.pk for e in extracts]
    queued_before = faults.queue_length()
    assert queued_before == JOBS  # no worker is running: every job waits in Redis

    try:
        restart_redis()
    finally:
        if not redis_answers():
            start_redis()
    queued_after = faults.queue_length()
    assert queued_after == 0, "Redis kept nothing: the queued messages are lost"

    worker = faults.worker("after-restart", concurrency=2).consumes()
    # Nothing reaches the worker (it took the probe sent after them): the jobs are lost until
    # the sweep finds them.
    assert not wait_for_any_started(ids, seconds=3)
    assert worker.log().count("received") == worker.log().count("marketplace.tasks.worker_heartbeat[") // 2

    recovered = sweep_extracts()
    assert sorted(recovered) == sorted(ids)
    wait_for(
        lambda: Extract.objects.filter(pk__in=ids, status__in=["succeeded", "failed"]).count() == JOBS,
        timeout=300,
        interval=0.5,
        message=lambda: f"{Extract.objects.filter(pk__in=ids, status='succeeded').count()} of {JOBS} built",
    )
    completed = Extract.objects.filter(pk__in=ids, status="succeeded").count()
    attempts = dict(Extract.objects.filter(pk__in=ids).values_list("attempts").annotate(n=Count("id")))
    built = (
        AuditEvent.objects.filter(
            verb="transactions.extract.built", target_type="transactions.extract", target_id__in=map(str, ids)
        )
        .values("target_id")
        .annotate(n=Count("id"))
    )
    duplicated = sum(row["n"] - 1 for row in built)
    files = sum(len(storage_files(f"extracts/{e.license_id}/{e.pk}")) for e in extracts)
    assert audit_count("transactions.extract.built", extracts[0]) == 1
    faults.report(
        "Redis restarted with 100 jobs queued",
        queued=JOBS, lost=queued_before - queued_after, recovered=len(recovered), completed=completed,
        duplicated=duplicated, files=files,
        notes=f"jobs by attempts: {attempts}; worker concurrency 2",
    )  # fmt: skip
    assert (completed, duplicated, files, len(built)) == (JOBS, 0, JOBS, JOBS)
    assert attempts == {1: JOBS}, "each job built once, by the sweep's message"


def wait_for_any_started(ids, *, seconds: float) -> bool:
    try:
        wait_for(
            lambda: Extract.objects.filter(pk__in=ids).exclude(status="queued").exists(), timeout=seconds
        )
    except AssertionError:
        return False
    return True

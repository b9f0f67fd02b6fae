"""One lifecycle for every long job (DESIGN.md, reliability rules; STYLE.md habit 6).

A job is a database row (a concrete `Job`: a dataset version's ingestion, an extract). The
row, not the broker, is the truth: a worker *claims* it under a row lock, works outside any
transaction while reporting *progress* on the row, and *finishes* it only if it still holds
it; anything that goes wrong *fails* it with a reason a person can act on. A periodic sweep
*requeues* the jobs a dead worker or broker lost, and fails those that keep dying.

Each concrete model keeps its own state names (a version ends `ready`, an extract
`succeeded`) by naming them in the class attributes below; the app keeps only its own work.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
from celery import shared_task
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# Errors worth another try: the database, the disk or memory, not the input.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    OSError,
    MemoryError,
    duckdb.IOException,
    duckdb.OutOfMemoryException,
)


class Job(models.Model):
    """The columns every job has. A concrete model declares `status` with its own choices and
    names its states in QUEUED / RUNNING / SUCCEEDED / FAILED; `DONE` lists the states a job
    never leaves by failing (e.g. a published version, an expired extract)."""

    status = models.CharField(_("status"), max_length=16)
    progress = models.PositiveSmallIntegerField(
        _("progress"), default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    QUEUED: str
    RUNNING: str
    SUCCEEDED: str
    FAILED: str
    DONE: tuple[str, ...] = ()
    # Settings `<prefix>_QUEUE_DEADLINE`, `_RUN_DEADLINE` (timedelta) and `_MAX_ATTEMPTS`.
    SETTINGS_PREFIX: str
    # A delivery that finds the job running restarts it at once (the message comes back only
    # when its worker died) instead of leaving it to the sweep past the run deadline.
    RESTART_RUNNING = False
    # Why a job that kept killing its worker was given up.
    GAVE_UP = _("The job did not finish after %(n)s attempts.")

    class Meta:
        abstract = True

    @classmethod
    def job_setting(cls, name: str):
        return getattr(settings, f"{cls.SETTINGS_PREFIX}_{name}")

    @classmethod
    def job_lock(cls, pk: int):
        """The row under a lock, with what the model's hooks read (override to join more)."""
        return cls.objects.select_for_update(of=("self",)).get(pk=pk)

    def job_claimed_fields(self) -> list[str]:
        """Reset what a previous attempt left; returns the fields it changed."""
        return []


@dataclasses.dataclass(frozen=True)
class Claim:
    job: Job
    claimed: bool


def job_claim(
    model: type[Job],
    pk: int,
    *,
    check: Callable[[Job], str | None] | None = None,
    failed: Callable[[Job], object] | None = None,
    now=None,
) -> Claim:
    """Take the job for this worker, or say why not (`claimed` False with the row as it is).

    Not claimed: a job already finished or failed, and one another worker started within the
    run deadline (unless the model says RESTART_RUNNING). A job whose worker died in it starts
    over, up to the maximum attempts, after which it is failed (a job that takes down every
    worker it reaches must not be redelivered for ever). `check` may refuse the work with a
    reason (the job then fails). `failed(job)` runs in the same transaction when the claim
    fails the job (to write its audit event)."""
    now = now or timezone.now()
    with transaction.atomic():
        job = model.job_lock(pk)
        if job.status not in (model.QUEUED, model.RUNNING):
            return Claim(job, False)
        if job.status == model.RUNNING:
            recent = job.started_at and now - job.started_at < model.job_setting("RUN_DEADLINE")
            if recent and not model.RESTART_RUNNING:
                return Claim(job, False)
            if job.attempts >= model.job_setting("MAX_ATTEMPTS"):
                return _refuse(job, str(model.GAVE_UP % {"n": job.attempts}), failed)
        reason = check(job) if check else None
        if reason:
            return _refuse(job, reason, failed)
        job.status, job.progress, job.error = model.RUNNING, 0, ""
        job.attempts, job.started_at, job.finished_at = job.attempts + 1, now, None
        extra = job.job_claimed_fields()
        job.save(
            update_fields=["status", "progress", "error", "attempts", "started_at", "finished_at", *extra]
        )
    return Claim(job, True)


def _refuse(job: Job, reason: str, failed: Callable[[Job], object] | None) -> Claim:
    _fail_locked(job, reason)
    if failed:
        failed(job)
    return Claim(job, False)


class ProgressReporter:
    """`reporter(pct)` writes a running job's progress onto its row, only when the whole
    percentage moves; 100 is written by `job_finish`, never here."""

    def __init__(self, model: type[Job], pk: int):
        self.model, self.pk, self.last = model, pk, -1

    def __call__(self, pct: float) -> None:
        pct = max(0, min(99, int(pct)))
        if pct > self.last:
            self.last = pct
            self.model.objects.filter(pk=self.pk, status=self.model.RUNNING).update(progress=pct)


def job_finish(model: type[Job], pk: int, record: Callable[[Job], None]) -> Claim:
    """End a running job as succeeded; `record(job)` sets its results on the locked row before
    it is saved (call inside the caller's transaction to add an audit event). Not finished
    (`claimed` False) when the job is no longer running: it failed or was re-queued meanwhile,
    and the caller must discard what it built."""
    job = model.job_lock(pk)
    if job.status != model.RUNNING:
        return Claim(job, False)
    record(job)
    job.status, job.progress, job.error = model.SUCCEEDED, 100, ""
    job.finished_at = timezone.now()
    job.save()
    return Claim(job, True)


def _fail_locked(job: Job, message: str) -> Job:
    job.status, job.error, job.finished_at = type(job).FAILED, message, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job


def job_fail(model: type[Job], pk: int, message: str) -> Claim:
    """End a job as failed with `message`. A job already succeeded (or in a `DONE` state) is
    left alone (`claimed` False). Run inside the caller's transaction to add an audit event."""
    job = model.job_lock(pk)
    if job.status in (model.SUCCEEDED, *model.DONE):
        return Claim(job, False)
    return Claim(_fail_locked(job, message), True)


def job_release(model: type[Job], pk: int) -> None:
    """A running job gives its row back to the queue, for the task's retry to claim again."""
    model.objects.filter(pk=pk, status=model.RUNNING).update(status=model.QUEUED, queued_at=timezone.now())


def jobs_stuck(model: type[Job], *, now: datetime) -> tuple[list[int], list[tuple[int, int]]]:
    """Jobs nobody is working on: queued past the queue deadline, or running past the run
    deadline. Returns (ids to queue again, which are marked queued now; (id, attempts) of the
    jobs at their maximum attempts, for the caller to fail)."""
    stuck = model.objects.filter(
        Q(status=model.QUEUED, queued_at__lt=now - model.job_setting("QUEUE_DEADLINE"))
        | Q(status=model.RUNNING, started_at__lt=now - model.job_setting("RUN_DEADLINE"))
    ).values_list("pk", "attempts")
    requeue, give_up = [], []
    for pk, attempts in stuck:
        if attempts >= model.job_setting("MAX_ATTEMPTS"):
            give_up.append((pk, attempts))
        else:
            requeue.append(pk)
    model.objects.filter(pk__in=requeue).update(status=model.QUEUED, queued_at=now)
    return requeue, give_up


def job_task(
    *,
    name: str,
    model: type[Job],
    fail: Callable[[int, str], object],
    retries_exhausted: str,
    internal_error: str,
    max_retries: int = 3,
    backoff: timedelta = timedelta(seconds=5),
    release: bool = True,
):
    """The one Celery task shape for a job: `@job_task(...)` over `work(job_id) -> str`.

    Delivered at least once (acks_late, requeued when the worker is lost); transient errors
    are retried with exponential backoff up to `max_retries` times, the row given back to the
    queue in between; when retries run out, or on any other error, `fail(job_id, reason)`
    ends the job with a readable reason instead of leaving it running. `release` False keeps
    the row running between retries (a step of a job whose row another task claimed)."""

    def decorate(work: Callable[[int], str]):
        @shared_task(
            bind=True,
            name=name,
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=TRANSIENT,
            retry_backoff=int(backoff.total_seconds()),
            retry_backoff_max=300,
            max_retries=max_retries,
        )
        def task(self, job_id: int) -> str:
            try:
                return work(job_id)
            except TRANSIENT as exc:
                # A connection the database dropped stays broken until closed; without this the
                # writes below fail too and the row stays running until the sweep.
                if not connection.in_atomic_block:
                    connection.close_if_unusable_or_obsolete()
                if self.request.retries >= self.max_retries:
                    tries = {"n": self.request.retries + 1, "error": type(exc).__name__}
                    fail(job_id, retries_exhausted % tries)
                    return "failed"
                if release:
                    job_release(model, job_id)
                raise
            except Exception:
                logger.exception("%s %s failed", name, job_id)
                fail(job_id, str(internal_error))
                raise

        task.__doc__ = work.__doc__
        return task

    return decorate


def enqueue(task_name: str, *args) -> None:
    """Queue the Celery task registered as `task_name` with `args` (ids). Services and hooks
    queue work by name, so they never import the tasks module that imports them; each app's
    AppConfig.ready() imports its tasks, which registers them (a KeyError names a task that no
    app registered)."""
    from celery import current_app

    current_app.tasks[task_name].delay(*args)

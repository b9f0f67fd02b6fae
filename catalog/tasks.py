from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from catalog import services, view_log
from catalog.models import DatasetVersion, VersionSource
from catalog.services import imports, risk_measurement, uploads
from marketplace.actors import SYSTEM
from marketplace.jobs import job_task

log = logging.getLogger(__name__)


def _fail(version_id: int, message: str) -> None:
    services.version_fail(actor=SYSTEM, version_id=version_id, message=message)


@job_task(
    name="catalog.tasks.ingest_version",
    model=DatasetVersion,
    fail=_fail,
    retries_exhausted=_("Ingestion failed after %(n)s attempts (%(error)s). Try uploading again."),
    internal_error=_(
        "An internal error stopped ingestion; the platform team has been told. Try again later."
    ),
)
def ingest_version(version_id: int) -> str:
    """Ingest one uploaded version (idempotent; see services.version_ingest)."""
    return services.version_ingest(actor=SYSTEM, version_id=version_id).status


def _fail_source(source_id: int, message: str) -> None:
    """A file that cannot be ingested for a reason outside it fails its version too."""
    imports.version_source_fail(actor=SYSTEM, source_id=source_id, message=message)


@job_task(
    name="catalog.tasks.ingest_source",
    model=VersionSource,
    fail=_fail_source,
    retries_exhausted=_("Ingesting an imported file failed after %(n)s attempts (%(error)s). Try again."),
    internal_error=_(
        "An internal error stopped ingestion; the platform team has been told. Try again later."
    ),
)
def ingest_source(source_id: int) -> str:
    """Ingest one file of an imported version; the last one queues join_sources."""
    return imports.version_source_ingest(actor=SYSTEM, source_id=source_id).status


@job_task(
    name="catalog.tasks.join_sources",
    model=DatasetVersion,
    fail=_fail,
    retries_exhausted=_("Ingestion failed after %(n)s attempts (%(error)s). Try uploading again."),
    internal_error=_(
        "An internal error stopped ingestion; the platform team has been told. Try again later."
    ),
    release=False,
)
def join_sources(version_id: int) -> str:
    """Make an imported version's ingested files one version (the chord's last step)."""
    return imports.version_sources_join(actor=SYSTEM, version_id=version_id).status


@shared_task
def sweep_stuck_versions() -> int:
    """Re-queue ingestion jobs lost by a dead worker or broker (see services.versions_requeue_stuck)."""
    ids = services.versions_requeue_stuck(actor=SYSTEM)
    for version_id in ids:
        ingest_version.delay(version_id)
    return len(ids)


@shared_task(ignore_result=True)
def flush_dataset_views() -> int:
    """Move the views buffered in Redis into the database (catalog.view_log)."""
    return view_log.flush()


@shared_task
def sweep_expired_uploads() -> int:
    """Remove resumable uploads left untouched past their expiry."""
    return uploads.uploads_sweep_expired(actor=SYSTEM)


@shared_task(ignore_result=True)
def keep_released_tables(version_id: int) -> dict:
    """Build the protected tables of a published version's open aggregate offers into the cache
    (catalog.released_cache.keep_for_version), ahead of the first extract or page view. A
    version no longer current is skipped; a table that cannot be built now is built by the first
    extract that needs it, as before."""
    import duckdb

    from catalog import released_cache

    version = DatasetVersion.objects.select_related("dataset").filter(pk=version_id).first()
    if version is None or version.dataset.current_version_id != version.pk:
        return {}
    try:
        return released_cache.keep_for_version(version)
    except (duckdb.Error, OSError) as exc:
        log.warning("protected tables of version %s not kept ahead: %s", version_id, exc)
        return {}


@shared_task(
    name="catalog.tasks.measure_offer_risk",
    # Acknowledged when taken, unlike the other jobs: a measurement may run for hours, longer than
    # the broker's visibility timeout, which would deliver it again meanwhile. A worker lost with
    # it is covered by the sweep, which re-queues a measurement silent for an hour.
    acks_late=False,
    ignore_result=True,
    soft_time_limit=settings.RISK_MEASURE_TIME_LIMIT,
    time_limit=settings.RISK_MEASURE_TIME_LIMIT + 300,
    # A Spark Connect server lost in the middle (catalog.spark raises ConnectionError): measured
    # again after a backoff, on Spark if the server is back, else on DuckDB (risk_reports routes
    # by whether it answers). When every try loses it, the sweep queues it again after an hour.
    autoretry_for=(ConnectionError,),
    retry_backoff=30,  # 30, 60, 120 s: no jitter, which could make a wait of 0 s
    retry_backoff_max=600,
    retry_jitter=False,
    max_retries=3,
)
def measure_offer_risk(offer_id: int, token: str) -> str:
    """Measure the risk report a record offer over a large version owes (see
    catalog.services.risk_measurement); the offer opens when it was asked to and passes. Past
    RISK_MEASURE_TIME_LIMIT the measurement stops and the offer's report is "failed". A lost
    Spark server is retried (above)."""
    try:
        return risk_measurement.offer_risk_measure(actor=SYSTEM, offer_id=offer_id, token=token)
    except SoftTimeLimitExceeded:
        log.warning("risk measurement of offer %s stopped at the time limit", offer_id)
        return risk_measurement.offer_risk_give_up(actor=SYSTEM, offer_id=offer_id, token=token)


@shared_task(ignore_result=True)
def sweep_stuck_risk_measurements() -> int:
    """Queue again the risk measurements a lost worker never finished."""
    stuck = risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM)
    for offer_id, token in stuck:
        measure_offer_risk.delay(offer_id, token)
    return len(stuck)

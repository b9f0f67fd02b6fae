from __future__ import annotations

from celery import shared_task
from django.utils.translation import gettext_lazy as _

from catalog import services
from catalog.models import DatasetVersion
from marketplace.actors import SYSTEM
from marketplace.jobs import job_task


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


@shared_task
def sweep_stuck_versions() -> int:
    """Re-queue ingestion jobs lost by a dead worker or broker (see services.versions_requeue_stuck)."""
    ids = services.versions_requeue_stuck(actor=SYSTEM)
    for version_id in ids:
        ingest_version.delay(version_id)
    return len(ids)

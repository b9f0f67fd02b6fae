from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection
from django.utils.translation import gettext as _

from catalog import services
from catalog.models import DatasetVersion
from marketplace.actors import SYSTEM


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, OSError, MemoryError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=3,
)
def ingest_version(self, version_id: int) -> str:
    """Ingest one uploaded version (idempotent; see services.version_ingest). Transient errors
    (database, disk, memory) are retried with backoff; when retries run out the version is
    marked failed with a reason instead of being left `ingesting`."""
    try:
        return services.version_ingest(actor=SYSTEM, version_id=version_id).status
    except (OperationalError, InterfaceError, OSError, MemoryError) as exc:
        if not connection.in_atomic_block:  # a connection the database dropped: reconnect for the write below
            connection.close_if_unusable_or_obsolete()
        if self.request.retries >= self.max_retries:
            services.version_fail(
                actor=SYSTEM,
                version_id=version_id,
                message=_("Ingestion failed after %(n)s attempts (%(error)s). Try uploading again.")
                % {"n": self.request.retries + 1, "error": type(exc).__name__},
            )
            return "failed"
        # The retry starts it again; a version left `ingesting` is one whose worker died in it.
        DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.INGESTING).update(
            status=DatasetVersion.Status.UPLOADED
        )
        raise
    except Exception:
        services.version_fail(
            actor=SYSTEM,
            version_id=version_id,
            message=_(
                "An internal error stopped ingestion; the platform team has been told. Try again later."
            ),
        )
        raise


@shared_task
def sweep_stuck_versions() -> int:
    """Re-queue ingestion jobs lost by a dead worker or broker (see services.versions_stuck)."""
    ids = services.versions_requeue_stuck(actor=SYSTEM)
    for version_id in ids:
        ingest_version.delay(version_id)
    return len(ids)

"""Thin Celery tasks: ids in (or nothing, for beat sweeps), services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.jobs import job_task
from transactions import selectors, services
from transactions.models import Extract, Notification

logger = logging.getLogger(__name__)

EMAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5}


@shared_task(name="transactions.tasks.send_notification_emails", **EMAIL_RETRY)
def send_notification_emails(notification_ids: list[int]) -> int:
    """E-mail each notification to its recipient once: a notification already e-mailed is
    skipped, so a repeated delivery of this task sends nothing twice."""
    pending = (
        Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True)
        .select_related("recipient")
        .order_by("pk")
    )
    sent = 0
    with get_connection() as connection:
        for notification in pending:
            link = settings.SITE_URL.rstrip("/") + notification.url if notification.url else ""
            body = notification.body + (f"\n\n{link}" if link else "")
            EmailMessage(
                subject=f"[Jangteo] {notification.title}",
                body=body,
                to=[notification.recipient.email],
                connection=connection,
            ).send()
            Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now())
            sent += 1
    return sent


@shared_task(name="transactions.tasks.expire_licenses")
def expire_licenses() -> int:
    """Hourly: end active licenses whose window has passed."""
    now = timezone.now()
    expired = 0
    for license in selectors.licenses_due_for_expiry(now).only("pk"):
        try:
            services.license_expire(actor=SYSTEM, license=license, now=now)
            expired += 1
        except errors.InvalidState:  # revoked or renewed meanwhile
            continue
    return expired


@shared_task(name="transactions.tasks.lapse_overdue_requests")
def lapse_overdue_requests() -> int:
    """Daily: close requests nobody reviewed within REQUEST_REVIEW_DEADLINE_DAYS."""
    now = timezone.now()
    lapsed = 0
    for access_request in selectors.access_requests_overdue(now).only("pk", "state"):
        try:
            services.access_request_lapse(actor=SYSTEM, access_request=access_request, now=now)
            lapsed += 1
        except errors.InvalidState:  # reviewed meanwhile
            continue
    return lapsed


@shared_task(name="transactions.tasks.send_renewal_reminders")
def send_renewal_reminders() -> int:
    """Daily: remind licensees 7 days before their license ends."""
    return services.license_send_renewal_reminders(actor=SYSTEM)


# --- extracts -------------------------------------------------------------------------------


def _fail_extract(extract_id: int, message: str) -> None:
    services.extract_fail(actor=SYSTEM, extract_id=extract_id, message=message)


@job_task(
    name="transactions.tasks.build_extract",
    model=Extract,
    fail=_fail_extract,
    retries_exhausted=_("Building the file failed after %(n)s attempts (%(error)s). Ask for it again later."),
    internal_error=_(
        "An internal error stopped the build; the platform team has been told. Try again later."
    ),
)
def build_extract(extract_id: int) -> str:
    """Build one extract (idempotent; see services.extract_build)."""
    return services.extract_build(actor=SYSTEM, extract_id=extract_id).status


@shared_task(name="transactions.tasks.sweep_stuck_extracts")
def sweep_stuck_extracts() -> int:
    """Every few minutes: queue again the extracts a dead worker or broker lost."""
    ids = services.extracts_requeue_stuck(actor=SYSTEM)
    for extract_id in ids:
        build_extract.delay(extract_id)
    return len(ids)


@shared_task(name="transactions.tasks.purge_extract_files")
def purge_extract_files() -> int:
    """Daily: delete extract files past their retention; records and recipes stay."""
    return services.extracts_purge_files(actor=SYSTEM)


@shared_task(name="transactions.tasks.deliver_version")
def deliver_version(version_id: int) -> int:
    """A new version was published: queue it for licenses that receive updates."""
    return len(services.extracts_deliver_version(actor=SYSTEM, version_id=version_id))

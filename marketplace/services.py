from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketplace.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Record that a worker is alive. Idempotent per call: one row per worker, counter bumped."""
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
            hostname=hostname, defaults={"seen_at": timezone.now(), "task_count": 1}
        )
        if not created:
            WorkerHeartbeat.objects.filter(pk=beat.pk).update(
                seen_at=timezone.now(), task_count=F("task_count") + 1
            )
            beat.refresh_from_db()
    return beat

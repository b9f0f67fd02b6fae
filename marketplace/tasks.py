from celery import shared_task

from marketplace import services


@shared_task(name="marketplace.tasks.worker_heartbeat")
def worker_heartbeat() -> None:
    services.worker_heartbeat_record(hostname=worker_heartbeat.request.hostname or "unknown")

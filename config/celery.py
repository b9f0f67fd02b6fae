"""The Celery app. Configuration lives in settings (CELERY_* names); tasks are discovered in
each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("jangteo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _report_worker_ready(sender=None, **kwargs):
    """A worker shows up on /healthz as soon as it starts, not a beat interval later."""
    from marketplace.services import worker_heartbeat_record

    worker_heartbeat_record(hostname=sender.hostname)

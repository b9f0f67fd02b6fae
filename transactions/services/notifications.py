"""In-app notifications: marking them read (creating them is `transactions.notifications`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from marketplace.authz import authorize
from transactions import permissions
from transactions.models import Notification


def notification_mark_read(*, actor, notification: Notification) -> Notification:
    """Mark one of the actor's notifications read (already read: unchanged)."""
    authorize(permissions.notification_mark_read, actor, notification, can_view=permissions.notification_view)
    with transaction.atomic():
        locked = Notification.objects.select_for_update().get(pk=notification.pk)
        if locked.read_at is None:
            locked.read_at = timezone.now()
            locked.save(update_fields=["read_at"])
    return locked


def notification_mark_all_read(*, actor) -> int:
    """Mark every unread notification of the actor read; returns how many changed."""
    authorize(permissions.notification_mark_all_read, actor)
    return Notification.objects.filter(recipient=actor, read_at__isnull=True).update(read_at=timezone.now())

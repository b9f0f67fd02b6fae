"""Writing the audit trail. Called by services only."""

from __future__ import annotations

from marketplace.actors import is_system
from marketplace.context import client_ip
from marketplace.models import AuditEvent


def audit_record(
    *,
    actor,
    verb: str,
    target,
    organization=None,
    other_organization=None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event. `verb` is namespaced: `accounts.organization.verified`."""
    user = None if actor is None or is_system(actor) else actor
    return AuditEvent.objects.create(
        actor=user,
        actor_label=str(actor) if actor is not None else "anonymous",
        verb=verb,
        organization=organization,
        other_organization=other_organization,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        before=before,
        after=after,
        ip=client_ip.get(),
    )

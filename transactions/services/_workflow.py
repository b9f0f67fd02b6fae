"""Helpers shared by the transactions services: locking, one history step, the acting party.
Private: only services call them, inside their transaction."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import Membership
from accounts.selectors import is_operator
from marketplace.actors import is_system
from marketplace.audit import audit_record
from transactions import permissions
from transactions.models import AccessRequest, RequestEvent


def _user(actor):
    return None if actor is None or is_system(actor) else actor


def _locked_request(pk: int) -> AccessRequest:
    """The request row, locked until the transaction ends (joined rows are read, not locked)."""
    return (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("offer__dataset__center", "organization", "terms")
        .get(pk=pk)
    )


def _acting_organization_id(actor, access_request: AccessRequest) -> int | None:
    """On whose behalf the actor acts on this request: the buyer, the center or the operator."""
    if _user(actor) is None:
        return None
    if permissions.is_buyer_party(actor, access_request):
        return access_request.organization_id
    if permissions.is_center_party(actor, access_request):
        return permissions.request_center_id(access_request)
    if is_operator(actor):
        return (
            Membership.objects.filter(user=actor, role=Membership.Role.OPERATOR)
            .values_list("organization_id", flat=True)
            .first()
        )
    return None


def _request_audit(access_request: AccessRequest, *, actor, verb: str, before=None, after=None):
    """An audit event both parties read: the buyer organization and the center."""
    return audit_record(
        actor=actor,
        verb=verb,
        target=access_request,
        organization=access_request.organization,
        other_organization=access_request.offer.dataset.center,
        before=before,
        after=after,
    )


def _record_step(
    access_request: AccessRequest,
    *,
    action: str,
    from_state: str,
    actor,
    note: str = "",
    scope_diff: dict | None = None,
    audit_after: dict | None = None,
) -> RequestEvent:
    """One line of the request's history plus its audit event."""
    event = RequestEvent.objects.create(
        access_request=access_request,
        action=action,
        from_state=from_state,
        to_state=access_request.state,
        actor=_user(actor),
        actor_label=str(actor),
        actor_organization_id=_acting_organization_id(actor, access_request),
        note=note,
        scope_diff=scope_diff or None,
    )
    after = {"state": access_request.state}
    if note:
        after["note"] = note
    if scope_diff:
        after["narrowed"] = scope_diff
    after.update(audit_after or {})
    _request_audit(
        access_request,
        actor=actor,
        verb=f"transactions.access_request.{action}",
        before={"state": from_state} if from_state else None,
        after=after,
    )
    return event


def _transition(
    access_request: AccessRequest,
    *,
    to_state: str,
    action: str,
    actor,
    note: str = "",
    scope_diff: dict | None = None,
    at=None,
    extra_fields: tuple[str, ...] = (),
    audit_after: dict | None = None,
) -> RequestEvent:
    """Move a locked request to `to_state` and record who, why and what was narrowed."""
    from_state = access_request.state
    access_request.state = to_state
    access_request.state_changed_at = at or timezone.now()
    access_request.save(update_fields=["state", "state_changed_at", "updated_at", *extra_fields])
    return _record_step(
        access_request,
        action=action,
        from_state=from_state,
        actor=actor,
        note=note,
        scope_diff=scope_diff,
        audit_after=audit_after,
    )

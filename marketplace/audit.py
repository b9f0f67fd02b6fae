"""Writing the audit trail. Called by services only."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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


# What the audit log's namespaced verbs say to a person: "<entity>.<action>" as two labels.
_ENTITIES = {
    "accounts.api_token": _("API token"),
    "accounts.invitation": _("Invitation"),
    "accounts.membership": _("Membership"),
    "accounts.organization": _("Organization"),
    "accounts.user": _("Account"),
    "catalog.dataset": _("Dataset"),
    "catalog.offer": _("Offer"),
    "catalog.version": _("Dataset version"),
    "catalog.upload": _("Resumable upload"),
    "transactions.access_request": _("Access request"),
    "transactions.extract": _("Data file"),
    "transactions.invoice": _("Invoice"),
    "transactions.license": _("License"),
    "transactions.leak": _("Leak trace"),
}
_ACTIONS = {
    "accepted": _("accepted"),
    "added": _("added"),
    "approved": _("approved"),
    "built": _("built"),
    "cancelled": _("cancelled"),
    "completed": _("completed"),
    "confirmed": _("confirmed"),
    "created": _("created"),
    "downloaded": _("downloaded"),
    "expired": _("expired"),
    "failed": _("failed"),
    "fields_updated": _("columns edited"),
    "imported": _("imported"),
    "ingested": _("ingested"),
    "invited": _("invited"),
    "invoice_voided": _("invoice voided"),
    "invoiced": _("invoiced"),
    "issued": _("issued"),
    "lapsed": _("lapsed"),
    "message_posted": _("message posted"),
    "paid": _("paid"),
    "published": _("published"),
    "purged": _("file purged"),
    "queued": _("queued"),
    "registered": _("registered"),
    "rejected": _("rejected"),
    "removed": _("removed"),
    "resubmitted": _("resubmitted"),
    "retired": _("retired"),
    "returned": _("returned for changes"),
    "revoked": _("revoked"),
    "revoked_all": _("all revoked"),
    "role_changed": _("role changed"),
    "signed_up": _("signed up"),
    "subjects_declared": _("data subjects declared"),
    "submitted": _("submitted"),
    "traced": _("traced"),
    "updated": _("updated"),
    "uploaded": _("uploaded"),
    "verified": _("verified"),
    "voided": _("voided"),
    "withdrawn": _("withdrawn"),
}


def verb_label(verb: str) -> str:
    """`transactions.access_request.invoiced` → "Access request: invoiced" (translated); an
    unknown verb is shown as it is."""
    entity, _dot, action = verb.rpartition(".")
    if entity not in _ENTITIES or action not in _ACTIONS:
        return verb
    return gettext("%(entity)s: %(action)s") % {"entity": _ENTITIES[entity], "action": _ACTIONS[action]}

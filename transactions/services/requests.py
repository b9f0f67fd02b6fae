"""Access requests: submit, edit, review, withdraw, lapse, and the message thread.

Every state change follows one shape (STYLE.md habit 2): check the rule → lock the request
row → check its state (409 when the move is not allowed, a quiet return when it already
happened) → save → history step + audit event → notifications (e-mails after commit).

    submitted ─┬─ automatic ─────────────────────────────┬─ free ──→ licensed
               └→ center_review ─→ [operator_review] ────┴─ priced → awaiting_payment → licensed
    review stages → changes_requested → (edit) → resubmitted → center_review
    review stages → rejected;  open states → withdrawn;  review stages → lapsed (deadline)
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organization
from accounts.permissions import organization_is_active
from catalog import risk_reports
from catalog.models import Dataset, Offer
from catalog.selectors import offer_snapshot
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.authz import authorize
from transactions import permissions, selectors
from transactions.ledger import ledger_check
from transactions.models import AccessRequest, License, RequestEvent, RequestMessage
from transactions.notifications import BUYER, CENTER, CENTER_ALL, OPERATORS, notify
from transactions.scope import SCOPE_KEYS, scope_difference, scope_narrow, scope_validate
from transactions.services._workflow import (
    _acting_organization_id,
    _locked_request,
    _record_step,
    _request_audit,
    _transition,
)
from transactions.services.invoices import _invoice_void_locked, invoice_issue
from transactions.services.licenses import _license_audit, _locked_license, license_issue

State = AccessRequest.State
Action = RequestEvent.Action
PURPOSE_MAX_LENGTH = 5000
MESSAGE_MAX_LENGTH = 5000

# Where a stage's approval leads (for a quiet return when someone approved it already).
_AFTER_APPROVAL = {
    State.CENTER_REVIEW: {State.OPERATOR_REVIEW, State.AWAITING_PAYMENT, State.LICENSED},
    State.OPERATOR_REVIEW: {State.AWAITING_PAYMENT, State.LICENSED},
}


# Whole sentences per operation, so that translations read naturally.
_STATE_MESSAGES = {
    "approve": gettext_lazy("A request that is %(state)s cannot be approved."),
    "reject": gettext_lazy("A request that is %(state)s cannot be rejected."),
    "return": gettext_lazy("A request that is %(state)s cannot be returned for changes."),
    "withdraw": gettext_lazy("A request that is %(state)s cannot be withdrawn."),
    "update": gettext_lazy("Only a request returned for changes can be edited; this one is %(state)s."),
    "resubmit": gettext_lazy("Only a request returned for changes is resubmitted; this one is %(state)s."),
    "lapse": gettext_lazy("A request that is %(state)s does not lapse."),
}


def _state_error(access_request: AccessRequest, operation: str) -> errors.InvalidState:
    state = str(access_request.get_state_display()).lower()
    return errors.InvalidState(str(_STATE_MESSAGES[operation]) % {"state": state})


def _required_text(value: str, field: str, message: str, *, max_length: int = PURPOSE_MAX_LENGTH) -> str:
    value = (value or "").strip()
    if not value:
        raise errors.ApplicationError(message, errors={field: [_("This field is required.")]})
    if len(value) > max_length:
        raise errors.ApplicationError(
            _("The text is too long."),
            errors={field: [_("At most %(max)s characters.") % {"max": max_length}]},
        )
    return value


# --- eligibility ----------------------------------------------------------------------------


def _buyer_organization(actor, organization) -> Organization:
    """The organization the actor requests for: the one named (which must be theirs: the rule
    refuses anything else), or their only buyer organization. Never from free-form input."""
    if organization is not None:
        if isinstance(organization, Organization):
            return organization
        found = Organization.objects.filter(pk=organization).first()
        if found is None:
            raise errors.PermissionDenied(_("You can only request data for an organization you belong to."))
        return found
    ids = selectors.buyer_organization_ids(actor)
    if not ids:
        raise errors.PermissionDenied(
            _("Only analysts and managers of a buyer organization can request data.")
        )
    if len(ids) > 1:
        raise errors.ApplicationError(
            _("You belong to several buyer organizations; choose the one this request is for."),
            errors={"organization": [_("Choose an organization.")]},
        )
    return Organization.objects.get(pk=ids[0])


def _check_eligible(organization: Organization, offer: Offer) -> None:
    if not organization_is_active(organization):
        raise errors.PermissionDenied(
            _("%(org)s is not verified yet; it can request data once an operator has verified it.")
            % {"org": organization.name}
        )
    categories = list(offer.buyer_categories or [])
    if categories and organization.buyer_category not in categories:
        labels = dict(Organization.BuyerCategory.choices)
        raise errors.PermissionDenied(
            _("This offer is open to %(allowed)s; %(org)s is registered as %(category)s.")
            % {
                "allowed": ", ".join(str(labels.get(c, c)) for c in categories),
                "org": organization.name,
                "category": str(labels.get(organization.buyer_category, organization.buyer_category)),
            }
        )


def _check_requestable(offer: Offer) -> None:
    dataset = offer.dataset
    if dataset.status != Dataset.Status.PUBLISHED or dataset.current_version_id is None:
        raise errors.NotFound(_("Not found."))
    if not offer.is_active:
        raise errors.InvalidState(_("This offer is closed for new requests."))
    if offer.current_terms_id is None:
        raise errors.InvalidState(_("This offer has no license terms yet, so it cannot be requested."))
    if offer.approval == Offer.Approval.AUTOMATIC:
        # Nobody reviews these: a request the risk rules would not let a reviewer approve (a
        # report still being measured, or above a threshold tightened since) is not taken.
        refused = risk_reports.refusal(offer)
        if refused:
            raise errors.InvalidState(
                _("This offer approves requests automatically, but cannot approve one now: %(why)s")
                % {"why": " ".join(refused)}
            )


def _check_no_open_request(organization: Organization, offer: Offer, *, exclude_pk=None) -> None:
    existing = selectors.open_access_request(organization_id=organization.pk, offer_id=offer.pk)
    if existing is not None and existing.pk != exclude_pk:
        raise _open_request_error(organization, existing.pk)


def _check_no_active_license(organization: Organization, offer: Offer) -> None:
    """One license per organization and offer at a time: a second request would make a
    duplicate; the license page renews it instead."""
    held = (
        License.objects.filter(
            organization=organization, offer=offer, state=License.State.ACTIVE, valid_until__gt=timezone.now()
        )
        .order_by("-valid_until")
        .first()
    )
    if held is not None:
        raise errors.InvalidState(
            _(
                "%(org)s already holds license #%(id)s for this offer, valid until %(until)s; "
                "use it, or renew it from its page."
            )
            % {
                "org": organization.name,
                "id": held.pk,
                "until": date_format(timezone.localtime(held.valid_until)),
            }
        )


def _open_request_error(organization: Organization, pk) -> errors.InvalidState:
    return errors.InvalidState(
        _(
            "%(org)s already has an open request (#%(id)s) for this offer; "
            "follow that one or withdraw it first."
        )
        % {"org": organization.name, "id": pk}
    )


def _clean_purpose(purpose: str, purpose_category: str) -> tuple[str, str]:
    field_errors = {}
    purpose = (purpose or "").strip()
    if not purpose:
        field_errors["purpose"] = [_("Describe how the data will be used.")]
    elif len(purpose) > PURPOSE_MAX_LENGTH:
        field_errors["purpose"] = [_("At most %(max)s characters.") % {"max": PURPOSE_MAX_LENGTH}]
    if purpose_category not in AccessRequest.PurposeCategory.values:
        field_errors["purpose_category"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(AccessRequest.PurposeCategory.values)}
        ]
    if field_errors:
        raise errors.ApplicationError(_("The purpose is not complete; see the fields."), errors=field_errors)
    return purpose, purpose_category


def _terms_required() -> errors.ApplicationError:
    return errors.ApplicationError(
        _("Read and accept the license terms to send the request."),
        errors={"accept_terms": [_("The terms must be accepted.")]},
    )


# --- routing --------------------------------------------------------------------------------


def _final_approval(access_request: AccessRequest, *, actor, note: str = "", scope_diff=None) -> None:
    """The last approval: an invoice for priced offers, a license for free ones."""
    access_request.offer_snapshot = offer_snapshot(access_request.offer)
    # Checked again at the last approval: the organization may have received other tables
    # since it asked, and the scope may have been narrowed.
    ledger_check(
        organization=access_request.organization, offer=access_request.offer, scope=access_request.scope
    )
    priced = access_request.offer_snapshot["price_krw"] > 0
    _transition(
        access_request,
        to_state=State.AWAITING_PAYMENT if priced else State.LICENSED,
        action=Action.APPROVED,
        actor=actor,
        note=note,
        scope_diff=scope_diff,
        extra_fields=("scope", "offer_snapshot"),
    )
    if actor is not SYSTEM:
        notify(verb="request_approved", audiences=[BUYER], access_request=access_request, actor=actor)
    if priced:
        invoice_issue(actor=SYSTEM, access_request=access_request)
    else:
        license_issue(actor=SYSTEM, access_request=access_request)


def _route(access_request: AccessRequest, *, resubmitted: bool = False) -> None:
    """Send a submitted request to its first stage (or approve it, for automatic offers)."""
    if access_request.offer.approval == Offer.Approval.AUTOMATIC:
        _final_approval(
            access_request, actor=SYSTEM, note=_("Approved automatically: the offer needs no review.")
        )
        return
    _transition(access_request, to_state=State.CENTER_REVIEW, action=Action.QUEUED, actor=SYSTEM)
    notify(
        verb="request_resubmitted" if resubmitted else "request_submitted",
        audiences=[CENTER],
        access_request=access_request,
    )


# --- services -------------------------------------------------------------------------------


def _not_a_buyer_member() -> str:
    return _("You can only request data for an organization you belong to as an analyst or manager.")


def _checked_submission(organization, offer, scope, purpose, purpose_category, accept_terms):
    """Eligibility, the offer open to requests, the terms accepted, the purpose, the scope
    against the offer and against what the organization already holds (the disclosure
    ledger): (purpose, purpose category, clean scope), or the error."""
    _check_eligible(organization, offer)
    _check_requestable(offer)
    if accept_terms is not True:
        raise _terms_required()
    purpose, purpose_category = _clean_purpose(purpose, purpose_category)
    clean_scope = scope_validate(offer, scope or {})
    ledger_check(organization=organization, offer=offer, scope=clean_scope)
    return purpose, purpose_category, clean_scope


def _submitted_audit(access_request: AccessRequest, renewal_of) -> dict:
    terms = access_request.terms
    return {
        "scope": access_request.scope,
        "purpose_category": access_request.purpose_category,
        "terms_version": terms.version,
        "terms_sha256": terms.sha256,
        **({"renewal_of": renewal_of.pk} if renewal_of is not None else {}),
    }


def _request_insert(**fields) -> AccessRequest:
    """Insert the request (inside the caller's transaction) unless the organization has one open
    for the offer, or a license of it and this is no renewal; a concurrent submit of the same
    organization and offer (the unique open-request constraint) is the same 400."""
    organization, offer = fields["organization"], fields["offer"]
    _check_no_open_request(organization, offer)
    if fields["renewal_of"] is None:
        _check_no_active_license(organization, offer)
    try:
        with transaction.atomic():
            return AccessRequest.objects.create(**fields)
    except IntegrityError as exc:
        existing = selectors.open_access_request(organization_id=organization.pk, offer_id=offer.pk)
        raise _open_request_error(organization, existing.pk if existing else "?") from exc


def access_request_submit(
    *,
    actor,
    offer: Offer,
    scope: dict,
    purpose: str,
    purpose_category: str,
    accept_terms: bool,
    organization: Organization | int | None = None,
    renewal_of=None,
) -> AccessRequest:
    """Request an offer for the actor's buyer organization. The requester is the actor and the
    organization one they are an analyst or manager of. Checks eligibility (verified
    organization, buyer category, one open request per organization and offer), the scope
    against the offer and published schema, and the acceptance of the current terms; then
    sends the request to its first review stage, or approves it when the offer is automatic.
    The buyer gets a confirmation."""
    organization = _buyer_organization(actor, organization)
    authorize(permissions.access_request_submit, actor, organization, message=_not_a_buyer_member())
    purpose, purpose_category, clean_scope = _checked_submission(
        organization, offer, scope, purpose, purpose_category, accept_terms
    )
    terms = offer.current_terms
    now = timezone.now()
    with transaction.atomic():
        access_request = _request_insert(
            offer=offer,
            organization=organization,
            requester=actor,
            state=State.SUBMITTED,
            state_changed_at=now,
            scope=clean_scope,
            requested_scope=clean_scope,
            purpose=purpose,
            purpose_category=purpose_category,
            terms=terms,
            terms_sha256=terms.sha256,
            terms_accepted_at=now,
            renewal_of=renewal_of,
        )
        _record_step(
            access_request,
            action=Action.SUBMITTED,
            from_state="",
            actor=actor,
            audit_after=_submitted_audit(access_request, renewal_of),
        )
        notify(verb="request_received", audiences=[BUYER], access_request=access_request, actor=actor)
        _route(access_request)
    return access_request


def _editable_snapshot(access_request: AccessRequest) -> dict:
    """What a buyer can edit on a returned request, for the audit log."""
    return {
        "scope": access_request.requested_scope,
        "purpose": access_request.purpose,
        "purpose_category": access_request.purpose_category,
        "terms_version": access_request.terms.version,
    }


def _accept_current_terms(access_request: AccessRequest) -> list[str]:
    """Record the offer's current terms as accepted now; the fields changed."""
    terms = access_request.offer.current_terms
    if terms is None:
        raise errors.InvalidState(_("This offer has no license terms yet, so it cannot be requested."))
    access_request.terms, access_request.terms_sha256 = terms, terms.sha256
    access_request.terms_accepted_at = timezone.now()
    return ["terms", "terms_sha256", "terms_accepted_at"]


def access_request_update(
    *,
    actor,
    access_request: AccessRequest,
    scope: dict | None = None,
    purpose: str | None = None,
    purpose_category: str | None = None,
    accept_terms: bool = False,
) -> AccessRequest:
    """The buyer edits a request returned for changes: scope keys given replace the requested
    ones, and accepting terms records the offer's current terms. Resubmit sends it back."""
    authorize(
        permissions.access_request_update, actor, access_request, can_view=permissions.access_request_view
    )
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state != State.CHANGES_REQUESTED:
            raise _state_error(locked, "update")
        before = _editable_snapshot(locked)
        changed = ["updated_at"]
        if scope is not None:
            merged = {
                key: scope[key] if key in scope else locked.requested_scope.get(key) for key in SCOPE_KEYS
            }
            clean_scope = scope_validate(locked.offer, merged)
            locked.scope = locked.requested_scope = clean_scope
            changed += ["scope", "requested_scope"]
        if purpose is not None or purpose_category is not None:
            locked.purpose, locked.purpose_category = _clean_purpose(
                locked.purpose if purpose is None else purpose,
                locked.purpose_category if purpose_category is None else purpose_category,
            )
            changed += ["purpose", "purpose_category"]
        if accept_terms:
            changed += _accept_current_terms(locked)
        locked.save(update_fields=changed)
        after = _editable_snapshot(locked)
        RequestEvent.objects.create(
            access_request=locked,
            action=Action.UPDATED,
            from_state=locked.state,
            to_state=locked.state,
            actor=actor,
            actor_label=str(actor),
            actor_organization_id=locked.organization_id,
        )
        _request_audit(
            locked, actor=actor, verb="transactions.access_request.updated", before=before, after=after
        )
    return locked


def access_request_resubmit(*, actor, access_request: AccessRequest, note: str = "") -> AccessRequest:
    """Send a request returned for changes back to review, from the first stage. Eligibility,
    scope and terms are checked again (the offer or the data may have changed meanwhile)."""
    authorize(
        permissions.access_request_resubmit, actor, access_request, can_view=permissions.access_request_view
    )
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state in (State.SUBMITTED, State.CENTER_REVIEW, State.OPERATOR_REVIEW):
            return locked
        if locked.state != State.CHANGES_REQUESTED:
            raise _state_error(locked, "resubmit")
        offer = locked.offer
        _check_eligible(locked.organization, offer)
        _check_requestable(offer)
        if offer.current_terms_id != locked.terms_id:
            raise errors.ApplicationError(
                _("The offer's license terms have changed; edit the request and accept the new terms first."),
                errors={"accept_terms": [_("The terms must be accepted.")]},
            )
        scope_validate(offer, locked.requested_scope)
        _transition(
            locked,
            to_state=State.SUBMITTED,
            action=Action.RESUBMITTED,
            actor=actor,
            note=(note or "").strip(),
        )
        _route(locked, resubmitted=True)
    return locked


def access_request_approve(
    *, actor, access_request: AccessRequest, narrowed_scope: dict | None = None, note: str = ""
) -> AccessRequest:
    """Approve the request at its current review stage, optionally narrowing its scope (fields
    removed, fewer regions, a shorter period; the buyer sees the difference). The center's
    approval of a `center_operator` offer moves it to operator review; the last approval issues
    an invoice (priced offers) or the license. Approving a stage someone else has just
    approved returns quietly: concurrent approvals issue exactly one license."""
    authorize(
        permissions.access_request_approve, actor, access_request, can_view=permissions.access_request_view
    )
    stage = access_request.state
    note = (note or "").strip()
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if stage not in _AFTER_APPROVAL or locked.state != stage:
            if locked.state in _AFTER_APPROVAL.get(stage, ()):
                return locked
            raise _state_error(locked, "approve")
        refused = risk_reports.refusal(locked.offer)
        if refused:
            raise errors.ApplicationError(
                _("No request for this record-level offer can be approved now: %(why)s")
                % {"why": " ".join(refused)},
                errors={"offer": refused},
            )
        diff = None
        if narrowed_scope:
            narrowed = scope_narrow(locked.offer, locked.scope, narrowed_scope)
            diff = scope_difference(locked.scope, narrowed)
            locked.scope = narrowed
        if stage == State.CENTER_REVIEW and locked.offer.approval == Offer.Approval.CENTER_OPERATOR:
            _transition(
                locked,
                to_state=State.OPERATOR_REVIEW,
                action=Action.APPROVED,
                actor=actor,
                note=note,
                scope_diff=diff,
                extra_fields=("scope",),
            )
            notify(verb="request_awaits_operator", audiences=[OPERATORS], access_request=locked, actor=actor)
            notify(verb="request_center_approved", audiences=[BUYER], access_request=locked, actor=actor)
        else:
            _final_approval(locked, actor=actor, note=note, scope_diff=diff)
    return locked


def access_request_reject(*, actor, access_request: AccessRequest, reason: str) -> AccessRequest:
    """Refuse the request at its review stage with a reason the buyer reads. The request and
    its history stay readable."""
    authorize(
        permissions.access_request_reject, actor, access_request, can_view=permissions.access_request_view
    )
    reason = _required_text(reason, "reason", _("Give a reason so the buyer knows why."))
    stage = access_request.state
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state == State.REJECTED:
            return locked
        if stage not in _AFTER_APPROVAL or locked.state != stage:
            raise _state_error(locked, "reject")
        _transition(locked, to_state=State.REJECTED, action=Action.REJECTED, actor=actor, note=reason)
        audiences = [BUYER] if stage == State.CENTER_REVIEW else [BUYER, CENTER]
        notify(
            verb="request_rejected",
            audiences=audiences,
            access_request=locked,
            actor=actor,
            params={"reason": reason},
        )
    return locked


def access_request_return(*, actor, access_request: AccessRequest, message: str) -> AccessRequest:
    """Return the request to the buyer for changes with a message (also posted to the thread).
    The buyer edits and resubmits it."""
    authorize(
        permissions.access_request_return, actor, access_request, can_view=permissions.access_request_view
    )
    message = _required_text(
        message, "message", _("Tell the buyer what to change."), max_length=MESSAGE_MAX_LENGTH
    )
    stage = access_request.state
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state == State.CHANGES_REQUESTED:
            return locked
        if stage not in _AFTER_APPROVAL or locked.state != stage:
            raise _state_error(locked, "return")
        _transition(
            locked, to_state=State.CHANGES_REQUESTED, action=Action.RETURNED, actor=actor, note=message
        )
        if actor is not SYSTEM:
            RequestMessage.objects.create(
                access_request=locked,
                author=actor,
                organization_id=_acting_organization_id(actor, locked),
                body=message,
            )
        notify(
            verb="request_returned",
            audiences=[BUYER],
            access_request=locked,
            actor=actor,
            params={"message": message},
        )
    return locked


def access_request_withdraw(*, actor, access_request: AccessRequest, reason: str = "") -> AccessRequest:
    """The buyer withdraws an open request; an unpaid invoice is voided with it."""
    authorize(
        permissions.access_request_withdraw, actor, access_request, can_view=permissions.access_request_view
    )
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state == State.WITHDRAWN:
            return locked
        if locked.state not in AccessRequest.OPEN_STATES:
            raise _state_error(locked, "withdraw")
        was = locked.state
        reason = (reason or "").strip()
        if was == State.AWAITING_PAYMENT:
            _invoice_void_locked(locked, actor=actor, reason=reason or _("The request was withdrawn."))
        _transition(locked, to_state=State.WITHDRAWN, action=Action.WITHDRAWN, actor=actor, note=reason)
        audiences = [CENTER]
        if was in (State.OPERATOR_REVIEW, State.AWAITING_PAYMENT):
            audiences.append(OPERATORS)
        notify(verb="request_withdrawn", audiences=audiences, access_request=locked, actor=actor)
    return locked


def access_request_lapse(
    *, actor, access_request: AccessRequest, now: datetime.datetime | None = None
) -> AccessRequest:
    """The platform closes a request nobody reviewed within REQUEST_REVIEW_DEADLINE_DAYS of it
    reaching its stage (Celery beat, daily). Both sides are told."""
    authorize(permissions.access_request_lapse, actor, access_request)
    now = now or timezone.now()
    days = settings.REQUEST_REVIEW_DEADLINE_DAYS
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        if locked.state == State.LAPSED:
            return locked
        if locked.state not in AccessRequest.REVIEW_STATES:
            raise _state_error(locked, "lapse")
        if locked.state_changed_at > now - datetime.timedelta(days=days):
            raise errors.InvalidState(_("This request is still inside its review deadline."))
        _transition(
            locked,
            to_state=State.LAPSED,
            action=Action.LAPSED,
            actor=actor,
            at=now,
            note=_("Not reviewed within %(days)s days.") % {"days": days},
        )
        notify(verb="request_lapsed", audiences=[BUYER, CENTER], access_request=locked, params={"days": days})
    return locked


def access_request_message_post(*, actor, access_request: AccessRequest, body: str) -> RequestMessage:
    """Write to the request's thread (buyer, center, operators). Messages are kept forever and
    can be written after the request has ended."""
    authorize(
        permissions.access_request_message_post,
        actor,
        access_request,
        can_view=permissions.access_request_view,
    )
    body = _required_text(body, "body", _("Write a message."), max_length=MESSAGE_MAX_LENGTH)
    with transaction.atomic():
        locked = _locked_request(access_request.pk)
        message = RequestMessage.objects.create(
            access_request=locked,
            author=actor,
            organization_id=_acting_organization_id(actor, locked),
            body=body,
        )
        _request_audit(
            locked,
            actor=actor,
            verb="transactions.access_request.message_posted",
            after={"message": message.pk, "state": locked.state},
        )
        audiences = [BUYER, CENTER_ALL]
        if locked.state == State.OPERATOR_REVIEW:
            audiences.append(OPERATORS)
        notify(
            verb="request_message",
            audiences=audiences,
            access_request=locked,
            actor=actor,
            params={"author": str(getattr(actor, "name", "") or actor), "message": body[:500]},
        )
    return message


def license_renew(
    *,
    actor,
    license: License,
    accept_terms: bool = False,
    purpose: str | None = None,
    purpose_category: str | None = None,
) -> AccessRequest:
    """Ask for the license again: a new request for the same offer carrying the old scope (and
    purpose, unless given), submitted through the normal path (eligibility, review, payment).
    The old terms carry forward when they are still the offer's; new terms must be accepted."""
    authorize(permissions.license_renew, actor, license, can_view=permissions.license_view)
    with transaction.atomic():
        locked = _locked_license(license.pk)
        if locked.state == License.State.REVOKED:
            raise errors.InvalidState(_("A revoked license cannot be renewed; send a new request instead."))
        previous = locked.access_request
        offer = Offer.objects.select_related("dataset", "current_terms").get(pk=locked.offer_id)
        if offer.current_terms_id != previous.terms_id and accept_terms is not True:
            raise errors.ApplicationError(
                _("The offer's license terms have changed since this license; accept the new terms."),
                errors={"accept_terms": [_("The terms must be accepted.")]},
            )
        renewal = access_request_submit(
            actor=actor,
            offer=offer,
            organization=locked.organization,
            scope=locked.scope,
            purpose=previous.purpose if purpose is None else purpose,
            purpose_category=previous.purpose_category if purpose_category is None else purpose_category,
            accept_terms=True,
            renewal_of=locked,
        )
        _license_audit(locked, actor=actor, verb="renewal_requested", after={"request": renewal.pk})
    return renewal

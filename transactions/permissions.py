"""One rule per transactions operation, named like the service that checks it (STYLE.md
habit 3). Rules answer "may this actor do this to this object?"; services pair them with a
`*_view` rule so that what the actor cannot see is a 404 and what they can see but not do is
a 403. The object's state is the service's business (409), except where the stage decides
who acts: a center reviews at `center_review`, an operator at `operator_review`.

Parties to a request: the buyer organization's analysts and managers; the owning center's
managers, reviewers and curators (curators see and write messages, they do not review);
operators, who see everything."""

from __future__ import annotations

from accounts.models import Membership, Organization
from accounts.selectors import is_operator, roles_in
from marketplace.actors import is_system
from transactions.models import AccessRequest, Invoice, License, Notification

Role = Membership.Role
State = AccessRequest.State

BUYER_ROLES = frozenset({Role.ANALYST, Role.MANAGER})
CENTER_ROLES = frozenset({Role.MANAGER, Role.REVIEWER, Role.CURATOR})
CENTER_REVIEWER_ROLES = frozenset({Role.MANAGER, Role.REVIEWER})


def _authenticated(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def _privileged(actor) -> bool:
    return is_system(actor) or (_authenticated(actor) and is_operator(actor))


def _has_roles(actor, organization_id: int, roles: frozenset) -> bool:
    return _authenticated(actor) and not is_system(actor) and bool(roles_in(actor, organization_id) & roles)


def request_center_id(access_request: AccessRequest) -> int:
    return access_request.offer.dataset.center_id


def is_buyer_party(actor, access_request: AccessRequest) -> bool:
    return _has_roles(actor, access_request.organization_id, BUYER_ROLES)


def is_center_party(actor, access_request: AccessRequest, roles: frozenset = CENTER_ROLES) -> bool:
    return _has_roles(actor, request_center_id(access_request), roles)


# --- requests -------------------------------------------------------------------------------


def access_request_view(actor, access_request: AccessRequest) -> bool:
    return (
        _privileged(actor) or is_buyer_party(actor, access_request) or is_center_party(actor, access_request)
    )


def access_request_submit(actor, organization: Organization | None) -> bool:
    """Analysts and managers of a buyer organization request data for it."""
    if organization is None or organization.kind != Organization.Kind.BUYER:
        return False
    return _has_roles(actor, organization.pk, BUYER_ROLES)


def access_request_update(actor, access_request: AccessRequest) -> bool:
    return is_buyer_party(actor, access_request)


def access_request_resubmit(actor, access_request: AccessRequest) -> bool:
    return is_buyer_party(actor, access_request)


def access_request_withdraw(actor, access_request: AccessRequest) -> bool:
    return is_buyer_party(actor, access_request)


def reviews_stage(actor, access_request: AccessRequest, state: str) -> bool:
    """The actor decides requests at this stage."""
    if is_system(actor):
        return True
    if state == State.CENTER_REVIEW:
        return is_center_party(actor, access_request, CENTER_REVIEWER_ROLES)
    if state == State.OPERATOR_REVIEW:
        return _authenticated(actor) and is_operator(actor)
    return False


def _review(actor, access_request: AccessRequest) -> bool:
    if access_request.state in (State.CENTER_REVIEW, State.OPERATOR_REVIEW):
        return reviews_stage(actor, access_request, access_request.state)
    # Outside review the state answers (409) for anyone who reviews at some stage.
    return _privileged(actor) or is_center_party(actor, access_request, CENTER_REVIEWER_ROLES)


def access_request_approve(actor, access_request: AccessRequest) -> bool:
    return _review(actor, access_request)


def access_request_reject(actor, access_request: AccessRequest) -> bool:
    return _review(actor, access_request)


def access_request_return(actor, access_request: AccessRequest) -> bool:
    return _review(actor, access_request)


def access_request_lapse(actor, access_request: AccessRequest | None = None) -> bool:
    return is_system(actor)


def access_request_message_view(actor, access_request: AccessRequest) -> bool:
    return access_request_view(actor, access_request)


def access_request_message_post(actor, access_request: AccessRequest) -> bool:
    """Every party writes: the buyer, the center (curators too) and operators."""
    return not is_system(actor) and access_request_view(actor, access_request)


# --- invoices -------------------------------------------------------------------------------


def invoice_view(actor, invoice: Invoice) -> bool:
    return access_request_view(actor, invoice.access_request)


def invoice_issue(actor, access_request: AccessRequest | None = None) -> bool:
    """Invoices are issued by the platform on the last approval, never by hand."""
    return is_system(actor)


def invoice_mark_paid(actor, invoice: Invoice | None = None) -> bool:
    return _privileged(actor)


def invoice_void(actor, invoice: Invoice | None = None) -> bool:
    return _privileged(actor)


# --- licenses -------------------------------------------------------------------------------


def license_view(actor, license: License) -> bool:
    return (
        _privileged(actor)
        or _has_roles(actor, license.organization_id, BUYER_ROLES)
        or _has_roles(actor, license.dataset.center_id, CENTER_ROLES)
    )


def license_issue(actor, access_request: AccessRequest | None = None) -> bool:
    """Licenses are issued by the platform on the last approval or payment."""
    return is_system(actor)


def disclosure_release_record(actor, license: License | None = None) -> bool:
    """The disclosure ledger is written by the platform as licenses and extracts go out."""
    return is_system(actor)


def license_revoke(actor, license: License) -> bool:
    return _privileged(actor) or _has_roles(actor, license.dataset.center_id, frozenset({Role.MANAGER}))


def license_expire(actor, license: License | None = None) -> bool:
    return is_system(actor)


def license_renew(actor, license: License) -> bool:
    return _has_roles(actor, license.organization_id, BUYER_ROLES)


def license_send_renewal_reminders(actor, _target=None) -> bool:
    return is_system(actor)


def license_download_record(actor, license: License) -> bool:
    """The licensee's members download; the worker records on their behalf as SYSTEM."""
    return is_system(actor) or _has_roles(actor, license.organization_id, BUYER_ROLES)


# --- notifications, audit, statistics -------------------------------------------------------


def notification_view(actor, notification: Notification) -> bool:
    return _authenticated(actor) and notification.recipient_id == getattr(actor, "pk", None)


def notification_mark_read(actor, notification: Notification) -> bool:
    return notification_view(actor, notification)


def notification_mark_all_read(actor, _target=None) -> bool:
    return _authenticated(actor) and not is_system(actor)


def audit_view(actor, _target=None) -> bool:
    """Everyone signed in reads the audit trail of their own organizations (operators: all)."""
    return _authenticated(actor)


def stats_view(actor, dataset=None) -> bool:
    """Provider analytics: operators, and members of the center (of this dataset, if given)."""
    if _privileged(actor):
        return True
    if not _authenticated(actor):
        return False
    if dataset is not None:
        return _has_roles(actor, dataset.center_id, CENTER_ROLES)
    return Membership.objects.filter(
        user=actor, organization__kind=Organization.Kind.CENTER, role__in=list(CENTER_ROLES)
    ).exists()


# --- extracts -------------------------------------------------------------------------------


def extract_view(actor, extract) -> bool:
    return license_view(actor, extract.license)


def extract_request(actor, license: License) -> bool:
    """The licensee's analysts and managers ask for a file (another format, a rebuild); the
    platform asks on issue and on a new version."""
    return is_system(actor) or _has_roles(actor, license.organization_id, BUYER_ROLES)


def extract_build(actor, extract=None) -> bool:
    return is_system(actor)


def extract_fail(actor, extract=None) -> bool:
    return is_system(actor)


def extracts_requeue_stuck(actor, _target=None) -> bool:
    return is_system(actor)


def extracts_purge_files(actor, _target=None) -> bool:
    return is_system(actor)


def extracts_deliver_version(actor, _target=None) -> bool:
    return is_system(actor)


def extract_download_link(actor, extract) -> bool:
    """Only the licensee's members download; the center and operators see the record."""
    return _has_roles(actor, extract.license.organization_id, BUYER_ROLES)


def extract_download(actor, extract) -> bool:
    """Following a signed link: the link itself was issued under extract_download_link; the
    worker-side check is the license's state at that moment."""
    return is_system(actor)


def license_trace_leak(actor, _target=None) -> bool:
    return _privileged(actor)

"""Telling people what happened: an in-app notification per recipient and an e-mail each,
sent by the worker after the transaction commits.

Services call `notify(...)` inside their transaction, so notifications exist exactly when the
change they report does. The text is kept as a verb and parameters and rendered in the
reader's language (the stored title and body, in the site language, are what the e-mail
says)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organization, User
from marketplace.actors import is_system
from marketplace.jobs import enqueue
from transactions.models import AccessRequest, License, Notification
from transactions.permissions import BUYER_ROLES, CENTER_REVIEWER_ROLES, CENTER_ROLES

BUYER = "buyer"
CENTER = "center"  # managers and reviewers: the people who decide
CENTER_ALL = "center_all"  # curators too: everyone who reads the request
OPERATORS = "operators"

MESSAGES = {
    "request_received": (
        _("Request #%(request)s received"),
        _(
            "We have received your request for %(dataset)s (%(offer)s). "
            "You will be told when it has been reviewed."
        ),
    ),
    "request_submitted": (
        _("New request #%(request)s for %(dataset)s"),
        _("%(buyer)s requests %(offer)s for %(purpose_category)s. Please review it."),
    ),
    "request_resubmitted": (
        _("Request #%(request)s was resubmitted"),
        _("%(buyer)s changed request #%(request)s for %(dataset)s and sent it back for review."),
    ),
    "request_awaits_operator": (
        _("Request #%(request)s awaits operator review"),
        _("%(center)s approved the request of %(buyer)s for %(dataset)s; an operator decides next."),
    ),
    "request_center_approved": (
        _("The center approved request #%(request)s"),
        _("%(center)s approved your request for %(dataset)s. An operator reviews it next."),
    ),
    "request_approved": (
        _("Request #%(request)s approved"),
        _("Your request for %(dataset)s (%(offer)s) was approved."),
    ),
    "request_returned": (
        _("Request #%(request)s needs changes"),
        _("Your request for %(dataset)s was returned for changes: %(message)s"),
    ),
    "request_rejected": (
        _("Request #%(request)s rejected"),
        _("The request for %(dataset)s was rejected: %(reason)s"),
    ),
    "request_withdrawn": (
        _("Request #%(request)s withdrawn"),
        _("%(buyer)s withdrew the request for %(dataset)s."),
    ),
    "request_lapsed": (
        _("Request #%(request)s lapsed"),
        _("The request of %(buyer)s for %(dataset)s was not reviewed within %(days)s days and has lapsed."),
    ),
    "request_message": (
        _("New message on request #%(request)s"),
        _("%(author)s wrote: %(message)s"),
    ),
    "invoice_issued": (
        _("Invoice %(number)s issued"),
        _("Invoice %(number)s for request #%(request)s (%(dataset)s): %(total)s won including VAT."),
    ),
    "invoice_paid": (
        _("Invoice %(number)s paid"),
        _("The payment for invoice %(number)s (request #%(request)s) has been recorded."),
    ),
    "invoice_voided": (
        _("Invoice %(number)s voided"),
        _("Invoice %(number)s for request #%(request)s was voided: %(reason)s"),
    ),
    "license_issued": (
        _("License #%(license)s issued"),
        _("%(buyer)s holds a license for %(dataset)s (%(offer)s) until %(valid_until)s."),
    ),
    "license_expiring": (
        _("License #%(license)s expires on %(valid_until)s"),
        _("The license for %(dataset)s expires on %(valid_until)s. Request a renewal to keep access."),
    ),
    "license_expired": (
        _("License #%(license)s expired"),
        _("The license for %(dataset)s has expired; downloads have stopped."),
    ),
    "license_revoked": (
        _("License #%(license)s revoked"),
        _("The license of %(buyer)s for %(dataset)s was revoked: %(reason)s"),
    ),
    "extract_ready": (
        _("Your extract of %(dataset)s is ready"),
        _("The extract for license #%(license)s is ready to download."),
    ),
    "offer_risk_opened": (
        _("%(offer)s is open for requests"),
        _(
            "The re-identification risk of %(offer)s (%(dataset)s) was measured on the data and "
            "every measure is within the threshold: the offer now takes requests."
        ),
    ),
    "offer_risk_passed": (
        _("The risk of %(offer)s is measured"),
        _(
            "The re-identification risk of %(offer)s (%(dataset)s) was measured on the data and is "
            "within the threshold; requests for it can be approved."
        ),
    ),
    "offer_risk_above": (
        _("%(offer)s is above the risk threshold"),
        _(
            "The re-identification risk of %(offer)s (%(dataset)s) was measured on the data and is "
            "above the operator's threshold: it cannot be open for requests. The offer's page shows "
            "which measures fail; stronger treatments bring them down."
        ),
    ),
    "offer_risk_failed": (
        _("The risk of %(offer)s could not be measured"),
        _(
            "The re-identification risk of %(offer)s (%(dataset)s) could not be measured on the "
            "data; the offer stays closed. Save it again to measure it again, or ask an operator."
        ),
    ),
}

# The actor is told too: a confirmation of their own action.
CONFIRMATIONS = {"request_received"}


class _Params(dict):
    def __missing__(self, key):
        return ""


def render(verb: str, params: dict) -> tuple[str, str]:
    """The title and body of a notification in the active language."""
    title, body = MESSAGES[verb]
    values = _Params(params or {})
    category = values.get("purpose_category")
    if category in AccessRequest.PurposeCategory.values:
        values["purpose_category"] = str(AccessRequest.PurposeCategory(category).label)
    return str(title) % values, str(body) % values


def _context(access_request: AccessRequest | None, license: License | None) -> dict:
    if license is not None:
        access_request = access_request or license.access_request
    offer = access_request.offer if access_request is not None else license.offer
    dataset = offer.dataset
    params = {
        "dataset": dataset.title,
        "offer": offer.name,
        "center": dataset.center.name,
    }
    if access_request is not None:
        params.update(
            request=access_request.pk,
            buyer=access_request.organization.name,
            purpose_category=access_request.purpose_category,
        )
    if license is not None:
        params.update(license=license.pk, valid_until=f"{timezone.localtime(license.valid_until):%Y-%m-%d}")
    return params


def _recipient_ids(audiences, *, buyer_id: int | None, center_id: int | None) -> list[int]:
    condition = Q()
    for audience in audiences:
        if audience == BUYER and buyer_id:
            condition |= Q(memberships__organization_id=buyer_id, memberships__role__in=list(BUYER_ROLES))
        elif audience == CENTER and center_id:
            condition |= Q(
                memberships__organization_id=center_id, memberships__role__in=list(CENTER_REVIEWER_ROLES)
            )
        elif audience == CENTER_ALL and center_id:
            condition |= Q(memberships__organization_id=center_id, memberships__role__in=list(CENTER_ROLES))
        elif audience == OPERATORS:
            condition |= Q(
                memberships__organization__kind=Organization.Kind.OPERATOR,
                memberships__role=Membership.Role.OPERATOR,
            )
    if not condition:
        return []
    return list(User.objects.filter(condition, is_active=True).values_list("pk", flat=True).distinct())


def notify(
    *,
    verb: str,
    audiences,
    access_request: AccessRequest | None = None,
    license: License | None = None,
    params: dict | None = None,
    actor=None,
) -> list[Notification]:
    """Notify the members of the parties in `audiences` (BUYER, CENTER, CENTER_ALL, OPERATORS)
    of a request or license: one in-app notification each, and an e-mail queued for after the
    commit. The actor is left out, except for confirmations."""
    if verb not in MESSAGES:
        raise ValueError(f"unknown notification verb {verb!r}")
    if license is not None:
        access_request = access_request or license.access_request
    values = {**_context(access_request, license), **(params or {})}
    buyer_id = access_request.organization_id if access_request is not None else license.organization_id
    center_id = (access_request.offer if access_request is not None else license.offer).dataset.center_id
    recipients = _recipient_ids(audiences, buyer_id=buyer_id, center_id=center_id)
    actor_id = None if actor is None or is_system(actor) else getattr(actor, "pk", None)
    if actor_id is not None and verb not in CONFIRMATIONS:
        recipients = [pk for pk in recipients if pk != actor_id]
    if license is not None:
        url = f"/api/v1/licenses/{license.pk}/"
    else:
        url = f"/api/v1/requests/{access_request.pk}/"
    return _create(verb, values, recipients, url=url, access_request=access_request, license=license)


def _create(verb: str, values: dict, recipients: list[int], *, url: str, **about) -> list[Notification]:
    """One notification per recipient, titled in the site language (the e-mail's), `about` the
    request or license it concerns; the e-mails are queued for after the commit."""
    if not recipients:
        return []
    with translation.override(settings.LANGUAGE_CODE):
        title, body = render(verb, values)
    created = Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=pk, verb=verb, params=values, title=title[:255], body=body, url=url, **about
            )
            for pk in recipients
        ]
    )
    ids = [n.pk for n in created]
    transaction.on_commit(lambda: _queue_emails(ids))
    return created


def notify_offer(*, verb: str, offer) -> list[Notification]:
    """Notify every member of `offer`'s center (curators too: they write offers) of something
    about the offer itself, with a link to its page; an e-mail each after the commit."""
    if verb not in MESSAGES:
        raise ValueError(f"unknown notification verb {verb!r}")
    dataset = offer.dataset
    values = {"dataset": dataset.title, "offer": offer.name, "center": dataset.center.name}
    recipients = _recipient_ids([CENTER_ALL], buyer_id=None, center_id=dataset.center_id)
    return _create(verb, values, recipients, url=reverse("center-offer-edit", args=[offer.pk]))


def _queue_emails(notification_ids: list[int]) -> None:
    enqueue("transactions.tasks.send_notification_emails", notification_ids)

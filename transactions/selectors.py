"""Transactions reads: what a caller may see, filtered by the queryset (never in Python), with
the joins a page needs fetched in a constant number of queries."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.permissions import sees_everything
from accounts.selectors import (  # noqa: F401 - part of this module's reads
    buyer_organization_ids,
    center_organization_ids,
    organization_ids,
    own_organization_ids,
)
from catalog import view_log
from catalog.models import Dataset, DatasetView, Offer
from marketplace import errors
from marketplace.models import AuditEvent
from transactions import permissions
from transactions.models import (
    AccessRequest,
    DownloadEvent,
    Extract,
    Invoice,
    License,
    Notification,
    RequestEvent,
    RequestMessage,
)

State = AccessRequest.State


# --- requests -------------------------------------------------------------------------------


def _history():
    return Prefetch(
        "events",
        queryset=RequestEvent.objects.select_related("actor_organization").order_by("created_at", "id"),
    )


def access_requests_visible_to(user) -> QuerySet[AccessRequest]:
    """Operators see every request; buyers their organizations'; centers those on their
    datasets; anyone else none."""
    qs = AccessRequest.objects.select_related(
        "offer__dataset__center", "organization", "requester", "terms", "license", "invoice"
    ).prefetch_related(_history())
    return qs.filter(permissions.access_request_visible(user))


def access_request_for(user, pk) -> AccessRequest:
    request = access_requests_visible_to(user).filter(pk=pk).first()
    if request is None:
        raise errors.NotFound(_("Not found."))
    return request


def access_request_messages(access_request: AccessRequest) -> QuerySet[RequestMessage]:
    return access_request.messages.select_related("author", "organization").order_by("created_at", "id")


def open_access_request(*, organization_id: int, offer_id: int) -> AccessRequest | None:
    return AccessRequest.objects.filter(
        organization_id=organization_id, offer_id=offer_id, state__in=AccessRequest.OPEN_STATES
    ).first()


def requestable_offer(offer_id) -> Offer:
    """An offer buyers may request: its dataset is published (otherwise it is not visible:
    404). Whether the offer is open for requests is the service's question (409)."""
    offer = (
        Offer.objects.select_related("dataset", "dataset__center", "current_terms")
        .filter(pk=offer_id, dataset__status=Dataset.Status.PUBLISHED, dataset__current_version__isnull=False)
        .first()
    )
    if offer is None:
        raise errors.NotFound(_("Not found."), errors={"offer": [_("No published offer has this id.")]})
    return offer


def review_deadline(access_request: AccessRequest) -> datetime.datetime | None:
    """When a request waiting for review lapses."""
    if access_request.state not in AccessRequest.REVIEW_STATES:
        return None
    return access_request.state_changed_at + datetime.timedelta(days=settings.REQUEST_REVIEW_DEADLINE_DAYS)


def access_requests_overdue(now: datetime.datetime | None = None) -> QuerySet[AccessRequest]:
    """Requests that waited for review longer than REQUEST_REVIEW_DEADLINE_DAYS."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.REQUEST_REVIEW_DEADLINE_DAYS)
    return AccessRequest.objects.filter(state__in=AccessRequest.REVIEW_STATES, state_changed_at__lt=cutoff)


# --- licenses and invoices ------------------------------------------------------------------


def licenses_visible_to(user) -> QuerySet[License]:
    """Operators see every license; the licensee through the object permission its group holds
    (django-guardian); centers those on their datasets."""
    qs = License.objects.select_related("organization", "dataset", "offer", "access_request")
    return qs.filter(permissions.license_visible(user))


def license_for(user, pk) -> License:
    license = licenses_visible_to(user).filter(pk=pk).first()
    if license is None:
        raise errors.NotFound(_("Not found."))
    return license


def license_downloads(license: License) -> QuerySet[DownloadEvent]:
    return license.downloads.select_related("user", "organization").order_by("-created_at", "-id")


def licenses_due_for_expiry(now: datetime.datetime | None = None) -> QuerySet[License]:
    return License.objects.filter(state=License.State.ACTIVE, valid_until__lte=now or timezone.now())


def licenses_due_for_reminder(now: datetime.datetime | None = None, *, days: int = 7) -> QuerySet[License]:
    now = now or timezone.now()
    return License.objects.filter(
        state=License.State.ACTIVE,
        reminder_sent_at__isnull=True,
        valid_until__gt=now,
        valid_until__lte=now + datetime.timedelta(days=days),
    )


def invoices_visible_to(user) -> QuerySet[Invoice]:
    qs = Invoice.objects.select_related(
        "organization", "access_request__offer__dataset__center", "access_request__organization", "paid_by"
    )
    return qs.filter(permissions.invoice_visible(user))


def invoice_for(user, pk) -> Invoice:
    invoice = invoices_visible_to(user).filter(pk=pk).first()
    if invoice is None:
        raise errors.NotFound(_("Not found."))
    return invoice


# --- notifications --------------------------------------------------------------------------


def notifications_of(user) -> QuerySet[Notification]:
    return Notification.objects.filter(permissions.notification_visible(user))


def unread_count(user) -> int:
    return notifications_of(user).filter(read_at__isnull=True).count()


# --- audit ----------------------------------------------------------------------------------


def audit_events_visible_to(user) -> QuerySet[AuditEvent]:
    """Operators read the whole trail; organizations the events they are party to (as the
    acting organization or the other side)."""
    qs = AuditEvent.objects.select_related("organization", "other_organization")
    return qs.filter(permissions.audit_event_visible(user))


def day_bound(day: datetime.date, *, end: bool = False) -> datetime.datetime:
    """A date as a bound of a period that includes the whole day, in the platform's time zone
    (TIME_ZONE): its first moment (`since`, inclusive), or with `end` the first moment of the next
    day (`until`, which the filters here compare exclusively)."""
    if end:
        day += datetime.timedelta(days=1)
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time()), timezone.get_default_timezone()
    )


def audit_events_filter(
    qs: QuerySet[AuditEvent],
    *,
    verb: str = "",
    organization: int | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    target_type: str = "",
    target_id: str = "",
) -> QuerySet[AuditEvent]:
    if verb:
        qs = qs.filter(verb__startswith=verb)
    if organization:
        qs = qs.filter(Q(organization_id=organization) | Q(other_organization_id=organization))
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=str(target_id))
    return qs


# --- provider analytics ---------------------------------------------------------------------


def stats_datasets_visible_to(user) -> QuerySet[Dataset]:
    qs = Dataset.objects.select_related("center")
    if sees_everything(user):
        return qs
    return qs.filter(center_id__in=center_organization_ids(user))


def _month(value) -> str:
    return value.strftime("%Y-%m") if value else ""


def _grouped(qs, date_field: str, key_field: str, value=None, since=None, until=None) -> list[dict]:
    if since:
        qs = qs.filter(**{f"{date_field}__gte": since})
    if until:
        qs = qs.filter(**{f"{date_field}__lt": until})
    return list(
        qs.annotate(month=TruncMonth(date_field))
        .values(key_field, "month")
        .annotate(value=value or Count("pk"))
        .order_by(key_field, "month")
    )


METRICS = ("views", "requests", "approvals", "licenses", "downloads", "revenue_krw")
OFFER_METRICS = METRICS[1:]


def _offer_metric_sources(dataset_ids) -> list[tuple]:
    """(metric, queryset, date field, offer key, value) for each per-offer metric."""
    approved = RequestEvent.objects.filter(
        access_request__offer__dataset_id__in=dataset_ids,
        action=RequestEvent.Action.APPROVED,
        to_state__in=[State.AWAITING_PAYMENT, State.LICENSED],
    )
    paid = Invoice.objects.filter(access_request__offer__dataset_id__in=dataset_ids, state=Invoice.State.PAID)
    return [
        (
            "requests",
            AccessRequest.objects.filter(offer__dataset_id__in=dataset_ids),
            "created_at",
            "offer_id",
            None,
        ),
        ("approvals", approved, "created_at", "access_request__offer_id", None),
        ("licenses", License.objects.filter(dataset_id__in=dataset_ids), "created_at", "offer_id", None),
        (
            "downloads",
            DownloadEvent.objects.filter(license__dataset_id__in=dataset_ids),
            "created_at",
            "license__offer_id",
            None,
        ),
        ("revenue_krw", paid, "paid_at", "access_request__offer_id", Sum("supply_krw")),
    ]


def _by_owner(table) -> dict[int, list[dict]]:
    """{(owner, month): values} as {owner: [{month, **values}, ...]} in month order."""
    grouped: dict[int, list[dict]] = {}
    for (owner, month), values in sorted(table.items(), key=lambda item: item[0][1]):
        grouped.setdefault(owner, []).append({"month": month, **values})
    return grouped


def provider_stats(datasets, *, since=None, until=None) -> list[dict]:
    """Per dataset and offer and month: views, requests, final approvals, licenses issued,
    downloads and revenue (supply amount of paid invoices). Six aggregate queries grouped by
    month, whatever the number of rows behind them. Views still buffered are written first, so
    every view made so far counts."""
    view_log.flush()
    datasets = list(datasets)
    dataset_ids = [d.pk for d in datasets]
    offers = list(Offer.objects.filter(dataset_id__in=dataset_ids).order_by("dataset_id", "pk"))
    offer_dataset = {o.pk: o.dataset_id for o in offers}

    per_offer: dict[tuple[int, str], dict] = {}
    for metric, queryset, date_field, key, value in _offer_metric_sources(dataset_ids):
        for row in _grouped(queryset, date_field, key, value=value, since=since, until=until):
            cell = per_offer.setdefault((row[key], _month(row["month"])), dict.fromkeys(OFFER_METRICS, 0))
            cell[metric] += row["value"] or 0
    views = _grouped(
        DatasetView.objects.filter(dataset_id__in=dataset_ids),
        "viewed_at",
        "dataset_id",
        since=since,
        until=until,
    )
    per_dataset: dict[tuple[int, str], dict] = {}
    for row in views:
        cell = per_dataset.setdefault((row["dataset_id"], _month(row["month"])), dict.fromkeys(METRICS, 0))
        cell["views"] += row["value"]
    for (offer_id, month), values in per_offer.items():
        cell = per_dataset.setdefault((offer_dataset[offer_id], month), dict.fromkeys(METRICS, 0))
        for metric in OFFER_METRICS:
            cell[metric] += values[metric]
    dataset_months, offer_months = _by_owner(per_dataset), _by_owner(per_offer)
    return [
        {
            "dataset": {"id": dataset.pk, "slug": dataset.slug, "title": dataset.title},
            "months": dataset_months.get(dataset.pk, []),
            "offers": [
                {"id": offer.pk, "name": offer.name, "months": offer_months.get(offer.pk, [])}
                for offer in offers
                if offer.dataset_id == dataset.pk
            ],
        }
        for dataset in datasets
    ]


# --- extracts -------------------------------------------------------------------------------


def license_extracts(license: License) -> QuerySet[Extract]:
    """The license's files, newest first, with the version each was built from (one query).
    Whoever may see the license sees its extracts (permissions.extract_view)."""
    return license.extracts.select_related("version").order_by("-queued_at", "-id")


def license_extract(license: License, pk) -> Extract:
    """One of the license's extracts, or NotFound."""
    extract = license_extracts(license).filter(pk=pk).first()
    if extract is None:
        raise errors.NotFound(_("Not found."))
    return extract


# --- operators and centers: counts for their home pages ---------------------------------------


def operator_workload() -> dict:
    """What waits for the platform team: organizations to verify, requests by state, unpaid
    invoices and active licenses (four aggregate queries)."""
    requests_by_state = dict(AccessRequest.objects.order_by().values_list("state").annotate(n=Count("pk")))
    return {
        "pending_organizations": Organization.objects.filter(
            verification=Organization.Verification.PENDING
        ).count(),
        "requests_by_state": requests_by_state,
        "unpaid_invoices": Invoice.objects.filter(state=Invoice.State.ISSUED).count(),
        "active_licenses": License.objects.filter(state=License.State.ACTIVE).count(),
    }


def requests_by_buyer_category(datasets) -> list[tuple[str, int]]:
    """Requests for `datasets` per buyer category (the organization's `buyer_category`
    value), most first (one query)."""
    rows = (
        AccessRequest.objects.filter(offer__dataset__in=datasets)
        .order_by()
        .values_list("organization__buyer_category")
        .annotate(n=Count("pk"))
    )
    return sorted(((category or "", n) for category, n in rows), key=lambda item: (-item[1], item[0]))


def offer_holdings(*, user, dataset_id: int) -> dict[int, dict]:
    """Per offer of the dataset, what `user`'s buyer organizations already hold: the newest
    active license (`license_id`, `valid_until`) and the open request (`request_id`), so pages
    offer "open your license" or "follow your request" instead of a new request. Two queries."""
    organizations = buyer_organization_ids(user)
    if not organizations:
        return {}
    held: dict[int, dict] = {}
    licenses = License.objects.filter(
        organization_id__in=organizations,
        dataset_id=dataset_id,
        state=License.State.ACTIVE,
        valid_until__gt=timezone.now(),
    ).order_by("valid_until")
    for license_id, offer_id, valid_until in licenses.values_list("pk", "offer_id", "valid_until"):
        held.setdefault(offer_id, {})
        held[offer_id].update(license_id=license_id, valid_until=valid_until)
    requests = AccessRequest.objects.filter(
        organization_id__in=organizations, offer__dataset_id=dataset_id, state__in=AccessRequest.OPEN_STATES
    )
    for request_id, offer_id in requests.values_list("pk", "offer_id"):
        held.setdefault(offer_id, {})["request_id"] = request_id
    return held

"""Reviewers' pages: a request's page (shared by its buyer and reviewers), decisions, the
center's queue and dashboard."""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Organization
from accounts.selectors import is_operator
from catalog import risk_reports
from marketplace import charts, errors
from marketplace.views import apply_errors, web_errors
from transactions import permissions, selectors, services
from transactions.forms import (
    MessageForm,
    NarrowingForm,
    ReasonForm,
    ReturnForm,
    WithdrawForm,
    field_label,
    region_options,
)
from transactions.views._common import (
    State,
    _approval_steps,
    _decide,
    _flat,
    _price,
    _request_list,
    _schema,
    _scope_rows,
)


@login_required
def center_reviews(request):
    center_ids = selectors.center_organization_ids(request.user)
    if not center_ids:
        raise Http404
    queryset = selectors.access_requests_visible_to(request.user).filter(
        offer__dataset__center_id__in=center_ids
    )
    if "state" not in request.GET:
        queryset = queryset.filter(state=State.CENTER_REVIEW)
    return _request_list(
        request,
        queryset,
        title=_("Review queue"),
        heading_note=_("Requests for your center's datasets waiting for your decision."),
    )


def _narrowing_form(access_request, schema) -> NarrowingForm:
    """The reviewer's form to narrow a request: its fields and regions, preset to its scope."""
    offer = access_request.offer
    region_field = schema.get(offer.region_field) if offer.region_field else None
    current_regions = access_request.scope.get("regions") or []
    return NarrowingForm(
        offer=offer,
        schema=schema,
        initial=NarrowingForm.initial_from(access_request.scope),
        field_choices=[
            (n, field_label(schema[n]) if n in schema else n) for n in access_request.scope.get("fields", [])
        ],
        region_choices=[(v, label) for v, label in region_options(region_field) if v in current_regions]
        if current_regions
        else None,
    )


@login_required
@web_errors
def request_detail(request, pk):
    access_request = selectors.access_request_for(request.user, pk)
    offer = access_request.offer
    schema = _schema(offer)
    user = request.user
    is_buyer = permissions.is_buyer_party(user, access_request)
    can_review = access_request.state in (State.CENTER_REVIEW, State.OPERATOR_REVIEW) and (
        permissions.reviews_stage(user, access_request, access_request.state)
    )
    message_form = MessageForm()
    if request.method == "POST":
        message_form = MessageForm(request.POST)
        if message_form.is_valid():
            try:
                services.access_request_message_post(
                    actor=user, access_request=access_request, body=message_form.cleaned_data["body"]
                )
            except errors.ApplicationError as exc:
                apply_errors(message_form, exc)
            else:
                messages.success(request, _("Your message is sent."))
                return redirect(reverse("request-detail", args=[pk]) + "#thread")
    narrowing = _narrowing_form(access_request, schema) if can_review else None
    return render(
        request,
        "transactions/request_detail.html",
        {
            "r": access_request,
            "offer": offer,
            "dataset": offer.dataset,
            "scope_rows": _scope_rows(offer, access_request.requested_scope, access_request.scope, schema),
            "events": list(access_request.events.all()),
            "thread": list(selectors.access_request_messages(access_request)),
            "message_form": message_form,
            "is_buyer": is_buyer,
            "can_edit": is_buyer and access_request.state == State.CHANGES_REQUESTED,
            "can_withdraw": is_buyer and access_request.is_open,
            "can_review": can_review,
            "narrowing": narrowing,
            "reject_form": ReasonForm(prefix="reject") if can_review else None,
            "return_form": ReturnForm(prefix="return") if can_review else None,
            "withdraw_form": WithdrawForm(prefix="withdraw"),
            "price": _price(offer),
            "steps": _approval_steps(offer),
            "deadline": selectors.review_deadline(access_request),
            "invoice": getattr(access_request, "invoice", None),
            "license": getattr(access_request, "license", None),
            "purpose_category": access_request.get_purpose_category_display(),
            **_risk_context(user, access_request, is_buyer),
        },
    )


def _risk_context(user, access_request, is_buyer: bool) -> dict:
    """The offer's risk report for the reviewers (center and operator), not the buyer."""
    offer = access_request.offer
    if (is_buyer and not is_operator(user)) or offer.kind != offer.Kind.RECORDS:
        return {"show_risk": False}
    if not (is_operator(user) or offer.dataset.center_id in selectors.center_organization_ids(user)):
        return {"show_risk": False}
    return {
        "show_risk": True,
        "risk_rows": risk_reports.table_rows(offer.risk_report),
        "risk_violations": risk_reports.violation_messages(offer.risk_report),
    }


@login_required
@require_POST
@web_errors
def request_approve(request, pk):
    access_request = selectors.access_request_for(request.user, pk)
    schema = _schema(access_request.offer)
    form = NarrowingForm(
        request.POST,
        offer=access_request.offer,
        schema=schema,
        field_choices=[(n, n) for n in access_request.scope.get("fields", [])],
        region_choices=[
            (v, v)
            for v, _label in region_options(schema.get(access_request.offer.region_field))
            if not access_request.scope.get("regions") or v in access_request.scope["regions"]
        ]
        if access_request.offer.region_field
        else None,
    )
    if not form.is_valid():
        messages.error(request, _("The approval is not valid: %(errors)s") % {"errors": _flat(form)})
        return redirect("request-detail", pk)
    services.access_request_approve(
        actor=request.user,
        access_request=access_request,
        narrowed_scope=form.narrowed_scope(access_request.scope),
        note=form.cleaned_data.get("note") or "",
    )
    messages.success(request, _("The request is approved."))
    return redirect("request-detail", pk)


@login_required
@require_POST
@web_errors
def request_reject(request, pk):
    return _decide(
        request,
        pk,
        form=ReasonForm(request.POST, prefix="reject"),
        service=services.access_request_reject,
        argument="reason",
        done=_("The request is rejected."),
        invalid=_("Give a reason so the buyer knows why."),
    )


@login_required
@require_POST
@web_errors
def request_return(request, pk):
    return _decide(
        request,
        pk,
        form=ReturnForm(request.POST, prefix="return"),
        service=services.access_request_return,
        argument="message",
        done=_("The request is returned to the buyer for changes."),
        invalid=_("Say what the buyer should change."),
    )


DASHBOARD_METRICS = [
    ("views", _("Dataset page views")),
    ("requests", _("Requests")),
    ("approvals", _("Approvals")),
    ("downloads", _("Downloads")),
    ("revenue_krw", _("Revenue (KRW, before VAT)")),
]


def _last_months(n: int = 12) -> list[str]:
    today = timezone.localdate()
    year, month = today.year, today.month
    months = []
    for _i in range(n):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@login_required
def center_dashboard(request):
    if not permissions.stats_view(request.user):
        raise Http404
    datasets = selectors.stats_datasets_visible_to(request.user)
    if not is_operator(request.user):
        datasets = datasets.filter(center_id__in=selectors.center_organization_ids(request.user))
    datasets = list(datasets.order_by("title", "pk")[:200])
    stats = selectors.provider_stats(datasets)
    months = _last_months()
    totals = {month: Counter() for month in months}
    per_dataset = []
    for row in stats:
        sums = Counter()
        for cell in row["months"]:
            values = {k: cell.get(k, 0) for k, _label in DASHBOARD_METRICS}
            sums.update(values)
            if cell["month"] in totals:
                totals[cell["month"]].update(values)
        per_dataset.append(
            {"dataset": row["dataset"], **{k: sums.get(k, 0) for k, _label in DASHBOARD_METRICS}}
        )
    chart_list = [
        {
            "key": key,
            "label": label,
            "total": sum(totals[m][key] for m in months),
            "svg": charts.bar_chart(
                [(m[2:].replace("-", "."), totals[m][key]) for m in months], title=str(label)
            ),
        }
        for key, label in DASHBOARD_METRICS
    ]
    labels = dict(Organization.BuyerCategory.choices)
    category_data = [(str(labels.get(c, c)), n) for c, n in selectors.requests_by_buyer_category(datasets)]
    return render(
        request,
        "center/dashboard.html",
        {
            "charts": chart_list,
            "per_dataset": per_dataset,
            "categories_chart": charts.horizontal_bar_chart(
                category_data, title=_("Requests by buyer category")
            )
            if category_data
            else None,
            "first_month": months[0],
            "last_month": months[-1],
        },
    )

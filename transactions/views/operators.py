"""Operators' pages: the home, the review queues, the audit log, leak tracing, revoking a license."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Organization
from accounts.selectors import is_operator
from catalog import selectors as catalog_selectors
from marketplace import charts, errors
from marketplace.views import apply_errors, paginate, web_errors
from transactions import permissions, selectors, services
from transactions.forms import (
    AuditFilterForm,
    LeakTraceForm,
    ReasonForm,
)
from transactions.views._common import State, _request_list


@login_required
def operator_reviews(request):
    if not is_operator(request.user):
        raise Http404
    queryset = selectors.access_requests_visible_to(request.user)
    if "state" not in request.GET:
        queryset = queryset.filter(state=State.OPERATOR_REVIEW)
    return _request_list(
        request,
        queryset,
        title=_("Operator review"),
        heading_note=_("Requests the centers approved that need a second approval."),
    )


@login_required
def operator_requests(request):
    if not is_operator(request.user):
        raise Http404
    return _request_list(request, selectors.access_requests_visible_to(request.user), title=_("All requests"))


@login_required
@require_POST
@web_errors
def license_revoke(request, pk):
    license = selectors.license_for(request.user, pk)
    form = ReasonForm(request.POST, prefix="revoke")
    if not form.is_valid():
        messages.error(request, _("Give a reason for the revocation."))
        return redirect("license-detail", pk)
    services.license_revoke(actor=request.user, license=license, reason=form.cleaned_data["reason"])
    messages.success(request, _("The license is revoked; downloads stop at once."))
    return redirect("license-detail", pk)


@login_required
@web_errors
def audit_log(request):
    visible = selectors.audit_events_visible_to(request.user)
    organizations = (
        Organization.objects.order_by("name")
        if is_operator(request.user)
        else Organization.objects.filter(pk__in=selectors.own_organization_ids(request.user)).order_by("name")
    )
    form = AuditFilterForm(request.GET or None, organizations=organizations)
    filters = form.cleaned_data if form.is_valid() else {}

    events = selectors.audit_events_filter(
        visible,
        verb=filters.get("verb") or "",
        organization=filters.get("organization"),
        since=selectors.day_bound(filters["since"]) if filters.get("since") else None,
        until=selectors.day_bound(filters["until"], end=True) if filters.get("until") else None,
        target_type=filters.get("target_type") or "",
    )
    page, page_query = paginate(request, events, per_page=50)
    csv_query = request.GET.copy()
    csv_query.pop("page", None)
    csv_query["format"] = "csv"
    return render(
        request,
        "transactions/audit.html",
        {
            "form": form,
            "page": page,
            "page_query": page_query,
            "csv_url": "/api/v1/audit/?" + csv_query.urlencode(),
            "show_ip": is_operator(request.user),
        },
    )


@login_required
def operator_home(request):
    if not is_operator(request.user):
        raise Http404
    workload = selectors.operator_workload()
    requests_by_state = workload["requests_by_state"]
    states = [(label, requests_by_state.get(value, 0)) for value, label in State.choices]
    return render(
        request,
        "operator/home.html",
        {
            "figures": catalog_selectors.platform_figures(),
            "pending_organizations": workload["pending_organizations"],
            "operator_reviews": requests_by_state.get(State.OPERATOR_REVIEW, 0),
            "unpaid_invoices": workload["unpaid_invoices"],
            "active_licenses": workload["active_licenses"],
            "requests_chart": charts.horizontal_bar_chart(states, title=_("Requests by state")),
        },
    )


@contextlib.contextmanager
def _upload_on_disk(upload) -> Iterator[Path]:
    """The uploaded file as a path: Django's temporary file when it spooled one, else the
    chunks written to a temporary file (never read whole into memory)."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix) as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)


@login_required
@web_errors
def operator_leaks(request):
    """Operators upload a leaked file and see the dataset's licenses ranked by how many of the
    file's pseudonyms each license's key produces."""
    # Decided before the upload is read: only operators trace leaks (others see no page).
    if not permissions.license_trace_leak(request.user):
        raise Http404
    form = LeakTraceForm(
        request.POST or None, request.FILES or None, datasets=catalog_selectors.published_datasets()
    )
    candidates = None
    dataset = None
    if request.method == "POST" and form.is_valid():
        dataset, upload = form.cleaned_data["dataset"], form.cleaned_data["file"]
        try:
            with _upload_on_disk(upload) as path:
                candidates = services.license_trace_leak(
                    actor=request.user, dataset=dataset, leaked_file=path, file_name=upload.name
                )
        except (errors.NotFound, errors.PermissionDenied):
            raise
        except errors.ApplicationError as exc:
            apply_errors(form, exc)
        else:
            for rank, candidate in enumerate(candidates, start=1):
                candidate["rank"] = rank
                candidate["percent"] = round(100 * (candidate.get("share") or 0), 1)
                if candidate["rows_matched"] is not None:
                    candidate["row_percent"] = round(100 * candidate["row_share"], 1)
                if candidate["confidence"] is not None:
                    candidate["confidence_percent"] = round(100 * candidate["confidence"], 1)
                    candidate["false_match_percent"] = round(100 * candidate["false_match_rate"], 1)
                candidate["likely"] = rank == 1 and candidate["identified"]
    return render(
        request,
        "operator/leaks.html",
        {
            "form": form,
            "candidates": candidates,
            "dataset": dataset,
            "any_match": bool(candidates) and candidates[0]["identified"],
            "by_rows": bool(candidates) and candidates[0]["rows_matched"] is not None,
            "row_match": bool(candidates) and bool(candidates[0]["rows_matched"]),
        },
    )

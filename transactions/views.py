"""Web pages of the request workflow: requesting data, following and reviewing requests,
licenses, invoices, notifications, the audit log, operators' queues and the centers'
dashboard. Thin: reads through transactions.selectors, each write through one service."""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import Organization
from accounts.permissions import organization_is_active
from accounts.selectors import is_operator
from catalog import risk_reports
from catalog import selectors as catalog_selectors
from catalog.models import Field
from catalog.vocabularies import regions_by_code
from marketplace import charts, errors
from marketplace.views import apply_errors, paginate, web_errors
from transactions import permissions, selectors, services
from transactions.forms import (
    SCOPE_FIELD_MAP,
    AccessRequestForm,
    AuditFilterForm,
    ExtractFormatForm,
    LeakTraceForm,
    MarkPaidForm,
    MessageForm,
    NarrowingForm,
    ReasonForm,
    RenewForm,
    ReturnForm,
    WithdrawForm,
    field_label,
    region_options,
)
from transactions.models import (
    AccessRequest,
    Extract,
    Invoice,
    License,
    license_is_active_now,
    license_is_usable,
    vat_krw,
)
from transactions.notifications import render as render_notification
from transactions.payments import provider_for

State = AccessRequest.State
REQUEST_FIELD_MAP = {**SCOPE_FIELD_MAP}


def _schema(offer) -> dict[str, Field]:
    version_id = offer.dataset.current_version_id
    return {f.name: f for f in Field.objects.filter(version_id=version_id)} if version_id else {}


def _price(offer) -> dict:
    vat = vat_krw(offer.price_krw)
    return {"supply": offer.price_krw, "vat": vat, "total": offer.price_krw + vat}


def _approval_steps(offer) -> list[str]:
    steps = {
        "automatic": [_("Approved automatically when you submit")],
        "center": [_("Review by the data center")],
        "center_operator": [_("Review by the data center"), _("Review by a platform operator")],
    }[offer.approval]
    if offer.price_krw:
        steps = [*steps, _("Payment of the invoice")]
    return [*steps, _("License issued; extracts delivered")]


# --- buyers: request an offer -------------------------------------------------------------


@login_required
@web_errors
def request_new(request, slug, offer_id):
    offer = selectors.requestable_offer(offer_id)
    if offer.dataset.slug != slug or not offer.is_active:
        raise Http404  # a closed offer is not shown to buyers (as on the dataset page)
    organizations = list(
        Organization.objects.filter(pk__in=selectors.buyer_organization_ids(request.user)).order_by("name")
    )
    if not organizations:
        raise Http404
    # Say what stands in the way before the buyer fills the form: an organization not verified
    # yet, or a license or an open request they already hold for this offer.
    unverified = not any(organization_is_active(o) for o in organizations)
    held = selectors.offer_holdings(user=request.user, dataset_id=offer.dataset_id).get(offer.pk, {})
    if unverified or held:
        return render(
            request,
            "transactions/request_blocked.html",
            {
                "offer": offer,
                "dataset": offer.dataset,
                "organizations": organizations,
                "held": held,
                "price": _price(offer),
            },
        )
    schema = _schema(offer)
    form = AccessRequestForm(
        request.POST or None,
        offer=offer,
        schema=schema,
        organizations=organizations,
        initial={"columns": list(offer.fields or [])},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            access_request = services.access_request_submit(
                actor=request.user,
                offer=offer,
                scope=form.scope(),
                purpose=data["purpose"],
                purpose_category=data["purpose_category"],
                accept_terms=data["accept_terms"],
                organization=data.get("organization") or organizations[0],
            )
        except errors.NotFound:
            raise
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map=REQUEST_FIELD_MAP)
        else:
            messages.success(request, _("Your request is sent."))
            return redirect("request-detail", access_request.pk)
    return render(
        request,
        "transactions/request_form.html",
        {
            "offer": offer,
            "dataset": offer.dataset,
            "form": form,
            "price": _price(offer),
            "steps": _approval_steps(offer),
            "terms": offer.current_terms,
            "access_request": None,
        },
    )


# --- requests: lists and the detail page ------------------------------------------------------


def _request_list(request, queryset, *, title: str, heading_note: str = "", states=None):
    state = request.GET.get("state", "")
    if state in State.values:
        queryset = queryset.filter(state=state)
    page, page_query = paginate(request, queryset.order_by("-state_changed_at", "-id"))
    return render(
        request,
        "transactions/request_list.html",
        {
            "title": title,
            "note": heading_note,
            "page": page,
            "page_query": page_query,
            "states": states or State.choices,
            "state": state,
        },
    )


@login_required
def my_requests(request):
    visible = selectors.access_requests_visible_to(request.user)
    return _request_list(
        request,
        visible.filter(organization_id__in=selectors.buyer_organization_ids(request.user)),
        title=_("My requests"),
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


def _scope_rows(offer, requested: dict, current: dict, schema: dict) -> list[dict]:
    """Offered / requested / approved, side by side, in words."""
    known = regions_by_code()

    def fields(names):
        return [field_label(schema[n]) if n in schema else n for n in names or []]

    def regions(values):
        return [known[v].label if v in known else v for v in values or []] or [_("All regions")]

    def period(scope):
        start, end = scope.get("date_from"), scope.get("date_to")
        return [f"{start or '…'} – {end or '…'}"] if start or end else [_("Whole period")]

    rows = [
        {
            "label": _("Fields"),
            "offered": fields(offer.fields),
            "requested": fields(requested.get("fields")),
            "approved": fields(current.get("fields")),
        }
    ]
    if offer.region_field:
        rows.append(
            {
                "label": _("Regions"),
                "offered": [_("All regions")],
                "requested": regions(requested.get("regions")),
                "approved": regions(current.get("regions")),
            }
        )
    if offer.date_field:
        rows.append(
            {
                "label": _("Period"),
                "offered": [_("Whole period")],
                "requested": period(requested),
                "approved": period(current),
            }
        )
    for row in rows:
        row["narrowed"] = row["requested"] != row["approved"]
    return rows


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
    narrowing = None
    if can_review:
        region_field = schema.get(offer.region_field) if offer.region_field else None
        current_regions = access_request.scope.get("regions") or []
        narrowing = NarrowingForm(
            offer=offer,
            schema=schema,
            initial=NarrowingForm.initial_from(access_request.scope),
            field_choices=[
                (n, field_label(schema[n]) if n in schema else n)
                for n in access_request.scope.get("fields", [])
            ],
            region_choices=[(v, label) for v, label in region_options(region_field) if v in current_regions]
            if current_regions
            else None,
        )
    thread = list(selectors.access_request_messages(access_request))
    invoice = getattr(access_request, "invoice", None)
    license = getattr(access_request, "license", None)
    return render(
        request,
        "transactions/request_detail.html",
        {
            "r": access_request,
            "offer": offer,
            "dataset": offer.dataset,
            "scope_rows": _scope_rows(offer, access_request.requested_scope, access_request.scope, schema),
            "events": list(access_request.events.all()),
            "thread": thread,
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
            "invoice": invoice,
            "license": license,
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


def _flat(form) -> str:
    return " ".join(str(m) for errors_ in form.errors.values() for m in errors_)


def _decide(request, pk, *, form, service, argument: str, done: str, invalid: str = ""):
    """A decision on a request posted from its page, with one text from `form`: validate it (with
    `invalid`, a form that does not validate goes back with that message; without, its text is
    optional), call `service` with the text as `argument`, say `done`, back to the request."""
    access_request = selectors.access_request_for(request.user, pk)
    if not form.is_valid() and invalid:
        messages.error(request, invalid)
        return redirect("request-detail", pk)
    service(
        actor=request.user, access_request=access_request, **{argument: form.cleaned_data.get(argument, "")}
    )
    messages.success(request, done)
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


@login_required
@require_POST
@web_errors
def request_withdraw(request, pk):
    return _decide(
        request,
        pk,
        form=WithdrawForm(request.POST, prefix="withdraw"),
        service=services.access_request_withdraw,
        argument="reason",
        done=_("The request is withdrawn."),
    )


@login_required
@web_errors
def request_edit(request, pk):
    access_request = selectors.access_request_for(request.user, pk)
    if not permissions.is_buyer_party(request.user, access_request):
        raise Http404
    if access_request.state != State.CHANGES_REQUESTED:
        messages.error(request, _("Only a request returned for changes can be edited."))
        return redirect("request-detail", pk)
    offer = access_request.offer
    terms_changed = offer.current_terms_id != access_request.terms_id
    form = AccessRequestForm(
        request.POST or None,
        offer=offer,
        schema=_schema(offer),
        require_terms=terms_changed,
        initial={
            **AccessRequestForm.initial_from(access_request.requested_scope),
            "purpose": access_request.purpose,
            "purpose_category": access_request.purpose_category,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.access_request_update(
                actor=request.user,
                access_request=access_request,
                scope=form.scope(),
                purpose=data["purpose"],
                purpose_category=data["purpose_category"],
                accept_terms=bool(data.get("accept_terms")),
            )
            if "resubmit" in request.POST:
                services.access_request_resubmit(actor=request.user, access_request=access_request)
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map=REQUEST_FIELD_MAP)
        else:
            if "resubmit" in request.POST:
                messages.success(request, _("Your request is resubmitted for review."))
            else:
                messages.success(request, _("Your changes are saved; resubmit when ready."))
            return redirect("request-detail", pk)
    return render(
        request,
        "transactions/request_form.html",
        {
            "offer": offer,
            "dataset": offer.dataset,
            "form": form,
            "price": _price(offer),
            "steps": _approval_steps(offer),
            "terms": offer.current_terms,
            "access_request": access_request,
            "terms_changed": terms_changed,
        },
    )


@login_required
@require_POST
@web_errors
def request_resubmit(request, pk):
    access_request = selectors.access_request_for(request.user, pk)
    services.access_request_resubmit(actor=request.user, access_request=access_request)
    messages.success(request, _("Your request is resubmitted for review."))
    return redirect("request-detail", pk)


# --- licenses ---------------------------------------------------------------------------------


@login_required
def license_list(request):
    queryset = selectors.licenses_visible_to(request.user)
    state = request.GET.get("state", "")
    if state in License.State.values:
        queryset = queryset.filter(state=state)
    page, page_query = paginate(request, queryset.order_by("-created_at", "-id"))
    now = timezone.now()
    for license in page:
        license.quota_left = license.download_quota - license.downloads_used
        license.days_left = max(0, (license.valid_until - now).days)
    return render(
        request,
        "transactions/license_list.html",
        {"page": page, "page_query": page_query, "state": state, "states": License.State.choices},
    )


@login_required
@web_errors
def license_detail(request, pk):
    return _license_page(request, selectors.license_for(request.user, pk))


def _license_page(request, license: License, *, format_form: ExtractFormatForm | None = None):
    """The license, its scope and files; the licensee's analysts and managers also get the
    download buttons and the form asking for another format."""
    user = request.user
    schema = _schema(license.offer)
    now = timezone.now()
    is_licensee = permissions.extract_request(user, license)
    can_build = is_licensee and license_is_active_now(license, now)
    can_download = is_licensee and license_is_usable(license, now)
    extracts = list(selectors.license_extracts(license))
    for extract in extracts:
        extract.status_text = _extract_status_text(extract)
        extract.is_pending = extract.status in PENDING_EXTRACTS
        extract.can_rebuild = (
            can_build
            and extract.version_id == license.dataset.current_version_id
            and extract.status in (Extract.Status.FAILED, Extract.Status.EXPIRED)
        )
    if format_form is None and can_build:
        format_form = ExtractFormatForm()
    download_note = ""
    if is_licensee and not can_download and any(e.status == Extract.Status.SUCCEEDED for e in extracts):
        download_note = (
            _("The download quota of this license is used up.")
            if can_build
            else _("This license is not active, so its files cannot be downloaded.")
        )
    return render(
        request,
        "transactions/license_detail.html",
        {
            "license": license,
            "quota_left": license.download_quota - license.downloads_used,
            "days_left": max(0, (license.valid_until - now).days),
            "scope_rows": _scope_rows(license.offer, license.scope, license.scope, schema),
            "downloads": selectors.license_downloads(license)[:50],
            "can_renew": permissions.license_renew(user, license) and license.state != "revoked",
            "can_revoke": permissions.license_revoke(user, license) and license.state == "active",
            "renew_form": RenewForm(),
            "revoke_form": ReasonForm(prefix="revoke"),
            "terms_changed": license.offer.current_terms_id != license.access_request.terms_id,
            "extracts": extracts,
            # Polling ends in a reload, which must not repeat a POST (a form shown with errors).
            "extracts_pending": request.method == "GET" and any(e.is_pending for e in extracts),
            "extracts_summary": _extracts_summary(extracts),
            "current_version_id": license.dataset.current_version_id,
            "can_build": can_build,
            "can_download": can_download,
            "download_note": download_note,
            "format_form": format_form,
        },
    )


# --- licenses: extracts -----------------------------------------------------------------------

PENDING_EXTRACTS = (Extract.Status.QUEUED, Extract.Status.RUNNING)


def _extract_status_text(extract: Extract) -> str:
    """The status in words, with the percentage while a worker builds the file."""
    if extract.status == Extract.Status.QUEUED:
        return _("Waiting for a worker…")
    if extract.status == Extract.Status.RUNNING:
        return _("Building: %(progress)s%%") % {"progress": extract.progress}
    return extract.get_status_display()


def _extracts_summary(extracts: list[Extract]) -> str:
    pending = sum(1 for e in extracts if e.status in PENDING_EXTRACTS)
    if not pending:
        return _("Every file is finished.")
    return ngettext("%(n)s file is being built.", "%(n)s files are being built.", pending) % {"n": pending}


@never_cache
@login_required
@web_errors
def license_extracts_status(request, pk):
    """The license's files for the progress bars (polled by jangteo.js): each file's status and
    progress, and `done` once none is queued or running."""
    license = selectors.license_for(request.user, pk)
    extracts = list(selectors.license_extracts(license))
    items = [
        {
            "id": e.pk,
            "format": e.format,
            "status": e.status,
            "progress": 100 if e.status == Extract.Status.SUCCEEDED else e.progress,
            "label": _extract_status_text(e),
            "done": e.status not in PENDING_EXTRACTS,
        }
        for e in extracts
    ]
    return JsonResponse(
        {
            "items": items,
            "done": all(item["done"] for item in items),
            "label": _extracts_summary(extracts),
        }
    )


@login_required
@require_POST
@web_errors
def license_extract_request(request, pk):
    """Ask for the license's data in another format; refusals show on the form."""
    license = selectors.license_for(request.user, pk)
    form = ExtractFormatForm(request.POST)
    if form.is_valid():
        format = form.cleaned_data["format"]
        header = form.cleaned_data.get("header") or Extract.Header.NAMES
        before = (
            selectors.license_extracts(license)
            .filter(version_id=license.dataset.current_version_id, format=format, header=header)
            .first()
        )
        try:
            extract = services.extract_request(
                actor=request.user, license=license, format=format, header=header
            )
        except (errors.NotFound, errors.PermissionDenied):
            raise
        except errors.ApplicationError as exc:
            apply_errors(form, exc)
        else:
            label = extract.get_format_display()
            if before is not None and before.status == Extract.Status.SUCCEEDED:
                messages.info(request, _("The %(format)s file is ready below.") % {"format": label})
            elif before is not None and before.status in PENDING_EXTRACTS:
                messages.info(request, _("The %(format)s file is already being built.") % {"format": label})
            else:
                messages.success(
                    request, _("The %(format)s file is queued; its progress shows below.") % {"format": label}
                )
            return redirect(reverse("license-detail", args=[pk]) + "#extracts")
    return _license_page(request, license, format_form=form)


@never_cache
@login_required
@require_POST
@web_errors
def license_extract_download(request, pk, extract_pk):
    """Issue a signed, expiring link for one file and send the browser to it; the API's
    download view checks the license again and streams the bundle."""
    license = selectors.license_for(request.user, pk)
    extract = selectors.license_extract(license, extract_pk)
    try:
        token, _expires = services.extract_download_link(actor=request.user, extract=extract)
    except (errors.NotFound, errors.PermissionDenied):
        raise
    except errors.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("license-detail", args=[pk]) + "#extracts")
    return redirect(reverse("v1:extract-download", args=[token]))


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
@require_POST
@web_errors
def license_renew(request, pk):
    license = selectors.license_for(request.user, pk)
    form = RenewForm(request.POST)
    form.is_valid()
    renewal = services.license_renew(
        actor=request.user, license=license, accept_terms=bool(form.cleaned_data.get("accept_terms"))
    )
    messages.success(request, _("A renewal request is sent."))
    return redirect("request-detail", renewal.pk)


# --- invoices ---------------------------------------------------------------------------------


@login_required
def invoice_list(request):
    queryset = selectors.invoices_visible_to(request.user)
    state = request.GET.get("state", "")
    if state in Invoice.State.values:
        queryset = queryset.filter(state=state)
    page, page_query = paginate(request, queryset.order_by("-issued_at", "-id"))
    return render(
        request,
        "transactions/invoice_list.html",
        {
            "page": page,
            "page_query": page_query,
            "state": state,
            "states": Invoice.State.choices,
            "can_mark_paid": permissions.invoice_mark_paid(request.user),
        },
    )


@login_required
@web_errors
def invoice_detail(request, pk):
    invoice = selectors.invoice_for(request.user, pk)
    form = MarkPaidForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invoice_mark_paid(
                actor=request.user,
                invoice=invoice,
                reference=form.cleaned_data["reference"],
                idempotency_key=form.cleaned_data["idempotency_key"],
                provider=form.cleaned_data.get("method") or None,
            )
        except (errors.NotFound, errors.PermissionDenied):
            raise
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map={"reference": "reference"})
        else:
            messages.success(request, _("The payment is recorded and the license issued."))
            return redirect("invoice-detail", pk)
    return render(
        request,
        "transactions/invoice_detail.html",
        {
            "invoice": invoice,
            "instructions": provider_for(invoice.provider).instructions(invoice)
            if invoice.state == Invoice.State.ISSUED
            else "",
            "form": form,
            "can_mark_paid": invoice.state == Invoice.State.ISSUED
            and permissions.invoice_mark_paid(request.user, invoice),
            "bank_account": settings.PAYMENT_BANK_ACCOUNT,
        },
    )


@login_required
@web_errors
def invoice_print(request, pk):
    """The invoice as a document to print or save as PDF (the browser's own print), with the
    seller, the buyer, the tax invoice data and where to pay."""
    invoice = selectors.invoice_for(request.user, pk)
    return render(
        request,
        "transactions/invoice_print.html",
        {"invoice": invoice, "bank_account": settings.PAYMENT_BANK_ACCOUNT},
    )


# --- notifications ----------------------------------------------------------------------------


def _notification_url(notification) -> str:
    if notification.license_id:
        return reverse("license-detail", args=[notification.license_id])
    if notification.access_request_id:
        return reverse("request-detail", args=[notification.access_request_id])
    return ""


@login_required
def notification_list(request):
    page, page_query = paginate(
        request, selectors.notifications_of(request.user).order_by("-created_at", "-id")
    )
    for notification in page:
        try:
            notification.title_text, notification.body_text = render_notification(
                notification.verb, notification.params
            )
        except KeyError:
            notification.title_text, notification.body_text = notification.title, notification.body
        notification.link = _notification_url(notification)
    return render(request, "transactions/notifications.html", {"page": page, "page_query": page_query})


@login_required
@require_POST
@web_errors
def notification_read(request, pk):
    notification = selectors.notifications_of(request.user).filter(pk=pk).first()
    if notification is None:
        raise Http404
    services.notification_mark_read(actor=request.user, notification=notification)
    target = _notification_url(notification)
    return redirect(target if request.POST.get("open") and target else "notifications")


@login_required
@require_POST
def notification_read_all(request):
    services.notification_mark_all_read(actor=request.user)
    messages.success(request, _("Every notification is marked read."))
    return redirect("notifications")


# --- audit log --------------------------------------------------------------------------------


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


# --- operators ------------------------------------------------------------------------------


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
                candidate["likely"] = rank == 1 and candidate["matches"] > 0
    return render(
        request,
        "operator/leaks.html",
        {
            "form": form,
            "candidates": candidates,
            "dataset": dataset,
            "any_match": bool(candidates) and candidates[0]["matches"] > 0,
        },
    )


# --- centers: dashboard -----------------------------------------------------------------------

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

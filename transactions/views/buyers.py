"""Buyers' pages: requesting access, following and changing one's requests, licenses and their
files, invoices."""

from __future__ import annotations

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
from marketplace import errors
from marketplace.views import apply_errors, paginate, web_errors
from transactions import permissions, selectors, services
from transactions.forms import (
    AccessRequestForm,
    ExtractFormatForm,
    MarkPaidForm,
    ReasonForm,
    RenewForm,
    WithdrawForm,
)
from transactions.models import (
    Extract,
    Invoice,
    License,
    license_is_active_now,
    license_is_usable,
)
from transactions.payments import provider_for
from transactions.views._common import (
    REQUEST_FIELD_MAP,
    State,
    _approval_steps,
    _decide,
    _price,
    _request_list,
    _schema,
    _scope_rows,
)


def _request_blocked(request, offer, organizations):
    """The page saying what stands in the way, or None when the buyer can fill the form."""
    # Say what stands in the way before the buyer fills the form: an organization not verified
    # yet, or a license or an open request they already hold for this offer.
    unverified = not any(organization_is_active(o) for o in organizations)
    held = selectors.offer_holdings(user=request.user, dataset_id=offer.dataset_id).get(offer.pk, {})
    if not unverified and not held:
        return None
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
    blocked = _request_blocked(request, offer, organizations)
    if blocked is not None:
        return blocked
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


@login_required
def my_requests(request):
    visible = selectors.access_requests_visible_to(request.user)
    return _request_list(
        request,
        visible.filter(organization_id__in=selectors.buyer_organization_ids(request.user)),
        title=_("My requests"),
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
def license_renew(request, pk):
    license = selectors.license_for(request.user, pk)
    form = RenewForm(request.POST)
    form.is_valid()
    renewal = services.license_renew(
        actor=request.user, license=license, accept_terms=bool(form.cleaned_data.get("accept_terms"))
    )
    messages.success(request, _("A renewal request is sent."))
    return redirect("request-detail", renewal.pk)


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

"""Accounts web pages: sign-up, and the operators' organization verification queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import SIGNUP_FIELD_MAP, RejectOrganizationForm, SignupForm
from accounts.models import Organization
from accounts.selectors import is_operator, organizations_visible_to
from marketplace import errors
from marketplace.views import apply_errors, back_url, paginate, web_errors


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, organization = services.user_signup(**form.service_arguments())
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map=SIGNUP_FIELD_MAP)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                _(
                    "Welcome! %(organization)s is registered and waits for an operator's verification; "
                    "you will get an e-mail when it is verified."
                )
                % {"organization": organization.name},
            )
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


# --- operators: organization verification -----------------------------------------------------

VERIFICATION_FILTERS = ("pending", "rejected", "verified", "all")


@login_required
def operator_organizations(request):
    if not is_operator(request.user):
        raise Http404
    status = request.GET.get("status", "pending")
    if status not in VERIFICATION_FILTERS:
        status = "pending"
    organizations = organizations_visible_to(request.user).exclude(kind=Organization.Kind.OPERATOR)
    if status != "all":
        organizations = organizations.filter(verification=status)
    organizations = organizations.annotate(members=Count("memberships")).order_by("created_at", "pk")
    page, page_query = paginate(request, organizations)
    return render(
        request,
        "operator/organizations.html",
        {
            "page": page,
            "page_query": page_query,
            "status": status,
            "filters": [
                ("pending", _("Pending")),
                ("rejected", _("Rejected")),
                ("verified", _("Verified")),
                ("all", _("All")),
            ],
            "reject_form": RejectOrganizationForm(),
        },
    )


def _visible_organization(user, pk) -> Organization:
    organization = organizations_visible_to(user).filter(pk=pk).first()
    if organization is None:
        raise Http404
    return organization


@login_required
@require_POST
@web_errors
def operator_organization_verify(request, pk):
    organization = _visible_organization(request.user, pk)
    services.organization_verify(actor=request.user, organization=organization)
    messages.success(request, _("%(name)s is verified.") % {"name": organization.name})
    return redirect(back_url(request, reverse("operator-organizations")))


@login_required
@require_POST
@web_errors
def operator_organization_reject(request, pk):
    organization = _visible_organization(request.user, pk)
    form = RejectOrganizationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason so the organization knows what to fix."))
    else:
        services.organization_reject(
            actor=request.user, organization=organization, reason=form.cleaned_data["reason"]
        )
        messages.success(
            request, _("%(name)s is rejected; its manager is told why.") % {"name": organization.name}
        )
    return redirect(back_url(request, reverse("operator-organizations")))

"""Accounts web pages: sign-up, and the operators' organization verification queue."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import permissions, services
from accounts.forms import SIGNUP_FIELD_MAP, InviteForm, RejectOrganizationForm, SignupForm
from accounts.models import Invitation, Organization, User
from accounts.selectors import (
    invitations_for,
    is_operator,
    organization_invitations,
    organization_members,
    organizations_visible_to,
    roles_by_organization,
)
from marketplace import errors
from marketplace.api import is_id
from marketplace.throttling import throttle_web
from marketplace.views import apply_errors, back_url, paginate, web_errors


@throttle_web("auth", methods=("POST",))
def signup(request):
    """The same answer whatever the address: a page that says to check the e-mail (which tells
    a new user how to confirm, and an existing one how to log in or reset the password)."""
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_signup(**form.service_arguments())
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map=SIGNUP_FIELD_MAP)
        else:
            return render(request, "accounts/signup_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/signup.html", {"form": form})


@throttle_web("auth")
def signup_confirm(request, uidb64, token):
    try:
        user = services.user_signup_confirm(uidb64=uidb64, token=token)
    except errors.ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(
        request,
        _(
            "Welcome! Your address is confirmed. Your organization waits for an operator's "
            "verification; you will get an e-mail when it is verified."
        ),
    )
    return redirect("home")


# --- invitations ---------------------------------------------------------------------------------


@login_required
def invitations(request):
    return render(
        request,
        "accounts/invitations.html",
        {"invitations": invitations_for(request.user).select_related("organization")},
    )


def _invitation(user, pk) -> Invitation:
    invitation = Invitation.objects.select_related("organization").filter(pk=pk).first()
    if invitation is None or not permissions.invitation_view(user, invitation):
        raise Http404
    return invitation


@login_required
@require_POST
@web_errors
def invitation_accept(request, pk):
    invitation = services.invitation_accept(actor=request.user, invitation=_invitation(request.user, pk))
    messages.success(
        request,
        _("You are now a member of %(organization)s.") % {"organization": invitation.organization.name},
    )
    return redirect("home")


@login_required
@require_POST
@web_errors
def invitation_decline(request, pk):
    services.invitation_decline(actor=request.user, invitation=_invitation(request.user, pk))
    messages.success(request, _("Invitation declined."))
    return redirect("invitations")


# --- an organization's members and the invitations it sent --------------------------------------


def _own_organizations(user) -> list[Organization]:
    return list(Organization.objects.filter(pk__in=list(roles_by_organization(user))).order_by("name"))


def _can_invite(user, organization) -> bool:
    return organization.is_verified and permissions.membership_invite(user, organization)


@login_required
def members(request):
    organizations = _own_organizations(request.user)
    blocks = [
        {
            "organization": org,
            "members": organization_members(org).order_by("user__email", "role"),
            "invitations": organization_invitations(org).filter(state=Invitation.State.PENDING),
            "can_invite": _can_invite(request.user, org),
        }
        for org in organizations
    ]
    inviting = [b["organization"] for b in blocks if b["can_invite"]]
    return render(
        request,
        "accounts/members.html",
        {"blocks": blocks, "invite_form": InviteForm(organizations=inviting) if inviting else None},
    )


@login_required
@require_POST
@web_errors
def members_invite(request):
    organization_id = request.POST.get("organization", "")
    if not is_id(organization_id):
        raise Http404
    organization = organizations_visible_to(request.user).filter(pk=int(organization_id)).first()
    if organization is None:
        raise Http404
    form = InviteForm(request.POST, organizations=[organization])
    if not form.is_valid():
        messages.error(request, _("Enter a valid e-mail address and a role."))
        return redirect("members")
    services.membership_invite(
        actor=request.user,
        organization=organization,
        email=form.cleaned_data["email"],
        role=form.cleaned_data["role"],
    )
    messages.success(
        request,
        _("The invitation is sent to %(email)s; they join when they accept it.")
        % {"email": form.cleaned_data["email"]},
    )
    return redirect("members")


@login_required
@require_POST
@web_errors
def invitation_withdraw(request, pk):
    services.invitation_revoke(actor=request.user, invitation=_invitation(request.user, pk))
    messages.success(request, _("Invitation withdrawn."))
    return redirect("members")


# --- passwords: reset works for accounts without one; a new password revokes API tokens ----------


class PasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email):
        """Also accounts with no usable password yet (made for an invitation): the normal
        reset is how their owners set one."""
        return [
            user
            for user in User.objects.filter(email__iexact=email, is_active=True)
            if user.email.casefold() == email.casefold()
        ]


password_reset = throttle_web("auth", methods=("POST",))(
    auth_views.PasswordResetView.as_view(form_class=PasswordResetForm)
)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        services.api_tokens_revoke_all(actor=form.user, user=form.user, reason="password_reset")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        services.api_tokens_revoke_all(actor=form.user, user=form.user, reason="password_changed")
        return response


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
    organizations = (
        organizations.annotate(members=Count("memberships"))
        .prefetch_related("memberships__user")
        .order_by("created_at", "pk")
    )
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
            "business_statuses": Organization.BusinessStatus.choices,
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
    services.organization_verify(
        actor=request.user,
        organization=organization,
        business_status=request.POST.get("business_status", Organization.BusinessStatus.ACTIVE),
    )
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


@login_required
def organization_certificate(request, pk):
    """The 사업자등록증 an organization uploaded at sign-up, for its managers and operators; 404
    for everyone else (and when there is none). Served as an attachment, never inline."""
    organization = Organization.objects.filter(pk=pk).first() if is_id(pk) else None
    if (
        organization is None
        or not organization.registration_certificate
        or not permissions.organization_certificate_view(request.user, organization)
    ):
        raise Http404
    name = organization.registration_certificate.name
    response = FileResponse(
        organization.registration_certificate.open("rb"),
        as_attachment=True,
        filename=f"business-registration-{organization.business_number}{Path(name).suffix}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response

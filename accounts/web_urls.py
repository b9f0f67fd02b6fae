"""Accounts web pages: sign-up, invitations, members, organization verification."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/confirm/<uidb64>/<token>/", views.signup_confirm, name="signup-confirm"),
    path("invitations/", views.invitations, name="invitations"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.members_invite, name="members-invite"),
    path(
        "members/invitations/<int:pk>/withdraw/",
        views.invitation_withdraw,
        name="invitation-withdraw",
    ),
    path("invitations/<int:pk>/accept/", views.invitation_accept, name="invitation-accept"),
    path("invitations/<int:pk>/decline/", views.invitation_decline, name="invitation-decline"),
    path("operator/organizations/", views.operator_organizations, name="operator-organizations"),
    path(
        "operator/organizations/<int:pk>/verify/",
        views.operator_organization_verify,
        name="operator-organization-verify",
    ),
    path(
        "organizations/<int:pk>/certificate/",
        views.organization_certificate,
        name="organization-certificate",
    ),
    path(
        "operator/organizations/<int:pk>/reject/",
        views.operator_organization_reject,
        name="operator-organization-reject",
    ),
]

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter()
router.register("organizations", api.OrganizationViewSet, basename="organization")
members = SimpleRouter()
members.register("members", api.MemberViewSet, basename="organization-member")
members.register("invitations", api.OrganizationInvitationViewSet, basename="organization-invitation")
mine = SimpleRouter()
mine.register("me/invitations", api.MyInvitationViewSet, basename="my-invitation")
mine.register("auth/tokens", api.ApiTokenViewSet, basename="auth-tokens")

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="auth-token"),
    path("auth/signup/", api.SignupView.as_view(), name="auth-signup"),
    path("me/", api.MeView.as_view(), name="me"),
    path("", include(mine.urls)),
    path("", include(router.urls)),
    path("organizations/<int:organization_pk>/", include(members.urls)),
]

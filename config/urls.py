from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts import views as accounts_views
from config import views

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("transactions.urls")),
    path("", include("insights.urls")),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", include("catalog.ckan.urls")),  # CKAN-compatible read-only Action API
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs pages load their script from a file (the "split" view) but style themselves inline.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
    path("healthz", views.health, name="health"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path(
        "favicon.ico",
        views.favicon,
        name="favicon",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before Django's own: reset reaches accounts without a password; a new password revokes tokens.
    path("accounts/password_reset/", accounts_views.password_reset, name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        accounts_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/password_change/", accounts_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/", include("django.contrib.auth.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
    # The language comes from the switch (cookie) or the browser's Accept-Language, not the
    # URL, so API clients and bookmarks see the same paths in Korean and English.
    path("", include("config.web_urls")),
]

# Django calls it only with DEBUG off (with DEBUG on it shows its technical 404 page).
handler404 = "marketplace.api.not_found"

# MEDIA_ROOT is never served, in no mode (not even DEBUG): it holds every dataset's raw Parquet
# and every buyer's bundle. Files leave only through signed, expiring, per-user links
# (transactions.services.extracts.extract_download).

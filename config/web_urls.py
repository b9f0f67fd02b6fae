"""Web pages (server-rendered, over the same services as the API). Each app owns its routes
(`<app>/web_urls.py`); this file holds the site-wide pages and includes the apps'."""

from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("privacy/", views.privacy_page, name="privacy"),
    path("terms/", views.terms_page, name="terms"),
    path("privacy-policy/", views.privacy_policy_page, name="privacy-policy"),
    path("support/", views.support_page, name="support"),
    path("insights/", include("insights.web_urls")),
    path("", include("accounts.web_urls")),
    path("", include("catalog.web_urls")),
    path("", include("transactions.web_urls")),
]

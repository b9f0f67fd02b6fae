from django.urls import path

from insights import views

urlpatterns = [
    path("", views.insights_home, name="insights"),
    path("regions/<str:code>/", views.insights_region, name="insights-region"),
    path("compare/", views.insights_compare, name="insights-compare"),
    path("charts/<str:key>/", views.insights_chart, name="insights-chart"),
    path("releases/<slug:slug>.csv", views.insights_release_csv, name="insights-release-csv"),
]

"""Catalog web pages: the public catalog and dataset pages, the centers' datasets, versions and
offers, the operator's risk threshold."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("catalog.jsonld", views.catalog_jsonld, name="catalog-jsonld"),
    path("datasets/", views.catalog_page, name="catalog"),
    path("datasets/<str:slug>/", views.dataset_page, name="dataset-page"),
    path("center/", views.center_datasets, name="center-datasets"),
    path("center/datasets/new/", views.center_dataset_new, name="center-dataset-new"),
    path("center/datasets/<str:slug>/", views.center_dataset, name="center-dataset"),
    path("center/datasets/<str:slug>/edit/", views.center_dataset_edit, name="center-dataset-edit"),
    path(
        "center/datasets/<str:slug>/retire/",
        views.center_dataset_retire,
        name="center-dataset-retire",
    ),
    path(
        "center/datasets/<str:slug>/upload/",
        views.center_version_upload,
        name="center-version-upload",
    ),
    path("center/datasets/<str:slug>/offers/new/", views.center_offer_new, name="center-offer-new"),
    path("center/offers/<int:pk>/", views.center_offer_edit, name="center-offer-edit"),
    path(
        "center/offers/<int:pk>/risk-status/", views.center_offer_risk_status, name="center-offer-risk-status"
    ),
    path("center/versions/<int:pk>/", views.center_version, name="center-version"),
    path(
        "center/versions/<int:pk>/status.json",
        views.center_version_status,
        name="center-version-status",
    ),
    path(
        "center/versions/<int:pk>/publish/",
        views.center_version_publish,
        name="center-version-publish",
    ),
    path("operator/risk-threshold/", views.operator_risk_threshold, name="operator-risk-threshold"),
]

"""CKAN's Action API addresses: `/api/3/action/<action>` (API version 3) and `/api/action/<action>`
(where the `ckanapi` library and many scripts call it)."""

from django.urls import path

from catalog.ckan.api import ActionView

urlpatterns = [
    path("api/3/action/<str:action>", ActionView.as_view(), name="ckan-action"),
    path("api/action/<str:action>", ActionView.as_view(), name="ckan-action-unversioned"),
]

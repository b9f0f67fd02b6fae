"""Web pages (server-rendered, over the same services as the API)."""

from django.urls import path

from catalog import views as catalog_views
from marketplace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("catalog.jsonld", catalog_views.catalog_jsonld, name="catalog-jsonld"),
    path("datasets/<str:slug>/", catalog_views.dataset_page, name="dataset-page"),
]

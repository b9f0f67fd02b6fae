from django.urls import include, path
from rest_framework.routers import SimpleRouter

from catalog import api, tus

router = SimpleRouter()
router.register("datasets", api.DatasetViewSet, basename="dataset")
router.register("versions", api.VersionViewSet, basename="version")
router.register("offers", api.OfferViewSet, basename="offer")

urlpatterns = [
    path(
        "versions/<int:pk>/tableschema.json",
        api.VersionViewSet.as_view({"get": "tableschema"}),
        name="version-tableschema",
    ),
    path("uploads/", tus.UploadsView.as_view(), name="uploads"),
    path("uploads/<uuid:pk>/", tus.UploadDetailView.as_view(), name="upload-detail"),
    path("risk-threshold/", api.RiskThresholdView.as_view(), name="risk-threshold"),
    path("", include(router.urls)),
]

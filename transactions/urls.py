from django.urls import include, path
from rest_framework.routers import SimpleRouter

from transactions import api, api_extracts

router = SimpleRouter()
router.register("requests", api.AccessRequestViewSet, basename="access-request")
router.register("licenses", api.LicenseViewSet, basename="license")
router.register("invoices", api.InvoiceViewSet, basename="invoice")
router.register("notifications", api.NotificationViewSet, basename="notification")
router.register("audit", api.AuditEventViewSet, basename="audit-event")
router.register("extracts", api_extracts.ExtractViewSet, basename="extract")

urlpatterns = [
    path("stats/", api.StatsView.as_view(), name="stats"),
    path("licenses/<int:pk>/extracts/", api_extracts.LicenseExtractsView.as_view(), name="license-extracts"),
    path(
        "extracts/download/<str:token>/", api_extracts.ExtractDownloadView.as_view(), name="extract-download"
    ),
    path("leaks/trace/", api_extracts.LeakTraceView.as_view(), name="leak-trace"),
    path("", include(router.urls)),
]

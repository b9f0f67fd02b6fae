from django.urls import include, path
from rest_framework.routers import SimpleRouter

from transactions.api import audit, extracts, invoices, licenses, notifications, requests, stats

router = SimpleRouter()
router.register("requests", requests.AccessRequestViewSet, basename="access-request")
router.register("licenses", licenses.LicenseViewSet, basename="license")
router.register("invoices", invoices.InvoiceViewSet, basename="invoice")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("audit", audit.AuditEventViewSet, basename="audit-event")
router.register("extracts", extracts.ExtractViewSet, basename="extract")

urlpatterns = [
    path("stats/", stats.StatsView.as_view(), name="stats"),
    path("licenses/<int:pk>/extracts/", extracts.LicenseExtractsView.as_view(), name="license-extracts"),
    path("extracts/download/<str:token>/", extracts.ExtractDownloadView.as_view(), name="extract-download"),
    path("leaks/trace/", extracts.LeakTraceView.as_view(), name="leak-trace"),
    path("", include(router.urls)),
]

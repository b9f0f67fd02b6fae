from django.urls import include, path
from rest_framework.routers import SimpleRouter

from transactions import api

router = SimpleRouter()
router.register("requests", api.AccessRequestViewSet, basename="access-request")
router.register("licenses", api.LicenseViewSet, basename="license")
router.register("invoices", api.InvoiceViewSet, basename="invoice")
router.register("notifications", api.NotificationViewSet, basename="notification")
router.register("audit", api.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("stats/", api.StatsView.as_view(), name="stats"),
    path("", include(router.urls)),
]

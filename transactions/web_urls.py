"""Transactions web pages: requests, licenses, invoices, notifications, the audit log, the
centers' review queue and dashboard, the operators' queues and leak tracing."""

from django.urls import path

from transactions.views import buyers, notifications, operators, reviewers

urlpatterns = [
    path("datasets/<str:slug>/request/<int:offer_id>/", buyers.request_new, name="request-new"),
    path("requests/", buyers.my_requests, name="my-requests"),
    path("requests/<int:pk>/", reviewers.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", buyers.request_edit, name="request-edit"),
    path("requests/<int:pk>/resubmit/", buyers.request_resubmit, name="request-resubmit"),
    path("requests/<int:pk>/withdraw/", buyers.request_withdraw, name="request-withdraw"),
    path("requests/<int:pk>/approve/", reviewers.request_approve, name="request-approve"),
    path("requests/<int:pk>/return/", reviewers.request_return, name="request-return"),
    path("requests/<int:pk>/reject/", reviewers.request_reject, name="request-reject"),
    path("licenses/", buyers.license_list, name="my-licenses"),
    path("licenses/<int:pk>/", buyers.license_detail, name="license-detail"),
    path("licenses/<int:pk>/extracts.json", buyers.license_extracts_status, name="license-extracts-status"),
    path("licenses/<int:pk>/extracts/", buyers.license_extract_request, name="license-extract-request"),
    path(
        "licenses/<int:pk>/extracts/<int:extract_pk>/download/",
        buyers.license_extract_download,
        name="license-extract-download",
    ),
    path("licenses/<int:pk>/renew/", buyers.license_renew, name="license-renew"),
    path("licenses/<int:pk>/revoke/", operators.license_revoke, name="license-revoke"),
    path("invoices/", buyers.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", buyers.invoice_detail, name="invoice-detail"),
    path("invoices/<int:pk>/print/", buyers.invoice_print, name="invoice-print"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/read-all/", notifications.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
    path("audit/", operators.audit_log, name="audit"),
    path("center/reviews/", reviewers.center_reviews, name="center-reviews"),
    path("center/dashboard/", reviewers.center_dashboard, name="center-dashboard"),
    path("operator/", operators.operator_home, name="operator-home"),
    path("operator/reviews/", operators.operator_reviews, name="operator-reviews"),
    path("operator/requests/", operators.operator_requests, name="operator-requests"),
    path("operator/leaks/", operators.operator_leaks, name="operator-leaks"),
]

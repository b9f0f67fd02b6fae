"""Web pages (server-rendered, over the same services as the API)."""

from django.urls import include, path

from accounts import views as accounts_views
from catalog import views as catalog_views
from config import views
from transactions import views as tx_views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", accounts_views.signup, name="signup"),
    path("signup/confirm/<uidb64>/<token>/", accounts_views.signup_confirm, name="signup-confirm"),
    path("invitations/", accounts_views.invitations, name="invitations"),
    path("members/", accounts_views.members, name="members"),
    path("members/invite/", accounts_views.members_invite, name="members-invite"),
    path(
        "members/invitations/<int:pk>/withdraw/",
        accounts_views.invitation_withdraw,
        name="invitation-withdraw",
    ),
    path("invitations/<int:pk>/accept/", accounts_views.invitation_accept, name="invitation-accept"),
    path("invitations/<int:pk>/decline/", accounts_views.invitation_decline, name="invitation-decline"),
    path("catalog.jsonld", catalog_views.catalog_jsonld, name="catalog-jsonld"),
    path("privacy/", views.privacy_page, name="privacy"),
    path("terms/", views.terms_page, name="terms"),
    path("privacy-policy/", views.privacy_policy_page, name="privacy-policy"),
    path("support/", views.support_page, name="support"),
    path("datasets/", catalog_views.catalog_page, name="catalog"),
    path("insights/", include("insights.web_urls")),
    path("datasets/<str:slug>/", catalog_views.dataset_page, name="dataset-page"),
    path("datasets/<str:slug>/request/<int:offer_id>/", tx_views.request_new, name="request-new"),
    # Requests, licenses, invoices, notifications (buyers, centers and operators alike)
    path("requests/", tx_views.my_requests, name="my-requests"),
    path("requests/<int:pk>/", tx_views.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", tx_views.request_edit, name="request-edit"),
    path("requests/<int:pk>/resubmit/", tx_views.request_resubmit, name="request-resubmit"),
    path("requests/<int:pk>/withdraw/", tx_views.request_withdraw, name="request-withdraw"),
    path("requests/<int:pk>/approve/", tx_views.request_approve, name="request-approve"),
    path("requests/<int:pk>/return/", tx_views.request_return, name="request-return"),
    path("requests/<int:pk>/reject/", tx_views.request_reject, name="request-reject"),
    path("licenses/", tx_views.license_list, name="my-licenses"),
    path("licenses/<int:pk>/", tx_views.license_detail, name="license-detail"),
    path("licenses/<int:pk>/extracts.json", tx_views.license_extracts_status, name="license-extracts-status"),
    path("licenses/<int:pk>/extracts/", tx_views.license_extract_request, name="license-extract-request"),
    path(
        "licenses/<int:pk>/extracts/<int:extract_pk>/download/",
        tx_views.license_extract_download,
        name="license-extract-download",
    ),
    path("licenses/<int:pk>/renew/", tx_views.license_renew, name="license-renew"),
    path("licenses/<int:pk>/revoke/", tx_views.license_revoke, name="license-revoke"),
    path("invoices/", tx_views.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", tx_views.invoice_detail, name="invoice-detail"),
    path("invoices/<int:pk>/print/", tx_views.invoice_print, name="invoice-print"),
    path("notifications/", tx_views.notification_list, name="notifications"),
    path("notifications/read-all/", tx_views.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", tx_views.notification_read, name="notification-read"),
    path("audit/", tx_views.audit_log, name="audit"),
    # Centers
    path("center/reviews/", tx_views.center_reviews, name="center-reviews"),
    path("center/dashboard/", tx_views.center_dashboard, name="center-dashboard"),
    path("center/", catalog_views.center_datasets, name="center-datasets"),
    path("center/datasets/new/", catalog_views.center_dataset_new, name="center-dataset-new"),
    path("center/datasets/<str:slug>/", catalog_views.center_dataset, name="center-dataset"),
    path("center/datasets/<str:slug>/edit/", catalog_views.center_dataset_edit, name="center-dataset-edit"),
    path(
        "center/datasets/<str:slug>/retire/",
        catalog_views.center_dataset_retire,
        name="center-dataset-retire",
    ),
    path(
        "center/datasets/<str:slug>/upload/",
        catalog_views.center_version_upload,
        name="center-version-upload",
    ),
    path("center/datasets/<str:slug>/offers/new/", catalog_views.center_offer_new, name="center-offer-new"),
    path("center/offers/<int:pk>/", catalog_views.center_offer_edit, name="center-offer-edit"),
    path("center/versions/<int:pk>/", catalog_views.center_version, name="center-version"),
    path(
        "center/versions/<int:pk>/status.json",
        catalog_views.center_version_status,
        name="center-version-status",
    ),
    path(
        "center/versions/<int:pk>/publish/",
        catalog_views.center_version_publish,
        name="center-version-publish",
    ),
    # Operators
    path("operator/", tx_views.operator_home, name="operator-home"),
    path("operator/organizations/", accounts_views.operator_organizations, name="operator-organizations"),
    path(
        "operator/organizations/<int:pk>/verify/",
        accounts_views.operator_organization_verify,
        name="operator-organization-verify",
    ),
    path(
        "organizations/<int:pk>/certificate/",
        accounts_views.organization_certificate,
        name="organization-certificate",
    ),
    path(
        "operator/organizations/<int:pk>/reject/",
        accounts_views.operator_organization_reject,
        name="operator-organization-reject",
    ),
    path("operator/reviews/", tx_views.operator_reviews, name="operator-reviews"),
    path("operator/requests/", tx_views.operator_requests, name="operator-requests"),
    path("operator/leaks/", tx_views.operator_leaks, name="operator-leaks"),
    path("operator/risk-threshold/", catalog_views.operator_risk_threshold, name="operator-risk-threshold"),
]

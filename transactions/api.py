"""Transactions API: thin views that parse input, call one service and shape output.

Visibility is the selectors' queryset (invisible → 404); what a visible caller may do is the
service's rule (→ 403); the state is the service's check (→ 409)."""

from __future__ import annotations

import datetime
import json

import django_filters
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import OrganizationBriefSerializer
from accounts.selectors import is_operator
from catalog.api import DATASET_SLUG_HELP
from catalog.models import Dataset
from marketplace import errors
from marketplace.api import MAX_ID, Pagination, is_id
from marketplace.csv_export import csv_response
from marketplace.models import AuditEvent
from marketplace.serializers import ModelSerializer
from transactions import permissions, selectors, services
from transactions.models import (
    AccessRequest,
    DownloadEvent,
    Invoice,
    License,
    Notification,
    RequestEvent,
    RequestMessage,
    license_is_usable,
)
from transactions.notifications import render
from transactions.payments import provider_for
from transactions.scope import SCOPE_KEYS, scope_difference

# --- output ---------------------------------------------------------------------------------


class AccessScopeSerializer(serializers.Serializer):
    fields = serializers.ListField(child=serializers.CharField())
    regions = serializers.ListField(child=serializers.CharField(), help_text="Empty: every region.")
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)


class RequestedDatasetSerializer(ModelSerializer):
    slug = serializers.CharField(read_only=True, help_text=DATASET_SLUG_HELP)

    class Meta:
        model = Dataset
        fields = ["id", "slug", "title", "title_en"]


class RequesterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField()


class RequestEventSerializer(ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    organization = OrganizationBriefSerializer(source="actor_organization", allow_null=True)
    narrowed = serializers.JSONField(source="scope_diff", allow_null=True)

    class Meta:
        model = RequestEvent
        fields = [
            "action",
            "from_state",
            "to_state",
            "actor",
            "organization",
            "note",
            "narrowed",
            "created_at",
        ]


def _related_id(obj, name: str) -> int | None:
    try:
        related = getattr(obj, name)
    except ObjectDoesNotExist:
        return None
    return related.pk if related is not None else None


def _page_of(serializer: serializers.Serializer, name: str):
    """The schema of a paginated list returned by an action (not a list view)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer,
        },
    )


class AccessRequestSerializer(ModelSerializer):
    offer = serializers.IntegerField(source="offer_id")
    offer_name = serializers.CharField(source="offer.name")
    dataset = RequestedDatasetSerializer(source="offer.dataset")
    center = OrganizationBriefSerializer(source="offer.dataset.center")
    organization = OrganizationBriefSerializer()
    requester = RequesterSerializer()
    scope = AccessScopeSerializer()
    requested_scope = AccessScopeSerializer()
    narrowed = serializers.SerializerMethodField(
        help_text="What reviewers removed: {key: {requested, approved}}."
    )
    terms_version = serializers.IntegerField(source="terms.version")
    history = RequestEventSerializer(source="events", many=True)
    license = serializers.SerializerMethodField()
    invoice = serializers.SerializerMethodField()
    review_deadline = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "state",
            "offer",
            "offer_name",
            "dataset",
            "center",
            "organization",
            "requester",
            "scope",
            "requested_scope",
            "narrowed",
            "purpose",
            "purpose_category",
            "terms_version",
            "terms_sha256",
            "terms_accepted_at",
            "renewal_of",
            "history",
            "license",
            "invoice",
            "review_deadline",
            "state_changed_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_narrowed(self, obj) -> dict:
        return scope_difference(obj.requested_scope, obj.scope)

    def get_license(self, obj) -> int | None:
        return _related_id(obj, "license")

    def get_invoice(self, obj) -> int | None:
        return _related_id(obj, "invoice")

    def get_review_deadline(self, obj) -> datetime.datetime | None:
        deadline = selectors.review_deadline(obj)
        return serializers.DateTimeField().to_representation(deadline) if deadline else None


class RequestMessageSerializer(ModelSerializer):
    author = RequesterSerializer()
    organization = OrganizationBriefSerializer(allow_null=True)

    class Meta:
        model = RequestMessage
        fields = ["id", "author", "organization", "body", "created_at"]


class LicenseSerializer(ModelSerializer):
    """A license as its holder and provider see it. The pseudonymization key is never here."""

    request = serializers.IntegerField(source="access_request_id")
    organization = OrganizationBriefSerializer()
    dataset = RequestedDatasetSerializer()
    offer = serializers.IntegerField(source="offer_id")
    scope = AccessScopeSerializer()
    usable = serializers.SerializerMethodField(help_text="Downloads are allowed now.")

    class Meta:
        model = License
        fields = [
            "id",
            "state",
            "request",
            "organization",
            "dataset",
            "offer",
            "offer_snapshot",
            "scope",
            "terms_text",
            "terms_sha256",
            "valid_from",
            "valid_until",
            "download_quota",
            "downloads_used",
            "deliver_updates",
            "usable",
            "revoked_reason",
            "revoked_at",
            "expired_at",
            "created_at",
        ]

    def get_usable(self, obj) -> bool:
        return license_is_usable(obj)


class InvoiceSerializer(ModelSerializer):
    request = serializers.IntegerField(source="access_request_id")
    organization = OrganizationBriefSerializer()
    payment_instructions = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "request",
            "organization",
            "supply_krw",
            "vat_krw",
            "total_krw",
            "state",
            "provider",
            "payment_instructions",
            "issued_at",
            "paid_at",
            "paid_reference",
            "voided_at",
            "void_reason",
        ]

    def get_payment_instructions(self, obj) -> str:
        if obj.state != Invoice.State.ISSUED:
            return ""
        return provider_for(obj.provider).instructions(obj)


class NotificationSerializer(ModelSerializer):
    title = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField()
    request = serializers.IntegerField(source="access_request_id", allow_null=True)
    license = serializers.IntegerField(source="license_id", allow_null=True)
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "verb", "title", "body", "url", "request", "license", "read", "read_at", "created_at"]

    def _rendered(self, obj) -> tuple[str, str]:
        try:
            return render(obj.verb, obj.params)
        except KeyError:
            return obj.title, obj.body

    def get_title(self, obj) -> str:
        return self._rendered(obj)[0]

    def get_body(self, obj) -> str:
        return self._rendered(obj)[1]

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class AuditEventSerializer(ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    organization = OrganizationBriefSerializer(allow_null=True)
    other_organization = OrganizationBriefSerializer(allow_null=True)
    ip = serializers.SerializerMethodField(help_text="Shown to operators only.")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "verb",
            "organization",
            "other_organization",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "ip",
        ]

    def get_ip(self, obj) -> str | None:
        return obj.ip if self.context.get("show_ip") else None


class DownloadEventSerializer(ModelSerializer):
    user = serializers.SerializerMethodField()
    organization = OrganizationBriefSerializer(allow_null=True)

    class Meta:
        model = DownloadEvent
        fields = ["id", "created_at", "user", "organization", "extract_id", "bytes"]

    def get_user(self, obj) -> str | None:
        return obj.user.email if obj.user_id else None


class StatsMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    views = serializers.IntegerField(required=False)
    requests = serializers.IntegerField()
    approvals = serializers.IntegerField()
    licenses = serializers.IntegerField()
    downloads = serializers.IntegerField()
    revenue_krw = serializers.IntegerField()


class StatsOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    months = StatsMonthSerializer(many=True)


class StatsDatasetRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()


class StatsSerializer(serializers.Serializer):
    dataset = StatsDatasetRefSerializer()
    months = StatsMonthSerializer(many=True)
    offers = StatsOfferSerializer(many=True)


# --- input ----------------------------------------------------------------------------------


class AccessScopeInputSerializer(serializers.Serializer):
    fields = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False)
    regions = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True),
        required=False,
        help_text="Values of the offer's region field; empty or left out: every region.",
    )
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)


def _scope_from(validated: dict) -> dict:
    return {key: validated[key] for key in SCOPE_KEYS if key in validated}


class RequestCreateSerializer(AccessScopeInputSerializer):
    offer = serializers.IntegerField()
    purpose = serializers.CharField(allow_blank=True, max_length=5000)
    purpose_category = serializers.ChoiceField(choices=AccessRequest.PurposeCategory.choices)
    accept_terms = serializers.BooleanField(default=False)
    organization = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The buyer organization requesting, when the caller belongs to several.",
    )


class RequestUpdateSerializer(AccessScopeInputSerializer):
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    purpose_category = serializers.ChoiceField(choices=AccessRequest.PurposeCategory.choices, required=False)
    accept_terms = serializers.BooleanField(default=False)


class ApproveSerializer(AccessScopeInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=5000)


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=5000)


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=5000)


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ReturnSerializer(serializers.Serializer):
    message = serializers.CharField(allow_blank=True, max_length=5000)


class ResubmitSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class MessageInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, max_length=5000)


class MarkPaidSerializer(serializers.Serializer):
    reference = serializers.CharField(
        allow_blank=True, max_length=200, help_text="bank transfer: its reference; toss: the payment key"
    )
    method = serializers.ChoiceField(
        choices=["bank_transfer", "toss"],
        required=False,
        help_text="how it was paid (default: the invoice's method); toss only when the gateway is configured",
    )
    idempotency_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Same key, same answer (the `Idempotency-Key` header works too).",
    )


class RenewSerializer(serializers.Serializer):
    accept_terms = serializers.BooleanField(
        default=False, help_text="Needed only when the offer's terms changed since the license."
    )
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    purpose_category = serializers.ChoiceField(choices=AccessRequest.PurposeCategory.choices, required=False)


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


# --- requests -------------------------------------------------------------------------------


class IdFilter(django_filters.NumberFilter):
    """A foreign key's id: a number beyond the database's integer range is invalid input (400),
    not a comparison the database fails at (a 500: OverflowError on SQLite, out of range on
    PostgreSQL; Django guards only plain integer fields)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=-MAX_ID - 1, max_value=MAX_ID, **kwargs)


class AccessRequestFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=AccessRequest.State.choices)
    offer = IdFilter(field_name="offer_id")
    organization = IdFilter(field_name="organization_id")
    dataset = django_filters.CharFilter(field_name="offer__dataset__slug")
    purpose_category = django_filters.ChoiceFilter(choices=AccessRequest.PurposeCategory.choices)

    class Meta:
        model = AccessRequest
        fields = ["state", "offer", "organization", "dataset", "purpose_category"]


class AccessRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Access requests the caller is party to: their buyer organization's, those on their
    center's datasets, or all (operators)."""

    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.access_requests_visible_to(self.request.user)

    def _fresh(self, access_request: AccessRequest) -> dict:
        return AccessRequestSerializer(
            selectors.access_request_for(self.request.user, access_request.pk)
        ).data

    @extend_schema(request=RequestCreateSerializer, responses={201: AccessRequestSerializer})
    def create(self, request, *args, **kwargs):
        data = _valid(RequestCreateSerializer, request)
        offer = selectors.requestable_offer(data["offer"])
        access_request = services.access_request_submit(
            actor=request.user,
            offer=offer,
            organization=data.get("organization"),
            scope=_scope_from(data),
            purpose=data["purpose"],
            purpose_category=data["purpose_category"],
            accept_terms=data["accept_terms"],
        )
        return Response(self._fresh(access_request), status=status.HTTP_201_CREATED)

    @extend_schema(request=RequestUpdateSerializer, responses=AccessRequestSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = _valid(RequestUpdateSerializer, request)
        scope = _scope_from(data)
        access_request = services.access_request_update(
            actor=request.user,
            access_request=self.get_object(),
            scope=scope or None,
            purpose=data.get("purpose"),
            purpose_category=data.get("purpose_category"),
            accept_terms=data["accept_terms"],
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=ApproveSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = _valid(ApproveSerializer, request)
        access_request = services.access_request_approve(
            actor=request.user,
            access_request=self.get_object(),
            narrowed_scope=_scope_from(data) or None,
            note=data["note"],
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=RejectSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _valid(RejectSerializer, request)
        access_request = services.access_request_reject(
            actor=request.user, access_request=self.get_object(), reason=data["reason"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=ReturnSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_for_changes(self, request, pk=None):
        data = _valid(ReturnSerializer, request)
        access_request = services.access_request_return(
            actor=request.user, access_request=self.get_object(), message=data["message"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=WithdrawSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        data = _valid(WithdrawSerializer, request)
        access_request = services.access_request_withdraw(
            actor=request.user, access_request=self.get_object(), reason=data["reason"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=ResubmitSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        data = _valid(ResubmitSerializer, request)
        access_request = services.access_request_resubmit(
            actor=request.user, access_request=self.get_object(), note=data["note"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(
        methods=["GET"],
        request=None,
        responses=_page_of(RequestMessageSerializer(many=True), "RequestMessagePage"),
        description="The request's message thread, oldest first.",
    )
    @extend_schema(
        methods=["POST"], request=MessageInputSerializer, responses={201: RequestMessageSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=Pagination)
    def messages(self, request, pk=None):
        access_request = self.get_object()
        if request.method == "POST":
            data = _valid(MessageInputSerializer, request)
            message = services.access_request_message_post(
                actor=request.user, access_request=access_request, body=data["body"]
            )
            return Response(RequestMessageSerializer(message).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.access_request_messages(access_request))
        return self.get_paginated_response(RequestMessageSerializer(page, many=True).data)


# --- licenses -------------------------------------------------------------------------------


class LicenseFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=License.State.choices)
    offer = IdFilter(field_name="offer_id")
    organization = IdFilter(field_name="organization_id")
    dataset = django_filters.CharFilter(field_name="dataset__slug")

    class Meta:
        model = License
        fields = ["state", "offer", "organization", "dataset"]


class LicenseViewSet(viewsets.ReadOnlyModelViewSet):
    """Licenses the caller's organization holds, those on their center's datasets, or all
    (operators)."""

    serializer_class = LicenseSerializer
    filterset_class = LicenseFilter

    def get_queryset(self):
        return selectors.licenses_visible_to(self.request.user)

    @extend_schema(request=RevokeSerializer, responses=LicenseSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        data = _valid(RevokeSerializer, request)
        license = services.license_revoke(
            actor=request.user, license=self.get_object(), reason=data["reason"]
        )
        return Response(LicenseSerializer(license).data)

    @extend_schema(request=RenewSerializer, responses={201: AccessRequestSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        data = _valid(RenewSerializer, request)
        renewal = services.license_renew(
            actor=request.user,
            license=self.get_object(),
            accept_terms=data["accept_terms"],
            purpose=data.get("purpose"),
            purpose_category=data.get("purpose_category"),
        )
        fresh = selectors.access_request_for(request.user, renewal.pk)
        return Response(AccessRequestSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=_page_of(DownloadEventSerializer(many=True), "DownloadEventPage"))
    @action(detail=True, methods=["get"])
    def downloads(self, request, pk=None):
        """Who downloaded what under this license, newest first."""
        page = self.paginate_queryset(selectors.license_downloads(self.get_object()))
        return self.get_paginated_response(DownloadEventSerializer(page, many=True).data)


# --- invoices -------------------------------------------------------------------------------


class InvoiceFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Invoice.State.choices)
    organization = IdFilter(field_name="organization_id")
    year = django_filters.NumberFilter()

    class Meta:
        model = Invoice
        fields = ["state", "organization", "year"]


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` reach the view, which streams the CSV itself; anything else that ends
    up here (an error) is written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")


INVOICE_CSV_COLUMNS = [
    "number",
    "request",
    "organization",
    "supply_krw",
    "vat_krw",
    "total_krw",
    "state",
    "provider",
    "issued_at",
    "paid_at",
    "paid_reference",
    "voided_at",
    "void_reason",
]


class InvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    """Invoices of the caller's organizations (all, for operators). `?format=csv` streams the
    filtered list as CSV (UTF-8 with BOM)."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def get_queryset(self):
        return selectors.invoices_visible_to(self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv` streams a CSV file."
            )
        ],
        responses={
            (200, "application/json"): InvoiceSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, UTF-8 with BOM"),
        },
    )
    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            queryset = self.filter_queryset(self.get_queryset()).select_related("organization")

            def rows():
                for invoice in queryset.iterator(chunk_size=2000):
                    yield [
                        invoice.number,
                        invoice.access_request_id,
                        invoice.organization.name,
                        invoice.supply_krw,
                        invoice.vat_krw,
                        invoice.total_krw,
                        invoice.state,
                        invoice.provider,
                        invoice.issued_at,
                        invoice.paid_at,
                        invoice.paid_reference,
                        invoice.voided_at,
                        invoice.void_reason,
                    ]

            return csv_response("jangteo-invoices", INVOICE_CSV_COLUMNS, rows())
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=MarkPaidSerializer,
        responses=InvoiceSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
    )
    @action(detail=True, methods=["post"], url_path="mark-paid", url_name="mark-paid")
    def mark_paid(self, request, pk=None):
        data = _valid(MarkPaidSerializer, request)
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        invoice = services.invoice_mark_paid(
            actor=request.user,
            invoice=self.get_object(),
            reference=data["reference"],
            idempotency_key=key,
            provider=data.get("method") or None,
        )
        return Response(InvoiceSerializer(selectors.invoice_for(request.user, invoice.pk)).data)

    @extend_schema(request=VoidSerializer, responses=InvoiceSerializer)
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        data = _valid(VoidSerializer, request)
        invoice = services.invoice_void(actor=request.user, invoice=self.get_object(), reason=data["reason"])
        return Response(InvoiceSerializer(selectors.invoice_for(request.user, invoice.pk)).data)


# --- notifications --------------------------------------------------------------------------


class NotificationPagination(Pagination):
    """The page plus the caller's unread count."""

    def paginate_queryset(self, queryset, request, view=None):
        self.unread = selectors.unread_count(request.user)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["unread"] = self.unread
        return response

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread"] = {"type": "integer", "example": 3}
        paginated["required"] = [*paginated.get("required", []), "unread"]
        return paginated


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's notifications, newest first, with the unread count."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    filterset_fields = ["verb"]

    def get_queryset(self):
        qs = selectors.notifications_of(self.request.user)
        unread = self.request.query_params.get("unread")
        if unread in ("1", "true"):
            qs = qs.filter(read_at__isnull=True)
        return qs

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(actor=request.user, notification=self.get_object())
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=None, responses=UnreadSerializer)
    @action(detail=False, methods=["post"], url_path="read-all", url_name="read-all")
    def read_all(self, request):
        services.notification_mark_all_read(actor=request.user)
        return Response({"unread": selectors.unread_count(request.user)})


# --- audit ----------------------------------------------------------------------------------


AUDIT_CSV_COLUMNS = [
    "time",
    "actor",
    "verb",
    "organization",
    "other_organization",
    "object_type",
    "object_id",
    "object",
    "before",
    "after",
    "ip",
]


def _parse_when(value: str | None, *, end: bool = False) -> datetime.datetime | None:
    """A `since` (or, with `end`, `until`) query parameter. A date alone is the whole day in the
    platform's time zone (`until=2026-03-05` includes every event of 5 March); a date and time
    keeps its exact meaning (read in the platform's time zone when it has no offset)."""
    if not value:
        return None
    try:
        # The date first: parse_datetime also reads "2026-03-05", as that day's midnight, which
        # made a date-only `until` drop the events of its own day.
        day = parse_date(value)
        if day is not None:
            return selectors.day_bound(day, end=end)
        moment = parse_datetime(value)
    except ValueError:  # well formed but impossible: 2026-02-30, 25:00
        moment = None
    if moment is None:
        raise errors.ApplicationError(
            _("Give dates as YYYY-MM-DD or ISO 8601 times."),
            errors={"until" if end else "since": [value]},
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


_SINCE_HELP = (
    "From this date (its first moment) or ISO 8601 time, inclusive. Dates and times without an "
    f"offset are in the platform's time zone ({settings.TIME_ZONE})."
)
_UNTIL_HELP = (
    "Until this date, inclusive: the whole day in the platform's time zone "
    f"({settings.TIME_ZONE}). Or until this ISO 8601 time, exclusive (without an offset, in the "
    "platform's time zone)."
)


AUDIT_PARAMETERS = [
    OpenApiParameter("verb", OpenApiTypes.STR, description="Verb or its prefix: `transactions.license`."),
    OpenApiParameter("organization", OpenApiTypes.INT, description="Events this organization is party to."),
    OpenApiParameter("since", OpenApiTypes.STR, description=_SINCE_HELP),
    OpenApiParameter("until", OpenApiTypes.STR, description=_UNTIL_HELP),
    OpenApiParameter("target_type", OpenApiTypes.STR, description="e.g. `transactions.license`."),
    OpenApiParameter("target_id", OpenApiTypes.STR),
    OpenApiParameter(
        "format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv` streams a CSV file."
    ),
]


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit trail: operators read everything, organizations the events they are party to.
    `?format=csv` streams the filtered events as CSV (UTF-8 with BOM, for Excel)."""

    serializer_class = AuditEventSerializer
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    filter_backends: list = []

    def get_queryset(self):
        params = self.request.query_params
        organization = params.get("organization")
        if organization and not is_id(organization):
            raise errors.ApplicationError(
                _("The organization is an id."), errors={"organization": [_("Enter a whole number.")]}
            )
        return selectors.audit_events_filter(
            selectors.audit_events_visible_to(self.request.user),
            verb=params.get("verb", ""),
            organization=int(organization) if organization else None,
            since=_parse_when(params.get("since")),
            until=_parse_when(params.get("until"), end=True),
            target_type=params.get("target_type", ""),
            target_id=params.get("target_id", ""),
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["show_ip"] = is_operator(self.request.user)
        return context

    @extend_schema(
        parameters=AUDIT_PARAMETERS,
        responses={
            (200, "application/json"): AuditEventSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, UTF-8 with BOM"),
        },
    )
    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return self._csv(self.get_queryset())
        return super().list(request, *args, **kwargs)

    def _csv(self, queryset) -> StreamingHttpResponse:
        show_ip = is_operator(self.request.user)

        def rows():
            for event in queryset.iterator(chunk_size=2000):
                yield [
                    event.created_at,
                    event.actor_label,
                    event.verb,
                    event.organization.name if event.organization_id else "",
                    event.other_organization.name if event.other_organization_id else "",
                    event.target_type,
                    event.target_id,
                    event.target_repr,
                    json.dumps(event.before, ensure_ascii=False) if event.before is not None else "",
                    json.dumps(event.after, ensure_ascii=False) if event.after is not None else "",
                    (event.ip or "") if show_ip else "",
                ]

        return csv_response("jangteo-audit", AUDIT_CSV_COLUMNS, rows())


# --- provider analytics ---------------------------------------------------------------------


class StatsView(APIView):
    """Provider analytics per dataset, offer and month: views, requests, approvals, licenses,
    downloads, revenue (supply amount of paid invoices). Center members see their datasets,
    operators all. `?format=csv` streams every row (no pages) as CSV."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", OpenApiTypes.STR, description="A dataset's slug."),
            OpenApiParameter(
                "since", OpenApiTypes.DATE, description=f"From this day, in {settings.TIME_ZONE}."
            ),
            OpenApiParameter(
                "until",
                OpenApiTypes.DATE,
                description=f"Until this day, inclusive: the whole day in {settings.TIME_ZONE}.",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv` streams a CSV file."
            ),
        ],
        responses={
            (200, "application/json"): _page_of(StatsSerializer(many=True), "StatsPage"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, UTF-8 with BOM"),
        },
    )
    def get(self, request):
        user = request.user
        slug = request.query_params.get("dataset")
        datasets = selectors.stats_datasets_visible_to(user)
        if slug:
            dataset = Dataset.objects.filter(slug=slug).first()
            if dataset is None:
                raise errors.NotFound(_("Not found."))
            if not permissions.stats_view(user, dataset):
                if dataset.status == Dataset.Status.PUBLISHED:
                    raise errors.PermissionDenied(
                        _("Only the dataset's center and operators see its statistics.")
                    )
                raise errors.NotFound(_("Not found."))
            datasets = datasets.filter(pk=dataset.pk)
        elif not permissions.stats_view(user):
            raise errors.PermissionDenied(_("Statistics are for data centers and operators."))
        since = _parse_when(request.query_params.get("since"))
        until = _parse_when(request.query_params.get("until"), end=True)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return _stats_csv(
                selectors.provider_stats(datasets.order_by("title", "pk"), since=since, until=until)
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(datasets.order_by("title", "pk"), request, view=self)
        results = selectors.provider_stats(page, since=since, until=until)
        return paginator.get_paginated_response(StatsSerializer(results, many=True).data)


STATS_CSV_COLUMNS = ["dataset", "title", "offer_id", "offer", "month", *selectors.METRICS]


def _stats_csv(results: list[dict]) -> StreamingHttpResponse:
    """One row per dataset and month (offer columns empty), then per offer and month."""

    def rows():
        for entry in results:
            dataset = entry["dataset"]
            for month in entry["months"]:
                yield [dataset["slug"], dataset["title"], "", "", month["month"], *_metrics(month)]
            for offer in entry["offers"]:
                for month in offer["months"]:
                    yield [
                        dataset["slug"],
                        dataset["title"],
                        offer["id"],
                        offer["name"],
                        month["month"],
                        *_metrics(month),
                    ]

    return csv_response("jangteo-stats", STATS_CSV_COLUMNS, rows())


def _metrics(month: dict) -> list:
    return [month.get(metric, "") for metric in selectors.METRICS]

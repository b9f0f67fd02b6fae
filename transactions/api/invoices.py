"""Invoices: buyers see and download theirs (JSON or CSV); operators record payments and void."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from marketplace.csv_export import csv_response
from transactions import selectors, services
from transactions.api._common import CSVRenderer, IdFilter, valid_input
from transactions.api.serializers import InvoiceSerializer, MarkPaidSerializer, VoidSerializer
from transactions.models import Invoice


class InvoiceFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Invoice.State.choices)
    organization = IdFilter(field_name="organization_id")
    year = django_filters.NumberFilter()

    class Meta:
        model = Invoice
        fields = ["state", "organization", "year"]


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
        data = valid_input(MarkPaidSerializer, request)
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
        data = valid_input(VoidSerializer, request)
        invoice = services.invoice_void(actor=request.user, invoice=self.get_object(), reason=data["reason"])
        return Response(InvoiceSerializer(selectors.invoice_for(request.user, invoice.pk)).data)

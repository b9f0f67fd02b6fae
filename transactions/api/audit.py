"""The audit log for operators (and each organization its own events), as JSON or CSV."""

from __future__ import annotations

import json

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer

from accounts.selectors import is_operator
from marketplace import errors
from marketplace.api import is_id
from marketplace.csv_export import csv_response
from transactions import selectors
from transactions.api._common import SINCE_HELP, UNTIL_HELP, CSVRenderer, parse_when
from transactions.api.serializers import AuditEventSerializer

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


AUDIT_PARAMETERS = [
    OpenApiParameter("verb", OpenApiTypes.STR, description="Verb or its prefix: `transactions.license`."),
    OpenApiParameter("organization", OpenApiTypes.INT, description="Events this organization is party to."),
    OpenApiParameter("since", OpenApiTypes.STR, description=SINCE_HELP),
    OpenApiParameter("until", OpenApiTypes.STR, description=UNTIL_HELP),
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
            since=parse_when(params.get("since")),
            until=parse_when(params.get("until"), end=True),
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

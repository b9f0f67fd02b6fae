"""Provider analytics for centers: views, requests, approvals, licenses, downloads and revenue
by dataset, offer and month."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.views import APIView

from catalog.models import Dataset
from marketplace import errors
from marketplace.api import Pagination
from marketplace.csv_export import csv_response
from transactions import permissions, selectors
from transactions.api._common import CSVRenderer, parse_when
from transactions.api.serializers import StatsSerializer, page_of


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
            (200, "application/json"): page_of(StatsSerializer(many=True), "StatsPage"),
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
        since = parse_when(request.query_params.get("since"))
        until = parse_when(request.query_params.get("until"), end=True)
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

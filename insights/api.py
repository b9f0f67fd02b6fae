"""The open statistics API: `GET /api/v1/insights/` lists releases, `GET /api/v1/insights/{slug}/`
returns one with its rows (filtered by `?<dimension>=<value>`, repeatable); centers publish with
`POST /api/v1/insights/` and retire with `POST /api/v1/insights/{slug}/retire/`. Thin: selectors
read, one service writes."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response

from catalog import selectors as catalog_selectors
from insights import cache, selectors, services
from insights.models import Feature, Release
from marketplace import errors
from marketplace.api import Pagination, cached_answer, rendered_json


class ReleaseDimensionSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", required=False)
    field = serializers.CharField(max_length=255)
    transform = serializers.ChoiceField(
        choices=["", "month", "year", "weekday", "hour", "company_size", "ksic_section"], required=False
    )


class ReleaseMeasureSerializer(serializers.Serializer):
    field = serializers.CharField(max_length=255)
    agg = serializers.ChoiceField(choices=["sum", "avg"])


class ReleaseInputSerializer(serializers.Serializer):
    dataset = serializers.SlugField(max_length=200)
    slug = serializers.SlugField(max_length=80)
    title = serializers.CharField(max_length=200)
    title_en = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    method = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    method_en = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    dimensions = ReleaseDimensionSerializer(many=True, allow_empty=False, max_length=6)
    measures = ReleaseMeasureSerializer(many=True, required=False, default=list, max_length=6)
    subject_field = serializers.CharField(max_length=255)
    dominance_field = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    date_field = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    k = serializers.IntegerField(min_value=3, max_value=1000, required=False, default=5)
    p_percent = serializers.IntegerField(min_value=5, max_value=50, required=False, default=10)
    dominance = serializers.DecimalField(max_digits=4, decimal_places=3, required=False, default="0.85")
    feature = serializers.ChoiceField(choices=[("", ""), *Feature.choices], required=False, default="")


class ReleaseSerializer(serializers.Serializer):
    """A release as listed (documentation of the output)."""

    slug = serializers.CharField()
    title = serializers.CharField()
    title_en = serializers.CharField()
    dimensions = serializers.ListField(child=serializers.CharField())
    measures = serializers.ListField(child=serializers.CharField())
    period = serializers.CharField(help_text="ISO 8601 interval of the data's dates")
    method = serializers.CharField()
    method_en = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="the edition number")
    status = serializers.CharField()
    dataset = serializers.CharField()
    center = serializers.CharField()
    source = serializers.ChoiceField(
        choices=Release.Source.choices,
        help_text="computed: by Jangteo's privacy engine; official: published figures loaded as they are",
    )
    attribution = serializers.CharField(help_text="where official figures come from (empty when computed)")
    cells = serializers.IntegerField()
    suppressed_cells = serializers.IntegerField()
    noisy_cells = serializers.IntegerField()
    privacy = serializers.DictField()
    updated_at = serializers.DateTimeField(allow_null=True)
    csv = serializers.CharField()


class ReleaseDetailSerializer(ReleaseSerializer):
    columns = serializers.ListField(child=serializers.DictField())
    rows = serializers.ListField(child=serializers.DictField())


@extend_schema_serializer(many=False)
class ReleasePageSerializer(serializers.Serializer):
    """The list is already a page: the schema must not wrap it in an array."""

    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ReleaseSerializer(many=True)


def release_data(release: Release) -> dict:
    edition = release.current
    return {
        "slug": release.slug,
        "title": release.title,
        "title_en": release.title_en,
        "dimensions": release.dimension_names,
        "measures": release.measure_names,
        "period": edition.period if edition else "",
        "method": release.method,
        "method_en": release.method_en,
        "version": edition.number if edition else None,
        "status": release.status,
        "dataset": release.dataset.slug,
        "center": release.dataset.center.name,
        "source": release.source,
        "attribution": release.attribution,
        "cells": edition.cell_count if edition else 0,
        "suppressed_cells": edition.suppressed_count if edition else 0,
        "noisy_cells": edition.noisy_count if edition else 0,
        "privacy": {
            "k": release.k,
            "p_percent": release.p_percent,
            "dominance": float(release.dominance),
            "engine": edition.engine if edition else "",
        },
        "updated_at": edition.built_at.isoformat() if edition and edition.built_at else None,
        "csv": reverse("insights-release-csv", args=[release.slug]),
    }


class ReleaseViewSet(viewsets.ViewSet):
    """Open statistics releases: readable by everyone, published by centers."""

    lookup_field = "slug"
    lookup_value_regex = r"[-\w]+"

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(responses=ReleasePageSerializer)
    def list(self, request):
        def compute():
            paginator = Pagination()
            page = paginator.paginate_queryset(selectors.releases_listed(), request, view=self)
            return paginator.get_paginated_response([release_data(r) for r in page]).data

        # (Kept as the JSON sent; "-json" keeps entries of the older form unread.)
        return cached_answer(
            request,
            cache.cached("api-list-json", (request.get_full_path(),), lambda: rendered_json(compute())),
        )

    @extend_schema(
        responses=ReleaseDetailSerializer,
        parameters=[
            OpenApiParameter(
                "<dimension>",
                str,
                description="keep rows whose dimension has this value (repeat for several values)",
            )
        ],
    )
    def retrieve(self, request, slug=None):
        filters = {k: request.query_params.getlist(k) for k in request.query_params}

        def compute() -> dict:
            release = selectors.release_for(request.user, slug)
            data = release_data(release)
            data["columns"] = release.current.columns if release.current else []
            data["rows"] = selectors.edition_rows(release.current, filters)
            return data

        if request.user.is_authenticated:  # a center's members also see its retired releases
            return Response(compute())
        # Everyone else sees the same answer: kept until a release changes (404s are not kept).
        parts = (slug, sorted(filters.items()))
        return cached_answer(
            request, cache.cached("api-detail-json", parts, lambda: rendered_json(compute()))
        )

    @extend_schema(request=ReleaseInputSerializer, responses={201: ReleaseSerializer})
    def create(self, request):
        payload = ReleaseInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        dataset = (
            catalog_selectors.datasets_visible_to(request.user)
            .select_related("center", "current_version")
            .filter(slug=data.pop("dataset"))
            .first()
        )
        if dataset is None:
            raise errors.NotFound("Not found.")
        release = services.release_publish(actor=request.user, dataset=dataset, **data)
        release = selectors.release_for(request.user, release.slug)
        return Response(release_data(release), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, slug=None):
        release = selectors.release_for(request.user, slug)
        services.release_retire(actor=request.user, release=release)
        return Response(release_data(selectors.release_for(request.user, slug)))

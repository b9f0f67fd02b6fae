"""Catalog API: thin views over catalog services and selectors."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organization
from accounts.selectors import organizations_visible_to
from catalog import cache as catalog_cache
from catalog import permissions, policy, representations, selectors, services
from catalog.models import (
    Dataset,
    DatasetVersion,
    Field,
    Offer,
    PeriodUnit,
    Sensitivity,
    UploadMode,
    VersionSource,
)
from catalog.rendering import markdown_to_html
from catalog.services import imports as import_services
from catalog.services import uploads as upload_services
from catalog.vocabularies import Theme, UpdateFrequency, regions_by_code
from marketplace import errors
from marketplace.api import cached_answer, is_id, rendered_json
from marketplace.parsers import SafeMultiPartParser
from marketplace.serializers import ModelSerializer


class CenterBriefSerializer(ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "name_en"]


class OfferSerializer(ModelSerializer):
    terms = serializers.CharField(source="current_terms.text", default="")
    terms_version = serializers.IntegerField(source="current_terms.version", default=None)
    terms_sha256 = serializers.CharField(source="current_terms.sha256", default="")
    dominance = serializers.FloatField()
    risk_status = serializers.CharField(read_only=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            *services.OFFER_FIELDS,
            "terms",
            "terms_version",
            "terms_sha256",
            "risk_report",
            "risk_computed_at",
            "risk_passes",
            "risk_status",
            "risk_measuring_since",
            "risk_progress",
            "open_when_measured",
            "created_at",
            "updated_at",
        ]


class MeasureSerializer(serializers.Serializer):
    field = serializers.CharField(max_length=255)
    agg = serializers.ChoiceField(choices=services.MEASURE_AGGREGATES)


class OfferInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Offer.Kind.choices)
    fields = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=2000
    )
    region_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    date_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    dimensions = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50
    )
    measures = MeasureSerializer(many=True, required=False)
    subject_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    dominance_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    k = serializers.IntegerField(min_value=policy.K_MIN, max_value=policy.K_MAX, required=False)
    p_percent = serializers.IntegerField(min_value=policy.P_MIN, max_value=policy.P_MAX, required=False)
    dominance = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=policy.DOMINANCE_MIN,
        max_value=policy.DOMINANCE_MAX,
        required=False,
    )
    extremes_allowed = serializers.BooleanField(required=False)
    date_granularity = serializers.ChoiceField(choices=Offer.Granularity.choices, required=False)
    quasi_identifiers_allowed = serializers.BooleanField(required=False)
    # catalog.treatments.RecordTreatments keys; checked by the policy (errors under "treatments").
    treatments = serializers.DictField(required=False)
    approval = serializers.ChoiceField(choices=Offer.Approval.choices, required=False)
    buyer_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Organization.BuyerCategory.choices), required=False
    )
    price_krw = serializers.IntegerField(min_value=0, max_value=10**12, required=False)
    terms = serializers.CharField(max_length=100_000)
    duration_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    download_quota = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    deliver_updates = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class FieldSerializer(ModelSerializer):
    profile = serializers.SerializerMethodField()

    class Meta:
        model = Field
        fields = [
            "position",
            "name",
            "type",
            "sensitivity",
            "suggested_sensitivity",
            "title",
            "description",
            "profile",
        ]

    def get_profile(self, field) -> dict[str, Any]:
        """Values of non-public columns only for the dataset's own center and operators
        (context `full_profiles`, set by the views); everyone else gets counts only."""
        return selectors.field_profile_shown(field, full=self.context.get("full_profiles", False))


class VersionSerializer(ModelSerializer):
    fields = FieldSerializer(many=True, read_only=True)
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_current = serializers.BooleanField(read_only=True)
    # The ingestion error in the caller's language (Accept-Language).
    error = serializers.CharField(source="error_text", read_only=True)
    # The job's times under the names API.md gives them.
    ingest_started_at = serializers.DateTimeField(
        source="started_at", allow_null=True, required=False, label=gettext_lazy("ingestion started")
    )
    ingest_finished_at = serializers.DateTimeField(
        source="finished_at", allow_null=True, required=False, label=gettext_lazy("ingestion finished")
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "status",
            "progress",
            "row_count",
            "encoding",
            "dialect",
            "file_kind",
            "original_filename",
            "source_bytes",
            "parquet_bytes",
            "parquet_sha256",
            "mode",
            "replace_periods",
            "error",
            "error_row",
            "error_column",
            "attempts",
            "is_current",
            "created_at",
            "ingest_started_at",
            "ingest_finished_at",
            "published_at",
            "fields",
        ]


class VersionSourceSerializer(ModelSerializer):
    error = serializers.CharField(source="error_text", read_only=True)

    class Meta:
        model = VersionSource
        fields = ["position", "uri", "bytes", "status", "progress", "error", "started_at", "finished_at"]


class VersionBriefSerializer(ModelSerializer):
    class Meta:
        model = DatasetVersion
        fields = ["id", "number", "status", "progress", "row_count", "error", "created_at", "published_at"]


# A dataset's slug is Unicode (`성남시-카페-매출`); the model's SlugField would put Python's `\w`
# into the schema, which JSON Schema (ECMA-262) reads as ASCII only.
DATASET_SLUG_HELP = "Letters (Hangul included), digits, hyphens and underscores."


class DatasetListSerializer(ModelSerializer):
    slug = serializers.CharField(read_only=True, help_text=DATASET_SLUG_HELP)
    center = CenterBriefSerializer(read_only=True)
    theme_label = serializers.CharField(source="get_theme_display", read_only=True)
    min_price_krw = serializers.IntegerField(source="min_price", read_only=True, allow_null=True)
    row_count = serializers.IntegerField(
        source="current_version.row_count", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "title",
            "title_en",
            "summary",
            "summary_en",
            "theme",
            "theme_label",
            "keywords",
            "regions",
            "center",
            "status",
            "min_price_krw",
            "row_count",
            "update_frequency",
            "published_at",
            "updated_at",
        ]


class DatasetDetailSerializer(ModelSerializer):
    slug = serializers.CharField(read_only=True, help_text=DATASET_SLUG_HELP)
    center = CenterBriefSerializer(read_only=True)
    theme_label = serializers.CharField(source="get_theme_display", read_only=True)
    description_html = serializers.SerializerMethodField()
    description_en_html = serializers.SerializerMethodField()
    current_version = VersionSerializer(read_only=True, allow_null=True)
    region_names = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "title",
            "title_en",
            "summary",
            "summary_en",
            "description",
            "description_en",
            "description_html",
            "description_en_html",
            "theme",
            "theme_label",
            "keywords",
            "regions",
            "region_names",
            "temporal_start",
            "temporal_end",
            "update_frequency",
            "status",
            "deliver_updates",
            "period_field",
            "period_unit",
            "partition_region_field",
            "center",
            "current_version",
            "created_at",
            "updated_at",
            "published_at",
        ]

    def get_description_html(self, obj) -> str:
        return markdown_to_html(obj.description)

    def get_description_en_html(self, obj) -> str:
        return markdown_to_html(obj.description_en)

    def get_region_names(self, obj) -> dict[str, str]:
        known = regions_by_code()
        return {code: known[code].name for code in obj.regions if code in known}


def dataset_detail(dataset: Dataset, *, full_profiles: bool, loaded: bool = False) -> dict:
    """A dataset's API representation; `full_profiles` only for its center and operators.
    `loaded`: the dataset was read with its center, version and fields (else they are read)."""
    if not loaded:
        dataset = (
            Dataset.objects.select_related("center", "current_version")
            .prefetch_related("current_version__fields")
            .get(pk=dataset.pk)
        )
    # Written by hand: DRF's fields cost more than the rows (DatasetDetailSerializer describes
    # it in the schema; tests/catalog/test_representations.py keeps the two equal).
    return representations.dataset_detail(dataset, full_profiles=full_profiles)


class DatasetInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    title_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True)
    summary_en = serializers.CharField(max_length=500, required=False, allow_blank=True)
    description = serializers.CharField(max_length=50_000, required=False, allow_blank=True)
    description_en = serializers.CharField(max_length=50_000, required=False, allow_blank=True)
    theme = serializers.ChoiceField(choices=Theme.choices, required=False)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=30
    )
    regions = serializers.ListField(child=serializers.CharField(max_length=5), required=False, max_length=31)
    temporal_start = serializers.DateField(required=False, allow_null=True)
    temporal_end = serializers.DateField(required=False, allow_null=True)
    update_frequency = serializers.ChoiceField(choices=UpdateFrequency.choices, required=False)
    deliver_updates = serializers.BooleanField(required=False)
    period_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    period_unit = serializers.ChoiceField(choices=PeriodUnit.choices, required=False)
    partition_region_field = serializers.CharField(max_length=255, required=False, allow_blank=True)
    center = serializers.IntegerField(required=False)


class FieldChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class UploadSerializer(serializers.Serializer):
    """A version from one uploaded `file`, or from `source_uris` in the center's import prefix
    (s3://…; a URI ending in "/" names every file under it)."""

    file = serializers.FileField(allow_empty_file=True, required=False)
    source_uris = serializers.ListField(
        child=serializers.CharField(max_length=1100), required=False, max_length=1000
    )
    upload = serializers.UUIDField(required=False, help_text="A finished resumable (tus) upload's id")
    mode = serializers.ChoiceField(choices=UploadMode.choices, required=False, default=UploadMode.REPLACE)
    replace_periods = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        given = [name for name in ("file", "source_uris", "upload") if attrs.get(name)]
        if len(given) != 1:
            message = _("Send one of a file, source_uris or a finished upload, not several.")
            if not given:
                message = _(
                    "Send a file, source_uris naming files in your center's import prefix, or the id "
                    "of a finished resumable upload."
                )
            raise serializers.ValidationError({"file": [message]})
        return attrs


@extend_schema_serializer(many=False)
class DatasetSearchPageSerializer(serializers.Serializer):
    """The search answer is already a page (plus facets): the schema must not wrap it in the
    paginator's envelope a second time."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DatasetListSerializer(many=True)
    facets = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))


SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="Words to find in titles, summaries, keywords, center names"),
    OpenApiParameter("theme", str, enum=Theme.values),
    OpenApiParameter("center", int),
    OpenApiParameter("region", str, description="시·군 code, e.g. 41110"),
    OpenApiParameter("price", str, enum=["free", "paid"]),
    OpenApiParameter("approval", str, enum=Offer.Approval.values),
    OpenApiParameter("sort", str, enum=list(selectors.SORTS)),
]


LIST_PARAMETERS = {*(f.name for f in dataclasses.fields(selectors.SearchParams)), "page", "page_size"}


def _search_params(query) -> selectors.SearchParams:
    e = {}
    theme = query.get("theme", "")
    if theme and theme not in Theme.values:
        e["theme"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Theme.values)}]
    center = query.get("center") or None
    if center is not None and not is_id(center):
        e["center"] = [_("A center id (a number).")]
    price = query.get("price", "")
    if price and price not in ("free", "paid"):
        e["price"] = [_("free or paid.")]
    approval = query.get("approval", "")
    if approval and approval not in Offer.Approval.values:
        e["approval"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Offer.Approval.values)}]
    sort = query.get("sort", "")
    if sort and sort not in selectors.SORTS:
        e["sort"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(selectors.SORTS)}]
    if e:
        raise errors.ApplicationError(_("Some search parameters are not valid."), errors=e)
    return selectors.SearchParams(
        q=query.get("q", "")[:200],
        theme=theme,
        center=int(center) if center else None,
        region=query.get("region", "")[:5],
        price=price,
        approval=approval,
        sort=sort,
    )


class DatasetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Datasets: the public catalog (anonymous readers welcome) and the centers' editing."""

    lookup_field = "slug"
    lookup_value_regex = r"[-\w]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return [IsAuthenticated()]

    def get_serializer_class(self):
        return DatasetListSerializer if self.action == "list" else DatasetDetailSerializer

    def get_throttles(self):
        if self.action == "versions" and self.request.method == "POST":
            self.throttle_scope = "upload"
        elif self.action == "preview":
            self.throttle_scope = "preview"  # runs the privacy engine over the data: costly
        return super().get_throttles()

    def get_queryset(self):
        if self.action == "retrieve" and not getattr(self, "reading_detail", False):
            # The center, version and fields are read only when the representation is not cached.
            return selectors.datasets_visible_to(self.request.user)
        return (
            selectors.datasets_visible_to(self.request.user)
            .select_related("center", "current_version")
            .prefetch_related("current_version__fields")
        )

    @extend_schema(
        parameters=SEARCH_PARAMETERS,
        responses=DatasetSearchPageSerializer,
    )
    def list(self, request, *args, **kwargs):
        params = _search_params(request.query_params)
        # Anonymous visitors all see the same public catalog: their pages are cached briefly.
        cached = None
        # (Only for the parameters this list knows: made-up ones would only fill the cache.)
        if not request.user.is_authenticated and set(request.query_params) <= LIST_PARAMETERS:
            cached = catalog_cache.lookup("list-json", get_language(), request.META.get("QUERY_STRING", ""))
            if cached.value is not None:
                return cached_answer(request, cached.value)
        qs = selectors.dataset_search(request.user, params)
        page = self.paginate_queryset(qs)
        response = self.get_paginated_response(DatasetListSerializer(page, many=True).data)
        response.data["facets"] = selectors.dataset_facets(qs)
        if cached is not None:
            catalog_cache.store(cached, rendered_json(response.data))
        return response

    def retrieve(self, request, *args, **kwargs):
        # Everyone outside the center sees the same representation: it is cached briefly. A
        # visitor's request is answered from the cache alone (see catalog/cache.py).
        # ("-json": entries hold rendered bytes; the kind's name keeps older entries unread.)
        slug = str(kwargs.get(self.lookup_field))
        cached = catalog_cache.lookup("detail-json", get_language(), slug, dataset=slug)
        if cached.value is not None and not request.user.is_authenticated:
            dataset = catalog_cache.stand_in(cached.value["dataset"])
            services.dataset_record_view(actor=request.user, dataset=dataset)
            return cached_answer(request, cached.value["json"])
        self.reading_detail = cached.value is None  # then the representation is made here
        dataset = self.get_object()
        services.dataset_record_view(actor=request.user, dataset=dataset)
        if permissions.dataset_manage_view(request.user, dataset):
            return Response(dataset_detail(dataset, full_profiles=True, loaded=self.reading_detail))
        if cached.value is not None:
            return cached_answer(request, cached.value["json"])
        data = dataset_detail(dataset, full_profiles=False, loaded=True)
        catalog_cache.store(cached, {"dataset": catalog_cache.facts(dataset), "json": rendered_json(data)})
        return Response(data)

    @extend_schema(request=DatasetInputSerializer, responses={201: DatasetDetailSerializer})
    def create(self, request, *args, **kwargs):
        data = DatasetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        center = None
        if "center" in values:
            center = get_object_or_404(organizations_visible_to(request.user), pk=values.pop("center"))
        dataset = services.dataset_create(actor=request.user, center=center, **values)
        return Response(dataset_detail(dataset, full_profiles=True), status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetInputSerializer, responses=DatasetDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = DatasetInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("center", None)
        dataset = services.dataset_update(actor=request.user, dataset=self.get_object(), **values)
        return Response(dataset_detail(dataset, full_profiles=True))

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=DatasetDetailSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, slug=None):
        dataset = services.dataset_retire(actor=request.user, dataset=self.get_object())
        return Response(dataset_detail(dataset, full_profiles=True))

    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": UploadSerializer, "application/json": UploadSerializer},
        responses={202: VersionBriefSerializer},
    )
    @extend_schema(methods=["GET"], responses=VersionBriefSerializer(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[SafeMultiPartParser, FormParser, JSONParser],
        pagination_class=None,
    )
    def versions(self, request, slug=None):
        dataset = self.get_object()
        if request.method == "GET":
            if not permissions.dataset_manage_view(request.user, dataset):
                visible = dataset.versions.filter(pk=dataset.current_version_id)
            else:
                visible = dataset.versions.all()
            return Response(VersionBriefSerializer(visible.order_by("-number"), many=True).data)
        # Refuse an oversize body before Django spools it to disk.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.UPLOAD_MAX_BYTES + 1024 * 1024:
            raise errors.TooLarge(
                _("The upload is larger than the limit of %(limit)s bytes.")
                % {"limit": f"{settings.UPLOAD_MAX_BYTES:,}"}
            )
        if not permissions.version_upload(request.user, dataset):
            raise errors.PermissionDenied(_("Only the center's curators and managers upload versions."))
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        options = {"actor": request.user, "dataset": dataset, "mode": given["mode"]}
        options["replace_periods"] = given["replace_periods"]
        if given.get("source_uris"):
            version = import_services.version_import(source_uris=given["source_uris"], **options)
        elif given.get("upload"):
            version = upload_services.version_upload_resumed(upload_id=given["upload"], **options)
        else:
            version = services.version_upload(file=given["file"], filename=given["file"].name, **options)
        return Response(VersionBriefSerializer(version).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("offer", int, description="Apply this offer's rules")],
        responses=inline_serializer(
            "Preview",
            {
                "columns": serializers.ListField(child=serializers.CharField()),
                "rows": serializers.ListField(child=serializers.ListField()),
                "offer": serializers.IntegerField(allow_null=True),
            },
        ),
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, slug=None):
        dataset = self.get_object()
        offer = None
        if request.query_params.get("offer"):
            offer_id = request.query_params["offer"]
            if not is_id(offer_id):
                raise errors.ApplicationError(
                    _("offer must be an offer id."), errors={"offer": [_("A number.")]}
                )
            offer = get_object_or_404(selectors.offers_visible_to(request.user, dataset), pk=int(offer_id))
        return Response(selectors.preview_for(request.user, dataset, offer))

    @extend_schema(methods=["GET"], responses=OfferSerializer(many=True))
    @extend_schema(methods=["POST"], request=OfferInputSerializer, responses={201: OfferSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def offers(self, request, slug=None):
        dataset = self.get_object()
        if request.method == "GET":
            return Response(
                OfferSerializer(selectors.offers_visible_to(request.user, dataset), many=True).data
            )
        data = OfferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = services.offer_create(actor=request.user, dataset=dataset, **data.validated_data)
        return Response(OfferSerializer(offer).data, status=status.HTTP_201_CREATED)


class OfferViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = OfferSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_permissions(self):
        return [AllowAny()] if self.request.method in SAFE_METHODS else [IsAuthenticated()]

    def get_queryset(self):
        visible = selectors.datasets_visible_to(self.request.user)
        return Offer.objects.filter(dataset__in=visible).select_related("dataset__center", "current_terms")

    def get_object(self):
        offer = super().get_object()
        if not offer.is_active and not permissions.dataset_manage_view(self.request.user, offer.dataset):
            raise errors.NotFound(_("Not found."))
        return offer

    @extend_schema(request=OfferInputSerializer, responses=OfferSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = OfferInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        offer = services.offer_update(actor=request.user, offer=self.get_object(), **data.validated_data)
        return Response(OfferSerializer(offer).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)


TABLE_SCHEMA_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


class VersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VersionSerializer

    def get_throttles(self):
        if self.action == "tableschema":
            self.throttle_scope = "feed"
        return super().get_throttles()

    def get_permissions(self):
        return [AllowAny()] if self.request.method in SAFE_METHODS else [IsAuthenticated()]

    def get_queryset(self):
        return selectors.versions_visible_to(self.request.user).prefetch_related("fields")

    def retrieve(self, request, *args, **kwargs):
        version = self.get_object()
        full = permissions.dataset_manage_view(request.user, version.dataset)
        return Response(VersionSerializer(version, context={"full_profiles": full}).data)

    @extend_schema(request=FieldChangeSerializer(many=True), responses=VersionSerializer)
    @action(detail=True, methods=["patch"])
    def fields(self, request, pk=None):
        data = FieldChangeSerializer(data=request.data, many=True)
        data.is_valid(raise_exception=True)
        version = services.version_fields_update(
            actor=request.user, version=self.get_object(), changes=data.validated_data
        )
        return Response(
            VersionSerializer(
                DatasetVersion.objects.prefetch_related("fields").get(pk=version.pk),
                context={"full_profiles": True},
            ).data
        )

    @extend_schema(responses=VersionSourceSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def sources(self, request, pk=None):
        """The files of a version imported from object storage, each with its own progress
        (the center's staff only: the URIs are the center's storage layout)."""
        version = self.get_object()
        if not permissions.dataset_manage_view(request.user, version.dataset):
            raise errors.NotFound(_("Not found."))
        return Response(VersionSourceSerializer(version.sources.order_by("position"), many=True).data)

    @extend_schema(request=None, responses=VersionSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        version = services.version_publish(actor=request.user, version=self.get_object())
        return Response(
            VersionSerializer(
                DatasetVersion.objects.prefetch_related("fields").get(pk=version.pk),
                context={"full_profiles": True},
            ).data
        )

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def tableschema(self, request, pk=None):
        """The version's Frictionless Table Schema."""
        version = self.get_object()
        if version.status not in (DatasetVersion.Status.READY, DatasetVersion.Status.PUBLISHED):
            raise errors.InvalidState(_("The schema is known once ingestion has finished."))
        schema = {
            "fields": [
                {
                    "name": f.name,
                    "type": TABLE_SCHEMA_TYPES.get(f.type, "string"),
                    **({"title": f.title} if f.title else {}),
                    **({"description": f.description} if f.description else {}),
                    "jangteo:sensitivity": f.sensitivity,
                }
                for f in version.fields.all()
            ],
            "missingValues": [""],
        }
        return Response(schema, content_type="application/json")


# --- the operator's risk threshold for record-level offers ---------------------------------------


class RiskThresholdSerializer(serializers.Serializer):
    min_k = serializers.IntegerField(min_value=2, max_value=1000, required=False)
    max_sample_uniqueness = serializers.FloatField(min_value=0, max_value=1, required=False)
    max_unicity = serializers.FloatField(min_value=0, max_value=1, required=False)
    max_linkage = serializers.FloatField(min_value=0, max_value=1, required=False)


class RiskThresholdOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    dataset = serializers.CharField()
    violations = serializers.ListField(child=serializers.CharField())


class RiskThresholdAnswerSerializer(RiskThresholdSerializer):
    updated_at = serializers.DateTimeField(allow_null=True)
    offers_over = RiskThresholdOfferSerializer(many=True, help_text="open record offers above it now")


def _threshold_answer() -> dict:
    from catalog import risk_reports
    from catalog.models import RiskThresholdSetting

    row = RiskThresholdSetting.objects.order_by("pk").first()
    return {
        **risk_reports.threshold().to_dict(),
        "updated_at": row.updated_at if row else None,
        "offers_over": [
            {"id": offer.pk, "name": offer.name, "dataset": offer.dataset.slug, "violations": messages}
            for offer, messages in risk_reports.offers_over()
        ],
    }


class RiskThresholdView(APIView):
    """The ceiling above which a record-level offer cannot be opened and its requests cannot be
    approved (k-anonymity, sample uniqueness, trajectory unicity, cross-license linkage), with
    the open offers above it now. Operators only; for everyone else it does not exist (404)."""

    def _operator(self, request) -> None:
        if not permissions.risk_threshold_update(request.user):
            raise errors.NotFound(_("Not found."))

    @extend_schema(responses=RiskThresholdAnswerSerializer)
    def get(self, request):
        self._operator(request)
        return Response(RiskThresholdAnswerSerializer(_threshold_answer()).data)

    @extend_schema(request=RiskThresholdSerializer, responses=RiskThresholdAnswerSerializer)
    def patch(self, request):
        self._operator(request)
        data = RiskThresholdSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.risk_threshold_update(actor=request.user, **data.validated_data)
        return Response(RiskThresholdAnswerSerializer(_threshold_answer()).data)

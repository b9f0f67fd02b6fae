"""Extracts API: ask for a license's file, follow its build, download it through a signed,
expiring link; leak tracing for operators."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.selectors import datasets_visible_to
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.parsers import SafeMultiPartParser
from marketplace.serializers import ModelSerializer
from transactions import permissions, selectors, services
from transactions.models import Extract


class ExtractSerializer(ModelSerializer):
    dataset = serializers.SlugRelatedField(source="license.dataset", slug_field="slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    recipe = serializers.SerializerMethodField()

    class Meta:
        model = Extract
        fields = [
            "id",
            "license",
            "dataset",
            "version",
            "format",
            "header",
            "status",
            "progress",
            "row_count",
            "bytes",
            "sha256",
            "bundle_bytes",
            "bundle_sha256",
            "file_name",
            "error",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "purged_at",
            "recipe",
        ]

    def get_recipe(self, obj) -> dict:
        """What the file holds and how to rebuild it; never the parameters (key material)."""
        if not obj.recipe:
            return {}
        return {
            "columns": obj.recipe.get("columns", []),
            "format": obj.recipe.get("format"),
            "source_sha256": obj.recipe.get("source_sha256"),
            "engine_version": obj.recipe.get("engine_version"),
            "sha256": obj.recipe_sha256,
        }


class ExtractRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Extract.Format.choices, required=False)
    header = serializers.ChoiceField(
        choices=Extract.Header.choices,
        required=False,
        help_text="The header row: the columns' Korean titles, or their names (the default).",
    )


class DownloadLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()


def extracts_visible_to(user):
    return Extract.objects.filter(permissions.extract_visible(user)).select_related(
        "license__dataset", "version"
    )


class LicenseExtractsView(APIView):
    """`GET` the license's extracts; `POST {"format", "header"}` asks for a file (202)."""

    @extend_schema(responses=ExtractSerializer(many=True))
    def get(self, request, pk: int):
        license = get_object_or_404(selectors.licenses_visible_to(request.user), pk=pk)
        return Response(
            ExtractSerializer(extracts_visible_to(request.user).filter(license=license), many=True).data
        )

    @extend_schema(request=ExtractRequestSerializer, responses={202: ExtractSerializer})
    def post(self, request, pk: int):
        license = get_object_or_404(selectors.licenses_visible_to(request.user), pk=pk)
        data = ExtractRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        extract = services.extract_request(
            actor=request.user,
            license=license,
            format=data.validated_data.get("format"),
            header=data.validated_data.get("header"),
        )
        return Response(ExtractSerializer(extract).data, status=status.HTTP_202_ACCEPTED)


class ExtractViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ExtractSerializer
    filterset_fields = ["status", "format", "license"]

    def get_queryset(self):
        return extracts_visible_to(self.request.user)

    def get_throttles(self):
        if self.action == "download_link":
            self.throttle_scope = "download"
        return super().get_throttles()

    @extend_schema(request=None, responses=DownloadLinkSerializer)
    @action(detail=True, methods=["post"], url_path="download-link")
    def download_link(self, request, pk=None):
        token, expires = services.extract_download_link(actor=request.user, extract=self.get_object())
        url = request.build_absolute_uri(reverse("v1:extract-download", args=[token]))
        return Response({"url": url, "expires_at": expires})


class ExtractDownloadView(APIView):
    """Follow a signed download link: the link is the credential (bound to the extract and the
    person it was issued to, valid for minutes); the license is checked at this moment."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "download"

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, token: str):
        extract = services.extract_download(actor=SYSTEM, token=token)
        try:
            default_storage.path(extract.file)
        except NotImplementedError:
            # Object storage: hand over a short-lived presigned URL instead of proxying bytes.
            return HttpResponseRedirect(default_storage.url(extract.file))
        return FileResponse(
            default_storage.open(extract.file, "rb"),
            as_attachment=True,
            filename=extract.file_name,
            content_type="application/zip",
        )


class LeakTraceSerializer(serializers.Serializer):
    dataset = serializers.SlugField(allow_unicode=True)
    file = serializers.FileField()


class LeakTraceView(APIView):
    """Operators upload a leaked file; the answer ranks the dataset's licenses by how many of
    the file's pseudonyms their keys produce."""

    parser_classes = [SafeMultiPartParser]

    @extend_schema(
        request={"multipart/form-data": LeakTraceSerializer},
        responses=inline_serializer(
            "LeakTrace",
            {
                "candidates": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def post(self, request):
        # Decide before reading the (possibly large) upload: operators only.
        if not permissions.license_trace_leak(request.user):
            raise errors.PermissionDenied(_("Only platform operators trace leaked files."))
        data = LeakTraceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = get_object_or_404(datasets_visible_to(request.user), slug=data.validated_data["dataset"])
        upload = data.validated_data["file"]
        with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix) as tmp:
            for chunk in upload.chunks():
                tmp.write(chunk)
            tmp.flush()
            candidates = services.license_trace_leak(
                actor=request.user, dataset=dataset, leaked_file=Path(tmp.name), file_name=upload.name
            )
        return Response({"candidates": candidates})

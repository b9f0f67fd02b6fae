"""Licenses: holders see theirs and their downloads, renew; operators revoke."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from transactions import selectors, services
from transactions.api._common import IdFilter, valid_input
from transactions.api.serializers import (
    AccessRequestSerializer,
    DownloadEventSerializer,
    LicenseSerializer,
    RenewSerializer,
    RevokeSerializer,
    page_of,
)
from transactions.models import License


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
        data = valid_input(RevokeSerializer, request)
        license = services.license_revoke(
            actor=request.user, license=self.get_object(), reason=data["reason"]
        )
        return Response(LicenseSerializer(license).data)

    @extend_schema(request=RenewSerializer, responses={201: AccessRequestSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        data = valid_input(RenewSerializer, request)
        renewal = services.license_renew(
            actor=request.user,
            license=self.get_object(),
            accept_terms=data["accept_terms"],
            purpose=data.get("purpose"),
            purpose_category=data.get("purpose_category"),
        )
        fresh = selectors.access_request_for(request.user, renewal.pk)
        return Response(AccessRequestSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=page_of(DownloadEventSerializer(many=True), "DownloadEventPage"))
    @action(detail=True, methods=["get"])
    def downloads(self, request, pk=None):
        """Who downloaded what under this license, newest first."""
        page = self.paginate_queryset(selectors.license_downloads(self.get_object()))
        return self.get_paginated_response(DownloadEventSerializer(page, many=True).data)

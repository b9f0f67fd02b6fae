"""Notifications: each user's own, with the unread count and mark-as-read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from marketplace.api import Pagination
from transactions import selectors, services
from transactions.api.serializers import NotificationSerializer


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

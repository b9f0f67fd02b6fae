"""Access requests: buyers submit, edit, withdraw and resubmit theirs; reviewers (center, then
operator) approve, narrow, return or reject; both sides write in the thread."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from marketplace.api import Pagination
from transactions import selectors, services
from transactions.api._common import IdFilter, valid_input
from transactions.api.serializers import (
    AccessRequestSerializer,
    ApproveSerializer,
    MessageInputSerializer,
    RejectSerializer,
    RequestCreateSerializer,
    RequestMessageSerializer,
    RequestUpdateSerializer,
    ResubmitSerializer,
    ReturnSerializer,
    WithdrawSerializer,
    page_of,
    scope_from,
)
from transactions.models import AccessRequest


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
        data = valid_input(RequestCreateSerializer, request)
        offer = selectors.requestable_offer(data["offer"])
        access_request = services.access_request_submit(
            actor=request.user,
            offer=offer,
            organization=data.get("organization"),
            scope=scope_from(data),
            purpose=data["purpose"],
            purpose_category=data["purpose_category"],
            accept_terms=data["accept_terms"],
        )
        return Response(self._fresh(access_request), status=status.HTTP_201_CREATED)

    @extend_schema(request=RequestUpdateSerializer, responses=AccessRequestSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = valid_input(RequestUpdateSerializer, request)
        scope = scope_from(data)
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
        data = valid_input(ApproveSerializer, request)
        access_request = services.access_request_approve(
            actor=request.user,
            access_request=self.get_object(),
            narrowed_scope=scope_from(data) or None,
            note=data["note"],
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=RejectSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = valid_input(RejectSerializer, request)
        access_request = services.access_request_reject(
            actor=request.user, access_request=self.get_object(), reason=data["reason"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=ReturnSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_for_changes(self, request, pk=None):
        data = valid_input(ReturnSerializer, request)
        access_request = services.access_request_return(
            actor=request.user, access_request=self.get_object(), message=data["message"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=WithdrawSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        data = valid_input(WithdrawSerializer, request)
        access_request = services.access_request_withdraw(
            actor=request.user, access_request=self.get_object(), reason=data["reason"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(request=ResubmitSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        data = valid_input(ResubmitSerializer, request)
        access_request = services.access_request_resubmit(
            actor=request.user, access_request=self.get_object(), note=data["note"]
        )
        return Response(self._fresh(access_request))

    @extend_schema(
        methods=["GET"],
        request=None,
        responses=page_of(RequestMessageSerializer(many=True), "RequestMessagePage"),
        description="The request's message thread, oldest first.",
    )
    @extend_schema(
        methods=["POST"], request=MessageInputSerializer, responses={201: RequestMessageSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=Pagination)
    def messages(self, request, pk=None):
        access_request = self.get_object()
        if request.method == "POST":
            data = valid_input(MessageInputSerializer, request)
            message = services.access_request_message_post(
                actor=request.user, access_request=access_request, body=data["body"]
            )
            return Response(RequestMessageSerializer(message).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.access_request_messages(access_request))
        return self.get_paginated_response(RequestMessageSerializer(page, many=True).data)

"""What the transactions API reads and writes: output serializers of requests, licenses,
invoices, notifications, audit events and statistics, and the input serializers of each action."""

from __future__ import annotations

import datetime

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from accounts.api import OrganizationBriefSerializer
from catalog.api import DATASET_SLUG_HELP
from catalog.models import Dataset
from marketplace.models import AuditEvent
from marketplace.serializers import ModelSerializer
from transactions import selectors
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


def page_of(serializer: serializers.Serializer, name: str):
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


class AccessScopeInputSerializer(serializers.Serializer):
    fields = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False)
    regions = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True),
        required=False,
        help_text="Values of the offer's region field; empty or left out: every region.",
    )
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)


def scope_from(validated: dict) -> dict:
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

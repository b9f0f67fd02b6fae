from django.contrib import admin
from guardian.admin import GuardedModelAdminMixin

from transactions.models import (
    AccessRequest,
    DownloadEvent,
    Invoice,
    InvoiceSequence,
    License,
    Notification,
    RequestEvent,
    RequestMessage,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """State changes go through services (and their audit trail), never the admin's forms."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RequestEventInline(admin.TabularInline):
    model = RequestEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "from_state", "to_state", "actor_label", "note", "scope_diff"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RequestMessageInline(admin.TabularInline):
    model = RequestMessage
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "organization", "body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "organization",
        "offer",
        "state",
        "purpose_category",
        "state_changed_at",
        "created_at",
    ]
    list_filter = ["state", "purpose_category"]
    search_fields = ["organization__name", "offer__name", "offer__dataset__title", "requester__email"]
    list_select_related = ["organization", "offer__dataset"]
    inlines = [RequestEventInline, RequestMessageInline]


@admin.register(RequestEvent)
class RequestEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "access_request", "action", "from_state", "to_state", "actor_label"]
    list_filter = ["action", "to_state"]


@admin.register(RequestMessage)
class RequestMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "access_request", "author", "organization"]
    search_fields = ["body", "author__email"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "organization",
        "supply_krw",
        "vat_krw",
        "total_krw",
        "state",
        "issued_at",
        "paid_at",
    ]
    list_filter = ["state", "year", "provider"]
    search_fields = ["number", "organization__name", "paid_reference"]


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ["year", "last"]


@admin.register(License)
class LicenseAdmin(GuardedModelAdminMixin, ReadOnlyAdmin):
    # The license key is not on the model: it lives encrypted in LicenseKey (not in the admin).
    list_display = ["id", "organization", "offer", "state", "valid_from", "valid_until", "downloads_used"]
    list_filter = ["state"]
    search_fields = ["organization__name", "offer__name", "dataset__title"]


@admin.register(DownloadEvent)
class DownloadEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "license", "user", "organization", "extract_id", "bytes", "ip"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "recipient", "verb", "title", "read_at", "emailed_at"]
    list_filter = ["verb"]
    search_fields = ["recipient__email", "title"]

from django.contrib import admin

from insights.models import BoundarySet, Edition, Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Read-only: releases change through their services (API, Celery job)."""

    list_display = ("slug", "dataset", "feature", "status", "current")
    list_filter = ("status", "feature")
    search_fields = ("slug", "title", "title_en")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin):
    list_display = (
        "release",
        "number",
        "source_version",
        "status",
        "cell_count",
        "suppressed_count",
        "built_at",
    )
    list_filter = ("status",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BoundarySet)
class BoundarySetAdmin(admin.ModelAdmin):
    list_display = ("source", "attribution", "imported_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

from django.contrib import admin

from marketplace.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "seen_at", "task_count")
    readonly_fields = ("hostname", "seen_at", "task_count")

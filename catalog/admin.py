from django.contrib import admin

from catalog import services
from catalog.models import RiskThresholdSetting


@admin.register(RiskThresholdSetting)
class RiskThresholdSettingAdmin(admin.ModelAdmin):
    """Operators set the risk threshold of record-level offers here (through the service)."""

    list_display = ["min_k", "max_sample_uniqueness", "max_unicity", "max_linkage", "updated_at"]
    fields = ["min_k", "max_sample_uniqueness", "max_unicity", "max_linkage"]

    def save_model(self, request, obj, form, change):
        services.risk_threshold_update(actor=request.user, **{k: getattr(obj, k) for k in self.fields})

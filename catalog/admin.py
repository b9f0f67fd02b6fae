from django.contrib import admin

from catalog import services
from catalog.models import Dataset, RiskThresholdSetting


@admin.register(RiskThresholdSetting)
class RiskThresholdSettingAdmin(admin.ModelAdmin):
    """Operators set the risk threshold of record-level offers here (through the service)."""

    list_display = ["min_k", "max_sample_uniqueness", "max_unicity", "max_linkage", "updated_at"]
    fields = ["min_k", "max_sample_uniqueness", "max_unicity", "max_linkage"]

    def save_model(self, request, obj, form, change):
        services.risk_threshold_update(actor=request.user, **{k: getattr(obj, k) for k in self.fields})


@admin.register(Dataset)
class DatasetSubjectsAdmin(admin.ModelAdmin):
    """Operators say here whom a dataset's records describe (people, or businesses and
    institutions); everything else about a dataset is the center's, in the web pages and the API."""

    list_display = ["title", "center", "status", "subjects"]
    list_filter = ["subjects", "status"]
    search_fields = ["title", "slug"]
    fields = ["subjects"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.dataset_declare_subjects(
            actor=request.user, dataset=Dataset.objects.get(pk=obj.pk), subjects=obj.subjects
        )

from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Catalog")

    def ready(self):
        from catalog import tasks  # noqa: F401 - registers the Celery tasks (services queue them by name)
        from catalog.models import Dataset
        from marketplace.guardian import remove_object_permissions

        post_delete.connect(remove_object_permissions, sender=Dataset, dispatch_uid="catalog.dataset.perms")

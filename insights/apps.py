from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = _("Regional economy insights")

    def ready(self):
        from catalog.feeds import register_dcat_datasets
        from insights import (
            crosscheck,
            feeds,
            hooks,
            tasks,  # noqa: F401 - registers the Celery tasks (services queue them by name)
        )
        from marketplace import reactions

        # Catalog knows nothing of insights: a published version reaches us through the registry.
        reactions.subscribe(reactions.VERSION_PUBLISHED, hooks.version_published)
        register_dcat_datasets(feeds.dcat_release_datasets)
        # An aggregate offer is checked against the open statistics before it is opened.
        reactions.answer(reactions.PUBLIC_TABLE_CONFLICTS, crosscheck.offer_conflicts)

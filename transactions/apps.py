from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = _("Transactions")

    def ready(self):
        from marketplace import reactions
        from transactions import hooks

        # A newly published version goes to the licenses that receive updates.
        reactions.subscribe(reactions.VERSION_PUBLISHED, hooks.version_published)

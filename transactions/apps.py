from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = _("Transactions")

    def ready(self):
        from marketplace import reactions
        from transactions import (
            checks,  # noqa: F401 - registers the key store's deployment checks
            hooks,
            tasks,  # noqa: F401 - registers the Celery tasks (services queue them by name)
        )

        # A newly published version goes to the licenses that receive updates.
        reactions.subscribe(reactions.VERSION_PUBLISHED, hooks.version_published)
        # A license issued gets its first file.
        reactions.subscribe(reactions.LICENSE_ISSUED, hooks.license_issued)
        # The center hears how a worker's risk measurement of an offer ended.
        reactions.subscribe(reactions.OFFER_RISK_MEASURED, hooks.offer_risk_measured)
        # The dataset page shows a buyer the licenses and open requests they already hold.
        from transactions.selectors import offer_holdings

        reactions.answer(reactions.OFFER_HOLDINGS, offer_holdings)

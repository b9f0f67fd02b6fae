"""Where later work plugs into the transactions workflow.

Each hook is subscribed in TransactionsConfig.ready() to an event of marketplace.reactions and
runs after the change it reports is committed, with ids only; it queues work and returns.
Services announce the events, so they import no hook (nor the tasks the hooks queue)."""

from __future__ import annotations

from django.db import transaction

from marketplace.actors import SYSTEM
from marketplace.jobs import enqueue
from transactions.models import License, license_is_active_now
from transactions.services.extracts import extract_request


def license_issued(*, license_id: int) -> None:
    """A license was issued and committed: queue its first file (the default format, built
    from the published version). A renewal whose window has not started yet gets its file when
    asked for."""
    license = License.objects.select_related("dataset").get(pk=license_id)
    if license_is_active_now(license) and license.dataset.current_version_id:
        extract_request(actor=SYSTEM, license=license)


def version_published(*, version_id: int) -> None:
    """A new version of a dataset was published: deliver it to the licenses that receive
    updates (a worker does the work)."""
    enqueue("transactions.tasks.deliver_version", version_id)


def offer_risk_measured(*, offer_id: int, outcome: str) -> None:
    """A worker finished measuring a record offer's risk: tell the center's staff how it went
    (the offer may have opened by itself, or be above the threshold)."""
    from catalog.models import Offer
    from transactions.notifications import notify_offer

    offer = Offer.objects.select_related("dataset__center").filter(pk=offer_id).first()
    if offer is not None:
        with transaction.atomic():
            notify_offer(verb=f"offer_risk_{outcome}", offer=offer)

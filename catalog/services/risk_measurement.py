"""Risk reports a worker owes: record offers over versions too large to measure in a request.

An offer saved over such a version (`catalog.services._measured_later`) is stored closed with a
token and `open_when_measured`; `catalog.tasks.measure_offer_risk` runs `offer_risk_measure`,
which measures, stores the report and opens the offer when it was asked to open and the report
passes. A later change of the offer's policy, or a newer version, gives it a new token: a
measurement whose token is no longer the offer's is dropped, never stored. Offers whose
measurement a lost worker never finished are queued again by `offers_requeue_stuck_risk`.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog import cache as catalog_cache
from catalog import permissions, risk_reports, spark
from catalog.models import Offer
from catalog.storage import remove_stale_work_dirs
from marketplace import reactions
from marketplace.authz import authorize

# A measurement owed and silent this long (not started, or no progress written) is taken for
# lost. While DuckDB copies the treated rows, progress is written with each percent and at least
# every HEARTBEAT (at 10^10 rows, about 20 hours on one 2-core worker, a percent is 12 minutes);
# the measures between the two copies (GROUP BYs) write nothing until they end.
STUCK_AFTER = timedelta(hours=1)
HEARTBEAT = timedelta(minutes=5)


def offer_risk_measure(*, actor, offer_id: int, token: str) -> str:
    """Measure the report `offer_id` owes under `token` and store it. Returns "opened",
    "measured", or "superseded" (the offer is gone or owes a newer measurement)."""
    from catalog import services

    authorize(permissions.offer_risk_measure, actor, None)
    offer = Offer.objects.select_related("dataset", "risk_version").filter(pk=offer_id).first()
    if offer is None or str(offer.risk_token) != token:
        return "superseded"
    version = offer.risk_version
    if version is None:  # deleted meanwhile: nothing to measure, the offer is no longer owed one
        assessed = services._unmeasured()
    else:
        try:
            assessed = services._measure_now(
                offer.policy, version, opening=False, progress=_progress_writer(offer_id, token)
            )
        except Superseded:
            return "superseded"  # stopped early: its result would have been dropped
    return _store_if_owed(actor, offer_id, token, assessed, version)


def offer_risk_give_up(*, actor, offer_id: int, token: str) -> str:
    """End the measurement `offer_id` owes under `token` as failed (it ran past the worker's
    time limit): the offer stays closed with `risk_status` "failed", as when DuckDB fails."""
    from catalog import services

    authorize(permissions.offer_risk_give_up, actor, None)
    offer = Offer.objects.select_related("risk_version").filter(pk=offer_id).first()
    if offer is None:
        return "superseded"
    return _store_if_owed(actor, offer_id, token, services._unmeasured(failed=True), offer.risk_version)


def _store_if_owed(actor, offer_id: int, token: str, assessed: dict, version) -> str:
    """Store `assessed` if the offer still owes the measurement under `token`: "opened",
    "measured" (or failed), or "superseded"."""
    from catalog import services

    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update(of=("self",))
            .select_related("dataset__center")
            .filter(pk=offer_id)
        ).first()
        if offer is None or str(offer.risk_token) != token:
            return "superseded"
        opened = services._store_assessment(actor, offer, assessed, version)
        reactions.announce_on_commit(
            reactions.OFFER_RISK_MEASURED, offer_id=offer.pk, outcome=_outcome(offer, opened)
        )
    catalog_cache.changed(offer.dataset)
    return "opened" if opened else "measured"


def _outcome(offer: Offer, opened: bool) -> str:
    """What the center is told of a measurement the worker stored on `offer`."""
    if opened:
        return "opened"
    if offer.risk_report is None:
        return "failed"
    return "passed" if offer.risk_passes or not risk_reports.guards(offer.dataset) else "above"


class Superseded(Exception):
    """The offer no longer owes the measurement being made (a newer one, or none)."""


def _progress_writer(offer_id: int, token: str):
    """`progress(fraction)` for a measurement: the offer's `risk_progress` in whole percent and
    its heartbeat, written when the percent grows and at least every HEARTBEAT while progress is
    reported; raises Superseded once the offer holds another token, which stops the statement
    running (minutes of work on a large version)."""
    last, written_at = -1, None

    def progress(fraction: float) -> None:
        nonlocal last, written_at
        pct = max(0, min(100, int(fraction * 100)))
        now = timezone.now()
        if pct <= last and now - written_at < HEARTBEAT:
            return
        last, written_at = max(pct, last), now
        if not Offer.objects.filter(pk=offer_id, risk_token=token).update(
            risk_progress=last, risk_heartbeat_at=now
        ):
            raise Superseded

    return progress


def offers_requeue_stuck_risk(*, actor) -> list[tuple[int, str]]:
    """(offer id, token) of the measurements owed and silent (no progress written) for longer
    than STUCK_AFTER, their clock restarted, for the caller to queue again (a worker lost with
    the task, or a broker that dropped it). A measurement that was only slow then runs twice
    until one finishes; the other stops at its next progress report. One owed for more than
    twice RISK_MEASURE_TIME_LIMIT (every try ended by the worker's hard limit) is given up as
    failed instead of being tried again and again."""
    authorize(permissions.offers_requeue_stuck_risk, actor)
    now = timezone.now()
    with transaction.atomic():
        stuck = list(
            Offer.objects.select_for_update(skip_locked=True)
            .annotate(heard=Coalesce("risk_heartbeat_at", "risk_measuring_since"))
            .filter(risk_token__isnull=False, heard__lt=now - STUCK_AFTER)
            .values_list("pk", "risk_token", "risk_measuring_since")
        )
        Offer.objects.filter(pk__in=[pk for pk, *_ in stuck]).update(risk_heartbeat_at=now)
    give_up_before = now - 2 * timedelta(seconds=settings.RISK_MEASURE_TIME_LIMIT)
    again = []
    for pk, token, since in stuck:
        if since and since < give_up_before:
            offer_risk_give_up(actor=actor, offer_id=pk, token=str(token))
        else:
            again.append((pk, str(token)))
    # A measurement on Spark removes its work directory however it ends; one older than the
    # worker's hard time limit belongs to a worker that was killed.
    limit = timedelta(seconds=settings.RISK_MEASURE_TIME_LIMIT + 600)
    remove_stale_work_dirs(spark.RISK_WORK_PREFIX, now - limit)
    return again

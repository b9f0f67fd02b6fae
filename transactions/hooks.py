"""Where later work plugs into the transactions workflow.

Each hook is called by a service through `transaction.on_commit`, with ids only, after the
change it reports is committed; they queue work and return."""

from __future__ import annotations

from collections.abc import Callable

# Later apps subscribe here in their AppConfig.ready(), so the app that publishes a version
# (catalog) never imports them.
_version_published_subscribers: list[Callable[[int], None]] = []


def subscribe_version_published(subscriber: Callable[[int], None]) -> None:
    """Call `subscriber(version_id)` after every version publication (once per subscriber)."""
    if subscriber not in _version_published_subscribers:
        _version_published_subscribers.append(subscriber)


def license_issued(license_id: int) -> None:
    """Called once after a license is issued and committed: queue its first file (the default
    format, built from the published version). A renewal whose window has not started yet gets
    its file when asked for."""
    from marketplace.actors import SYSTEM
    from transactions.models import License, license_is_active_now
    from transactions.services.extracts import extract_request

    license = License.objects.select_related("dataset").get(pk=license_id)
    if license_is_active_now(license) and license.dataset.current_version_id:
        extract_request(actor=SYSTEM, license=license)


def version_published(version_id: int) -> None:
    """Called after a new version of a dataset is published: deliver it to the licenses that
    receive updates (a worker does the work), and tell the subscribers."""
    from transactions.tasks import deliver_version

    deliver_version.delay(version_id)
    for subscriber in _version_published_subscribers:
        subscriber(version_id)

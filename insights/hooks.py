"""How insights react to the rest of the platform (subscribed in InsightsConfig.ready)."""

from __future__ import annotations

from marketplace.jobs import enqueue


def version_published(*, version_id: int) -> None:
    """A dataset version was published (and committed): refresh the releases built on its
    dataset in a worker."""
    enqueue("insights.tasks.refresh_releases_for_version", version_id)

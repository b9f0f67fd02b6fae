"""Where later work plugs into the transactions workflow.

Each hook is called by a service through `transaction.on_commit`, with ids only, after the
change it reports is committed. They do nothing yet; the issue that builds the feature fills
them in (and keeps the signature)."""

from __future__ import annotations


def license_issued(license_id: int) -> None:
    """Called once after a license is issued and committed.

    The extract engine (a later issue) plugs in here: queue the first extract of the licensed
    scope for the new license (a Celery task taking `license_id`, idempotent, re-reading the
    license and checking `transactions.models.license_is_usable`). Until then: nothing."""
    return None

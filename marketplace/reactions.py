"""Reactions across apps, in one explicit registry (not Django signals: STYLE.md habit 8).

Dependencies run one way (docs/architecture.md): catalog must not import transactions, yet a
published version must reach the licenses that receive updates. So the earlier app *announces*
what happened, by name and with ids, and a later app *subscribes* in its AppConfig.ready():

    reactions.subscribe(VERSION_PUBLISHED, hooks.version_published)   # transactions/apps.py
    reactions.announce_on_commit(VERSION_PUBLISHED, version_id=v.pk)   # catalog/services.py

Subscribers run after the announcing transaction commits, in the order they subscribed; like
the work they queue, they take ids and re-read state."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

# The events, named here so that a subscriber and an announcer cannot disagree on a spelling.
VERSION_PUBLISHED = "catalog.version.published"  # version_id
LICENSE_ISSUED = "transactions.license.issued"  # license_id
# A worker finished a record offer's risk measurement: offer_id, outcome ("opened", "passed",
# "above" or "failed"); the center's staff are told (transactions.hooks.offer_risk_measured).
OFFER_RISK_MEASURED = "catalog.offer.risk_measured"

_subscribers: dict[str, list[Callable[..., object]]] = defaultdict(list)

# Questions an earlier app's pages ask and a later app answers (same one-way rule): the answerer
# registers in its AppConfig.ready(); without one, the asker gets its default.
OFFER_HOLDINGS = "transactions.offer_holdings"  # (user, dataset_id) -> {offer_id: {...}}
# (dataset_id, version, policy) -> [message, …]: why an aggregate offer cannot be opened beside
# the open statistics published from its dataset (insights.crosscheck.offer_conflicts)
PUBLIC_TABLE_CONFLICTS = "insights.public_table_conflicts"

_answerers: dict[str, Callable[..., object]] = {}


def answer(question: str, handler: Callable[..., object]) -> None:
    """`handler(**kwargs)` answers `question` from now on."""
    _answerers[question] = handler


def ask(question: str, default=None, **kwargs):
    """The registered answer to `question`, or `default` when no app answers it."""
    handler = _answerers.get(question)
    return default if handler is None else handler(**kwargs)


def subscribe(event: str, handler: Callable[..., object]) -> None:
    """Call `handler(**ids)` after every committed `event`. Subscribing twice is harmless."""
    if handler not in _subscribers[event]:
        _subscribers[event].append(handler)


def subscribers(event: str) -> list[Callable[..., object]]:
    return list(_subscribers[event])


def announce_on_commit(event: str, **ids: int) -> None:
    """Run `event`'s subscribers once the current transaction commits (at once outside one)."""
    for handler in subscribers(event):
        transaction.on_commit(lambda handler=handler: handler(**ids))

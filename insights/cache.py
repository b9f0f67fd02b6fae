"""A cache of what the insight pages and API show, dropped whenever a release changes.

Same pattern as catalog.cache: a generation number kept in the cache; an entry is used only if
it was made under the current generation. Every release publication, refresh and retirement
bumps it once committed."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from marketplace.cache import ENTRY_FORMAT

GENERATION_KEY = "insights:generation"
MISS = object()


def _seconds() -> int:
    return getattr(settings, "INSIGHTS_CACHE_SECONDS", 600)


def _key(kind: str, parts) -> str:
    return f"insights:{kind}:" + hashlib.sha256(repr((ENTRY_FORMAT, parts)).encode()).hexdigest()[:40]


def cached(kind: str, parts, compute):
    """`compute()`'s value for (`kind`, `parts`), from the cache when made under the current
    generation. One round trip for a hit."""
    if not _seconds():
        return compute()
    key = _key(kind, parts)
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        generation = cache.get(GENERATION_KEY, 1)
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        return entry[1]
    value = compute()
    cache.set(key, (generation, value), _seconds())
    return value


def changed() -> None:
    """A release changed: forget cached insights once the change is committed."""

    def bump():
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:
            cache.add(GENERATION_KEY, 2, timeout=None)

    transaction.on_commit(bump)

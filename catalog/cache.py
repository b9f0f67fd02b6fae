"""A short-lived cache of what the public catalog shows: list responses for anonymous callers,
and dataset representations and pages for everyone outside the dataset's center (they all see
the same). Every change to what the catalog shows bumps a generation number kept in the cache;
an entry is used only if it was made under the current generation. Where the cache is shared
(Redis in production) a change is visible at once everywhere; with the per-process default
cache, other processes see it when their entries expire (CATALOG_CACHE_SECONDS).

One round trip per lookup: the generation and the entry are read together. Entries about one
dataset are keyed by its slug and carry the few facts about it that a request needs besides
(`facts`), so a visitor's request can be answered without reading the dataset: only published
datasets are ever cached for visitors, and any change to one makes a new generation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from marketplace.cache import ENTRY_FORMAT

GENERATION_KEY = "catalog:generation"


@dataclass(frozen=True)
class Lookup:
    key: str
    generation: int
    value: Any = None  # None: not cached (or made under an older generation)


MISSING = Lookup("", 0)  # a lookup not made: nothing cached, and nothing to be stored


def lookup(kind: str, *parts) -> Lookup:
    """The cached `kind` entry for `parts` (e.g. "list", language, query string)."""
    key = f"catalog:{kind}:" + hashlib.sha256(repr((ENTRY_FORMAT, parts)).encode()).hexdigest()[:40]
    if not settings.CATALOG_CACHE_SECONDS:
        return Lookup(key, 0)
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        generation = cache.get(GENERATION_KEY, 1)
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        return Lookup(key, generation, entry[1])
    return Lookup(key, generation)


def store(found: Lookup, value) -> None:
    """Keep `value` for `found`'s key, as made under the generation read at lookup: if the
    catalog changed meanwhile, the entry is already stale and will not be used."""
    if settings.CATALOG_CACHE_SECONDS and found is not MISSING:
        cache.set(found.key, (found.generation, value), settings.CATALOG_CACHE_SECONDS)


FACTS = ("pk", "slug", "center_id", "status", "title", "title_en", "theme")


def facts(dataset) -> dict:
    """What a cached dataset entry remembers of the dataset itself."""
    return {name: getattr(dataset, name) for name in FACTS}


def stand_in(remembered: dict):
    """An unsaved Dataset with the remembered facts: enough to record a view and to show a
    page's title and breadcrumbs; nothing else of it is read."""
    from catalog.models import Dataset

    return Dataset(**remembered)


def changed() -> None:
    """The public catalog changed: forget cached pages once the change is committed."""

    def bump():
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:
            cache.add(GENERATION_KEY, 2, timeout=None)

    transaction.on_commit(bump)

"""A short-lived cache of what the public catalog shows: list responses for anonymous callers,
and dataset representations and pages for everyone outside the dataset's center (they all see
the same).

Entries are stamped, and used only under the stamp they were made under:
- every entry carries the catalog's stamp (`CATALOG_KEY`), renewed by a change to the catalog as a
  whole;
- an entry about one dataset also carries that dataset's stamp, renewed when the dataset (its
  fields, versions, offers, status) changes: a change to one dataset leaves the cached pages of
  every other dataset in use;
- a list entry carries the lists' stamp, renewed by a change to any dataset (a list may show it).

A stamp is a random token, not a counter: a stamp evicted from the cache comes back as a new token,
never as one an old entry was made under. Where the cache is shared (Redis in production) a change
is visible at once everywhere; with the per-process default cache, other processes see it when
their entries expire (CATALOG_CACHE_SECONDS).

One round trip per lookup: the stamps and the entry are read together. Entries about one dataset
are keyed by its slug (slugs never change) and carry the few facts about it that a request needs
besides (`facts`), so a visitor's request can be answered without reading the dataset: only
published datasets are ever cached for visitors, and any change to one renews its stamp."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from marketplace.cache import ENTRY_FORMAT

CATALOG_KEY = "catalog:stamp"
LISTS_KEY = "catalog:stamp:lists"


def dataset_key(slug: str) -> str:
    """The cache key of the stamp of the dataset `slug`."""
    return "catalog:stamp:dataset:" + hashlib.sha256(slug.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Lookup:
    key: str
    stamp: tuple = ()
    value: Any = None  # None: not cached (or made under another stamp)


MISSING = Lookup("")  # a lookup not made: nothing cached, and nothing to be stored


def _stamp(name: str, found: dict) -> str:
    value = found.get(name)
    if value is None:  # never set, or evicted: a new token, which no entry was made under
        token = secrets.token_hex(8)
        cache.add(name, token, timeout=None)
        value = cache.get(name, token)
    return value


def lookup(kind: str, *parts, dataset: str | None = None) -> Lookup:
    """The cached `kind` entry for `parts` (e.g. "list", language, query string); `dataset`: the
    slug of the dataset the entry is about (None for a list)."""
    key = f"catalog:{kind}:" + hashlib.sha256(repr((ENTRY_FORMAT, parts)).encode()).hexdigest()[:40]
    if not settings.CATALOG_CACHE_SECONDS:
        return Lookup(key)
    scope = LISTS_KEY if dataset is None else dataset_key(dataset)
    found = cache.get_many([CATALOG_KEY, scope, key])
    stamp = (_stamp(CATALOG_KEY, found), _stamp(scope, found))
    entry = found.get(key)
    if entry is not None and entry[0] == stamp:
        return Lookup(key, stamp, entry[1])
    return Lookup(key, stamp)


def store(found: Lookup, value) -> None:
    """Keep `value` for `found`'s key, as made under the stamps read at lookup: if the catalog
    changed meanwhile, the entry is already stale and will not be used."""
    if settings.CATALOG_CACHE_SECONDS and found is not MISSING:
        cache.set(found.key, (found.stamp, value), settings.CATALOG_CACHE_SECONDS)


FACTS = ("pk", "slug", "center_id", "status", "title", "title_en", "theme")


def facts(dataset) -> dict:
    """What a cached dataset entry remembers of the dataset itself."""
    return {name: getattr(dataset, name) for name in FACTS}


def stand_in(remembered: dict):
    """An unsaved Dataset with the remembered facts: enough to record a view and to show a
    page's title and breadcrumbs; nothing else of it is read."""
    from catalog.models import Dataset

    return Dataset(**remembered)


def changed(dataset=None) -> None:
    """What the public catalog shows changed: `dataset` (its pages and the lists), or, without
    one, the catalog as a whole. Cached entries are forgotten once the change is committed."""
    names = [CATALOG_KEY] if dataset is None else [LISTS_KEY, dataset_key(dataset.slug)]

    def renew():
        cache.set_many({name: secrets.token_hex(8) for name in names}, timeout=None)

    transaction.on_commit(renew)

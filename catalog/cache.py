"""A short-lived cache of what the public catalog shows: list responses for anonymous callers,
and dataset representations for everyone outside the dataset's center (they all see the same).
Every change to what the catalog shows bumps a generation number that is part of each key, so a
change is visible at once where the cache is shared (Redis in production); with the per-process
default cache, other processes see it within CATALOG_CACHE_SECONDS."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "catalog:generation"


def _generation() -> int:
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        value = cache.get(GENERATION_KEY, 1)
    return value


def list_key(language: str, query_string: str) -> str:
    digest = hashlib.sha256(query_string.encode()).hexdigest()[:32]
    return f"catalog:list:{_generation()}:{language}:{digest}"


def detail_key(language: str, dataset_pk: int) -> str:
    return f"catalog:detail:{_generation()}:{language}:{dataset_pk}"


def page_key(language: str, dataset_pk: int, viewer: str) -> str:
    return f"catalog:page:{_generation()}:{language}:{dataset_pk}:{viewer}"


def get(key: str):
    return cache.get(key) if settings.CATALOG_CACHE_SECONDS else None


def put(key: str, value) -> None:
    if settings.CATALOG_CACHE_SECONDS:
        cache.set(key, value, settings.CATALOG_CACHE_SECONDS)


def changed() -> None:
    """The public catalog changed: forget cached pages once the change is committed."""

    def bump():
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:
            cache.add(GENERATION_KEY, 2, timeout=None)

    transaction.on_commit(bump)

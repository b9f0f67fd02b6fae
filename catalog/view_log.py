"""Dataset page views, counted for the providers' statistics without a database write per read.

Every dataset page and API read counts one view. Written as one INSERT each, the views were the
costliest part of a cached read under load (a commit, its WAL flush and two index updates per
read: `bench/load.py` served about a fifth more requests a second without them). With the shared
Redis cache of a deployment, a read now appends one short entry to a Redis list instead, and the
entries are moved into `DatasetView` rows in batches:

- by the beat task `catalog.tasks.flush_dataset_views` every `DATASET_VIEWS_FLUSH_SECONDS`;
- by every read of the statistics (`flush()` first), so a provider never sees a count behind
  the views already made.

Each entry keeps its own time, so a view counts in the month it was made whenever it is flushed.
A batch that cannot be written goes back to the head of the list, in order; entries of a dataset
deleted meanwhile are dropped (its views went with it). Redis must keep the list: the
`docker-compose.yml` Redis has no eviction and appends to disk. Without a shared cache (the
embedded defaults, one process's memory) each view is inserted at once, as before.
"""

from __future__ import annotations

import datetime as dt

from django.core.cache import caches
from django.db import connection, transaction

from .models import Dataset, DatasetView

BATCH = 5000
_KEY = "dataset-views"

# Take up to ARGV[1] entries from the head of the list in one step, so two flushes running at
# once never take the same view.
_TAKE = """
    local taken = redis.call('lrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)
    if #taken > 0 then redis.call('ltrim', KEYS[1], #taken, -1) end
    return taken
"""


def _redis():
    """The shared cache's Redis client and the list's key, or (None, None) without one."""
    from marketplace.cache import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None, None
    key = backend.make_and_validate_key(_KEY)
    return backend._cache.get_client(key, write=True), key


def record(dataset_id: int, organization_id: int | None, at: dt.datetime) -> None:
    """Count one view of a dataset (by a member of ``organization_id``, or anyone) made ``at``."""
    client, key = _redis()
    if client is None:
        _insert([(dataset_id, organization_id, at)])
        return
    client.rpush(key, f"{dataset_id}:{organization_id or ''}:{at.timestamp()!r}")


def flush() -> int:
    """Move every buffered view into the database; how many rows were written."""
    client, key = _redis()
    if client is None:
        return 0
    written = 0
    while entries := client.eval(_TAKE, 1, key, BATCH):
        try:
            written += _insert(_still_there(_parse(entries)))
        except BaseException:
            client.lpush(key, *reversed(entries))  # back where they were, for the next flush
            raise
    return written


def pending() -> int:
    """How many views wait in the buffer (0 without one)."""
    client, key = _redis()
    return 0 if client is None else int(client.llen(key))


def _parse(entries: list[bytes]) -> list[tuple]:
    rows = []
    for entry in entries:
        dataset, organization, seconds = entry.decode("ascii").split(":")
        at = dt.datetime.fromtimestamp(float(seconds), dt.UTC)
        rows.append((int(dataset), int(organization) if organization else None, at))
    return rows


def _still_there(rows: list[tuple]) -> list[tuple]:
    """The views of datasets that still exist; an organization deleted since is left out (as
    the database does for the rows already written)."""
    from accounts.models import Organization

    datasets = set(Dataset.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", flat=True))
    organizations = set(
        Organization.objects.filter(pk__in={r[1] for r in rows if r[1]}).values_list("pk", flat=True)
    )
    return [(d, o if o in organizations else None, at) for d, o, at in rows if d in datasets]


def _insert(rows: list[tuple]) -> int:
    """The rows through one cursor in one transaction (the ORM's save would add only time)."""
    if not rows:
        return 0
    meta, quote = DatasetView._meta, connection.ops.quote_name
    columns = ", ".join(
        quote(meta.get_field(name).column) for name in ("dataset", "organization", "viewed_at")
    )
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s)",  # noqa: S608 - names from the model
            [(d, o, adapt(at)) for d, o, at in rows],
        )
    return len(rows)

"""A cache of aggregate offers' protected tables, kept by each process that builds them (the
extract workers, and the web processes for the dataset pages' previews).

An aggregate offer's protected table (catalog.privacy.released_table: every record summed into
cells, then k, p%, dominance, secondary suppression and cell-key noise) depends only on the
version's files, the offer's policy and the version's noise seed, never on the license: every
license of the offer narrows the same table to its scope. Building it reads every record of the
version, so the first build keeps the table as a Parquet file here and the next ones, for any
license, format or scope, read it back.

- The entry's name is a SHA-256 of everything that makes the table: DuckDB's version, the setup
  statements with their parameters (they name the files and carry the policy and the seed) and
  each file's size and modification time. A changed file, policy, seed or engine is a new name;
  an old entry is never read for it.
- A table that depends on a license key is never given to the cache (callers pass no table).
- Each entry has its SHA-256 and column types beside it; the checksum is checked before use (a
  damaged entry is removed and the table built again) and each column is cast back to its type.
- Entries are written to a temporary name and renamed into place, so two processes building the
  same one at once leave one whole file.
- The cache holds at most RELEASED_CACHE_BYTES (0: no cache); the entries used longest ago go
  first. It holds released tables only: what buyers of the offer receive, never records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import duckdb
from django.conf import settings

from catalog import privacy
from catalog.ingestion.sql import ident, literal
from catalog.storage import sha256_of

log = logging.getLogger(__name__)

SUFFIX = ".parquet"
CHECKSUM = ".sha256"


def directory() -> Path | None:
    """The cache's directory, or None when the cache is off."""
    if settings.RELEASED_CACHE_BYTES <= 0:
        return None
    return Path(settings.RELEASED_CACHE_DIR)


def entry_name(setup: list[dict], files: list[str]) -> str | None:
    """The name of the table `setup` builds from `files` in the cache, or None when a file is
    gone."""
    try:
        stats = [(f, stat.st_size, stat.st_mtime_ns) for f, stat in ((f, os.stat(f)) for f in files)]
    except OSError:
        return None
    made_of = [duckdb.__version__, setup, stats]
    return hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode()).hexdigest()


def prepare(
    con, *, table: str, setup: list[dict], files: str | list[str], build: Callable[[], None] | None = None
) -> str:
    """Leave the protected table `table` that `setup` builds from `files` (a plan's `parquet`)
    on `con`: read from the cache when a whole entry is there, else built by `build()` (by
    default `setup` run on `con`; an extract's may hold a Spark stage) and kept. Without a
    `table` (records, or a table of a license's own) it only builds. Returns "read", "built" or
    "not cached"."""
    folder = directory()
    name = entry_name(setup, privacy.source_files(files)) if table and folder is not None else None
    run = build or (lambda: privacy.run_setup(con, setup))
    if name is None:
        run()
        return "not cached"
    entry = folder / f"{name}{SUFFIX}"
    quoted = ident(table)
    columns = _whole(entry)
    if columns is not None:
        # Each column cast back to the type it was built with (Parquet has no HUGEINT, say).
        # Quoted names and a quoted path of our own, and types DuckDB itself described.
        select = ", ".join(f"CAST({ident(n)} AS {t}) AS {ident(n)}" for n, t in columns)
        kept = f"SELECT {select} FROM read_parquet({literal(entry)})"  # noqa: S608
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {quoted} AS {kept}")
        except duckdb.Error:
            log.warning("released-table cache entry %s unreadable; building the table again", entry.name)
            _remove(entry)
        else:
            os.utime(entry)  # used now: the last to be evicted
            return "read"
    run()
    _keep(con, quoted, folder, entry)
    return "built"


def builder(files: str | list[str]) -> Callable:
    """`build(con, released)` for catalog.privacy.linked_disclosures: each protected table
    (a catalog.privacy.Released over `files`) read from the cache, or built and kept."""
    return lambda con, released: prepare(con, table=released.table, setup=released.setup, files=files)


def keep_for_version(version) -> dict[int, str]:
    """Build (or find) the protected table of every open aggregate offer over `version`, so
    that neither the first buyer's extract nor the dataset page's preview waits for it (a
    worker's task on publication and on an offer's change). Tables that Spark would build (the
    scan above SPARK_MIN_SCAN_BYTES, Spark configured) are left to the first extract. Returns
    each offer's outcome: "read", "built", "on spark", "not cached" or "cannot be built"."""
    from catalog import selectors, spark
    from catalog.models import Offer
    from marketplace.duckdb import connect

    if directory() is None or not version.parquet:
        return {}
    offers = list(version.dataset.offers.filter(kind=Offer.Kind.AGGREGATE, is_active=True).order_by("pk"))
    files = selectors.version_files(version)
    if spark.scan_is_large(files):
        return {offer.pk: "on spark" for offer in offers}
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    outcomes = {}
    con = connect()
    try:
        for offer in offers:
            try:
                plan = privacy.plan(
                    parquet=files,
                    schema=schema,
                    policy=offer.policy,
                    scope={},
                    key=b"",  # an aggregate reads no license key
                    noise_seed=version.cell_key_seed,
                )
            except privacy.PlanError:
                outcomes[offer.pk] = "cannot be built"
                continue
            outcomes[offer.pk] = prepare(con, table=plan.released, setup=plan.setup, files=files)
    finally:
        con.close()
    return outcomes


def _whole(entry: Path) -> list[tuple[str, str]] | None:
    """The columns (name, type) of `entry` when it is there whole (its checksum as written
    beside it), else None."""
    try:
        about = json.loads(entry.with_suffix(CHECKSUM).read_text())
        columns = [(str(n), str(t)) for n, t in about["columns"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not entry.exists():
        return None
    if sha256_of(entry) == about.get("sha256"):
        return columns
    log.warning("released-table cache entry %s damaged; building the table again", entry.name)
    _remove(entry)
    return None


def _keep(con, table: str, folder: Path, entry: Path) -> None:
    """Write the built table as `entry` (a temporary name renamed into place), then its
    checksum and column types beside it, then evict down to the size limit. HUGEINT columns are
    written as DECIMAL(38, 0), which Parquet holds exactly. A failure to keep it is logged, not
    raised: nothing needs the cache."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = folder / f".{entry.name}.{os.getpid()}.part"
    try:
        columns = [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]
        select = ", ".join(
            f"CAST({ident(n)} AS DECIMAL(38, 0)) AS {ident(n)}" if t in ("HUGEINT", "UHUGEINT") else ident(n)
            for n, t in columns
        )
        built = f"SELECT {select} FROM {table}"  # noqa: S608 - quoted names, described by DuckDB
        con.execute(f"COPY ({built}) TO {literal(partial)} (FORMAT parquet, COMPRESSION zstd)")
        digest = sha256_of(partial)
        with open(partial, "rb") as f:
            os.fsync(f.fileno())  # on disk before it takes the entry's name
        os.replace(partial, entry)
        written = folder / f".{entry.stem}.{os.getpid()}{CHECKSUM}.part"
        written.write_text(json.dumps({"sha256": digest, "columns": columns}))
        os.replace(written, entry.with_suffix(CHECKSUM))
    except (OSError, duckdb.Error) as exc:
        log.warning("could not keep released table %s in the cache: %s", entry.name, exc)
        partial.unlink(missing_ok=True)
        return
    evict(folder, settings.RELEASED_CACHE_BYTES)


def evict(folder: Path, limit: int) -> list[str]:
    """Remove the entries used longest ago until the cache holds at most `limit` bytes; returns
    the names removed."""
    entries = []
    for path in folder.glob(f"*{SUFFIX}"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime_ns, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        _remove(path)
        total -= size
        removed.append(path.name)
    return removed


def _remove(entry: Path) -> None:
    entry.with_suffix(CHECKSUM).unlink(missing_ok=True)
    entry.unlink(missing_ok=True)

"""A converted table into Hive-style partition files, and what the catalog records of each file.

``partition_parquet`` writes one zstd Parquet file per period of a date column (month, quarter
or year) and, optionally, per value of a region column, in ``period=2024-01/region=41110/``
directories, with DuckDB's ``COPY … (PARTITION_BY …)``. The files hold exactly the table's
columns: the partition keys live only in the directory names (readers pass
``hive_partitioning = false``), so a version made of many files has the same schema as one made
of a single file. Inside each file the rows are in the order DuckDB's partitioned writer leaves
them, which is not the upload's (it regroups them; Spark's writer, `catalog.spark_ingestion`,
keeps the upload's); extracts read them by file and row, so a version's files give one order.
One more pass over the written files gives each file's rows and the min/max of its date and
region columns, which the planner uses to choose files before opening any. Knows nothing of
Django.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from .detect import sha256_file
from .errors import IngestionError
from .sql import ident, insertion_order_preserved, literal

PERIOD_UNITS = {
    "month": "strftime(CAST({c} AS DATE), '%Y-%m')",
    "quarter": (
        "CAST(year(CAST({c} AS DATE)) AS VARCHAR) || '-Q' || CAST(quarter(CAST({c} AS DATE)) AS VARCHAR)"
    ),
    "year": "strftime(CAST({c} AS DATE), '%Y')",
}
# The value a partition key takes for rows whose date (or region) is missing.
MISSING = "unknown"
FILE_PATTERN = "part-{uuid}"


@dataclass(frozen=True)
class PartFile:
    path: Path  # the local file
    relative: str  # "period=2024-01/region=41110/part-….parquet"
    period: str
    region: str
    rows: int
    bytes: int
    sha256: str
    date_min: date | None
    date_max: date | None
    region_min: str | None
    region_max: str | None


# Reads partition files (bound as the one parameter, a list) as the table's own columns.
SCAN = "read_parquet(?, hive_partitioning = false)"


def key_names(columns: list[dict]) -> tuple[str, str]:
    """Hive key names that no data column takes (a clash would hide one of the two)."""
    taken = {c["name"].casefold() for c in columns}
    period, region = "period", "region"
    while period.casefold() in taken:
        period = "_" + period
    while region.casefold() in taken:
        region = "_" + region
    return period, region


def check_partition_columns(columns: list[dict], period_column: str, unit: str, region_column) -> None:
    """Raise IngestionError when the period or region column is missing or the period column
    holds no dates (ValueError for an unknown unit)."""
    by_name = {c["name"]: c for c in columns}
    column = by_name.get(period_column)
    if column is None:
        raise IngestionError(
            f'The dataset is partitioned by the column "{period_column}", which this file does not have.',
            column=period_column,
        )
    if column["type"] not in ("date", "datetime"):
        raise IngestionError(
            f'The period column "{period_column}" must hold dates (YYYY-MM-DD); this file has it as '
            f"{column['type']}.",
            column=period_column,
        )
    if region_column and region_column not in by_name:
        raise IngestionError(
            f'The dataset is partitioned by the region column "{region_column}", '
            "which this file does not have.",
            column=region_column,
        )
    if unit not in PERIOD_UNITS:
        raise ValueError(f"unknown period unit {unit!r}")


def partition_parquet(
    con: duckdb.DuckDBPyConnection,
    src: Path,
    out_dir: Path,
    *,
    columns: list[dict],
    period_column: str,
    unit: str = "month",
    region_column: str | None = None,
) -> list[PartFile]:
    """Write ``src`` (one converted Parquet file) as partition files under ``out_dir``; return
    them sorted by path. Raises IngestionError when the period or region column is missing or
    the period column holds no dates."""
    check_partition_columns(columns, period_column, unit, region_column)
    period_key, region_key = key_names(columns)
    period_sql = PERIOD_UNITS[unit].replace("{c}", ident(period_column))
    derived = [f"coalesce({period_sql}, '{MISSING}') AS {ident(period_key)}"]
    keys = [ident(period_key)]
    if region_column:
        derived.append(
            f"coalesce(CAST({ident(region_column)} AS VARCHAR), '{MISSING}') AS {ident(region_key)}"
        )
        keys.append(ident(region_key))
    out_dir.mkdir(parents=True, exist_ok=True)
    with insertion_order_preserved(con):
        con.execute(
            f"COPY (SELECT *, {', '.join(derived)} FROM read_parquet({literal(src)})) "  # noqa: S608
            f"TO {literal(out_dir)} (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY ({', '.join(keys)}), FILENAME_PATTERN {literal(FILE_PATTERN)})"
        )
    return describe_parts(con, out_dir, period_column, region_column, (period_key, region_key))


def describe_parts(
    con: duckdb.DuckDBPyConnection, out_dir: Path, period_column: str, region_column: str | None, keys
) -> list[PartFile]:
    """The partition files written under `out_dir` (DuckDB's or Spark's: every `*.parquet` file
    not hidden), sorted by path, with what the catalog records of each. `keys`: the directory
    names' (period, region) keys."""
    period_key, region_key = keys
    files = sorted(str(p) for p in out_dir.rglob("[!._]*.parquet"))
    if not files:
        return []
    stats = _file_stats(con, files, period_column, region_column)
    parts = []
    for name in files:
        path = Path(name)
        relative = path.relative_to(out_dir).as_posix()
        hive = _hive_values(relative)
        rows, d_min, d_max, r_min, r_max = stats[name]
        parts.append(
            PartFile(
                path=path,
                relative=relative,
                period=hive.get(period_key, ""),
                region=hive.get(region_key, "") if region_column else "",
                rows=rows,
                bytes=path.stat().st_size,
                sha256=sha256_file(path),
                date_min=d_min,
                date_max=d_max,
                region_min=r_min,
                region_max=r_max,
            )
        )
    return parts


def _file_stats(con, files: list[str], period_column: str, region_column: str | None) -> dict[str, tuple]:
    """Per file: rows, min/max of the date column (as dates), min/max of the region column (as
    text, the way scope filters compare it). One pass over all the files."""
    d = f"CAST({ident(period_column)} AS DATE)"
    r = f"CAST({ident(region_column)} AS VARCHAR)" if region_column else "NULL"
    rows = con.execute(
        f"SELECT filename, count(*), min({d}), max({d}), min({r}), max({r}) "  # noqa: S608
        "FROM read_parquet(?, hive_partitioning = false, filename = true) GROUP BY filename",
        [files],
    ).fetchall()
    return {name: tuple(rest) for name, *rest in rows}


def _hive_values(relative: str) -> dict[str, str]:
    values = {}
    for segment in relative.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep:
            values[key] = urllib.parse.unquote(value)
    return values


def manifest_sha256(files: list[tuple[str, str]]) -> str:
    """The content identity of a set of files: the SHA-256 of their sorted (name, sha256) pairs.
    Two versions with the same files have the same identity (and the same cell-key noise)."""
    digest = hashlib.sha256()
    for name, sha in sorted(files):
        digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


def prune(
    files: list[tuple],
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    regions: list[str] | None = None,
) -> list[tuple]:
    """The files, `(name, date_min, date_max, region_min, region_max, …)`, that can hold rows
    dated within [date_from, date_to] (inclusive; None leaves that end open) and in one of
    `regions` (None: any), from their recorded ranges alone. A file whose date (region) range is
    unknown holds only missing values there, which no such filter keeps. Regions compare as
    text in code-point order, the order DuckDB's min() and max() gave."""
    chosen = files
    if date_from:
        chosen = [f for f in chosen if f[2] is not None and f[2] >= date_from]
    if date_to:
        end = date_to + timedelta(days=1)
        chosen = [f for f in chosen if f[1] is not None and f[1] < end]
    if regions:
        wanted = [str(r) for r in regions]
        chosen = [f for f in chosen if f[3] is not None and any(f[3] <= r <= f[4] for r in wanted)]
    return chosen

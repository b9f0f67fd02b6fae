"""Parquet files ingested on Apache Spark through Spark Connect (issue 16): a file of a
partitioned dataset holding at least SPARK_MIN_SCAN_BYTES is converted and cut into partition
files by Spark, not by one DuckDB worker.

DuckDB still decides the plan, from the file's schema alone (its footer, no data read): the
columns' names (`convert.unique_names`), their types and the partitioning checks are the ones
the DuckDB conversion makes. Spark then reads the rows, derives the period and region keys as
`partition.partition_parquet` does and writes zstd Parquet files in the same Hive-style
directories, one file per directory, rows in the file's order (they are shuffled by key and
sorted back by their row number in the file). What the catalog records of each file (rows,
bytes, sha256, date and region ranges) and the profile are then computed from the written files
by the same code as for DuckDB's, so a version ingested either way holds the same rows in the
same files, with the same schema, ranges and profile (tests/catalog/test_ingestion_spark.py);
only the order inside a file differs, as DuckDB's partitioned writer regroups the rows.

Only flat columns of the types both engines write alike go to Spark (text, booleans, integers
up to 64 bits, floats, decimals, dates and timestamps without time zone), and only a region
column of text or integers (its key is its text). Anything else (CSV, which needs the
CP949 decoding and per-row errors of `catalog.ingestion.convert`, and Parquet with other
types, including the ones the DuckDB conversion refuses with a message) is ingested on DuckDB,
logged with the reason; so is a file Spark fails on, or whose text DuckDB refuses to read once
Spark copied it (DuckDB's conversion then names what is wrong with it).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
from django.conf import settings

from catalog import spark
from catalog.ingestion import IngestResult, convert, detect, partition, profile_files
from catalog.ingestion.sql import literal

log = logging.getLogger(__name__)

# DuckDB types that Spark reads and writes back as the same Parquet type.
_SAME_TYPES = {
    "VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "DATE", "TIMESTAMP",
}  # fmt: skip
_DECIMAL = re.compile(r"DECIMAL\(\d+,\d+\)")
# Spark's spelling of partition.PERIOD_UNITS ({c}: the column as a date).
_PERIODS = {
    "month": "date_format({c}, 'yyyy-MM')",
    "quarter": "concat(CAST(year({c}) AS STRING), '-Q', CAST(quarter({c}) AS STRING))",
    "year": "date_format({c}, 'yyyy')",
}


@dataclass(frozen=True)
class Plan:
    select: list[tuple[str, str]]  # (the file's column, the table's name for it)
    types: list[str]  # the table's types ("string", "integer"…)
    rows: int  # as the file's footer says


def plan(con, src: Path, partitioning: dict) -> Plan | str:
    """What Spark is to write of the Parquet file `src`, decided by DuckDB from its schema; or
    why it is not for Spark. Raises IngestionError when the period or region column is missing
    or the period column holds no dates (as the DuckDB path would)."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(src)})").fetchall()  # noqa: S608
    except duckdb.Error:
        return "DuckDB cannot read its schema (its conversion says why)"
    originals = [name for name, *_ in described]
    if len(set(originals)) < len(originals):
        return "two columns have the same name"
    names = convert.unique_names(originals)
    types = []
    for name, duckdb_type, *_ in described:
        if duckdb_type not in _SAME_TYPES and not _DECIMAL.fullmatch(duckdb_type):
            return f"column {name} is {duckdb_type}, which the engines do not write alike"
        types.append(convert.logical_type(duckdb_type))
    columns = [{"name": n, "type": t} for n, t in zip(names, types)]
    partition.check_partition_columns(columns, **partitioning)
    region = partitioning["region_column"]
    if region and types[names.index(region)] not in ("string", "integer"):
        return f"the region column {region} is {types[names.index(region)]}; its key is its text"
    ((rows,),) = con.execute("SELECT num_rows FROM parquet_file_metadata(?)", [str(src)]).fetchall()
    if not rows:
        return "the file holds no rows"
    return Plan(list(zip(originals, names)), types, int(rows))


def ingest(
    con, src: Path, work_dir: Path, partitioning: dict, progress
) -> tuple[IngestResult, list, dict] | None:
    """`src` converted and written as partition files on Spark, with what the catalog records of
    each: (the ingestion's result, the files as `partition.PartFile`s, their profile). None when
    it is not for Spark (too small, not Parquet, a plan Spark has no form of, no server
    answering) or Spark could not read it: the caller then ingests it on DuckDB, which names
    what is wrong with a file (logged either way). `partitioning`: `partition_parquet`'s period
    column, unit and region column; `progress(fraction)`. Raises IngestionError as DuckDB's
    checks do, and ConnectionError when the server goes away (the task retries it)."""
    if not spark.scan_is_large(str(src)) or detect.file_kind(src) != "parquet":
        return None
    chosen = plan(con, src, partitioning)
    if isinstance(chosen, str):
        log.info("%s ingested on DuckDB, not Spark: %s", src.name, chosen)
        return None
    if not spark.reachable():
        log.warning(
            "Spark Connect at %s does not answer; %s is ingested on DuckDB", settings.SPARK_REMOTE, src.name
        )
        return None
    log.info("%s (%s rows) ingested on Spark", src.name, chosen.rows)
    out = work_dir / "parts"
    try:
        return _ingested(con, src, out, chosen, partitioning, progress)
    except (spark.SparkStageError, duckdb.InvalidInputException) as exc:
        # Spark failed on the data, or wrote what DuckDB refuses to read (text that is not
        # UTF-8, which Spark copies unchecked): DuckDB's conversion says what is wrong.
        log.warning("%s could not be ingested on Spark, so DuckDB ingests it: %s", src.name, exc)
        shutil.rmtree(out, ignore_errors=True)
        return None


def _ingested(con, src: Path, out: Path, chosen: Plan, partitioning: dict, progress):
    columns = [{"name": n, "type": t} for (_, n), t in zip(chosen.select, chosen.types)]
    keys = partition.key_names(columns)
    _write(src, out, chosen, partitioning, keys, progress)
    parts = partition.describe_parts(
        con, out, partitioning["period_column"], partitioning["region_column"], keys
    )
    result = IngestResult(
        parquet_path=out,  # the partition files' directory
        file_kind="parquet",
        encoding=None,
        dialect={},
        row_count=sum(p.rows for p in parts),
        source_bytes=src.stat().st_size,
        parquet_bytes=sum(p.bytes for p in parts),
        columns=convert.output_columns(con, parts[0].path, chosen.types),
        source_sha256=detect.sha256_file(src),
    )
    return result, parts, profile_files([str(p.path) for p in parts], result.columns, con=con)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _write(src: Path, out: Path, chosen: Plan, partitioning: dict, keys: tuple[str, str], progress) -> None:
    """Spark reads `src` and writes the partition files under `out` (Spark's bookkeeping files
    removed): one file per key, rows in the file's order."""
    period_key, region_key = keys
    day = f"CAST({_q(partitioning['period_column'])} AS DATE)"
    period = _PERIODS[partitioning["unit"]].replace("{c}", day)
    columns = [f"{_q(original)} AS {_q(name)}" for original, name in chosen.select]
    columns.append(f"coalesce({period}, '{partition.MISSING}') AS {_q(period_key)}")
    by = [period_key]
    if partitioning["region_column"]:
        text = f"CAST({_q(partitioning['region_column'])} AS STRING)"
        columns.append(f"coalesce({text}, '{partition.MISSING}') AS {_q(region_key)}")
        by.append(region_key)
    shutil.rmtree(out, ignore_errors=True)
    session, meter, failure = None, spark._Meter(progress), None
    try:
        session = spark.session()
        session.conf.set("spark.sql.caseSensitive", "true")  # columns are named exactly
        session.registerProgressHandler(meter)
        meter.span(0.0, 1.0)
        rows = session.read.parquet(f"file://{src}").selectExpr(*columns, "_metadata.row_index AS __row")
        ordered = rows.repartition(*by).sortWithinPartitions(*by, "__row").drop("__row")
        ordered.write.option("compression", "zstd").partitionBy(*by).parquet(f"file://{out}")
    except Exception as exc:
        failure = meter.stopped or spark._failure(exc, {})
    finally:
        if session is not None:
            with contextlib.suppress(Exception):
                session.stop()
    if failure is not None:
        shutil.rmtree(out, ignore_errors=True)
        raise failure
    for bookkeeping in [*out.rglob(".*.crc"), *out.rglob("_SUCCESS")]:
        bookkeeping.unlink()

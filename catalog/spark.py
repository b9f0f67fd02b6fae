"""Records extracts on Apache Spark through Spark Connect (`SPARK_REMOTE=sc://…`), for scans
too large for one DuckDB worker (issue 16).

Spark does the part that grows with the data: reading the partition files the scope touches,
the bound filters (date window, regions), the per-license HMAC pseudonyms (RFC 2104 in its
ipad/opad form over `sha2`, the same value DuckDB's `privacy.hmac_sql` gives) and the
projection, sorted in source order (file, then row). It writes that stage as Parquet into the
extract's private directory; DuckDB then reads the stage and applies everything else exactly as
for a DuckDB plan (output names, formula escaping, the writers, checksum, bundle), so the two
engines' files hold the same rows and values (tests/transactions/test_extracts_spark.py).

What compiles: records offers without treatments whose identifier columns are text or
integers (their text form is the same in both engines). Treated offers (sampling, coarsening,
suppression) and aggregates stay on DuckDB: their sampling and cell-key noise use DuckDB's
`hash()`, which Spark has no equal of (`compilable` says why not).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from django.conf import settings

from catalog import privacy
from catalog.ingestion.sql import literal
from catalog.policy import OfferPolicy

STAGE_VIEW = "spark_stage"
# The identifiers' types whose text form (HMAC input) Spark and DuckDB write alike.
_HASHABLE = ("string", "integer")


class NotCompilable(Exception):
    """This plan has no Spark form (the reason is the message)."""


def enabled() -> bool:
    return bool(settings.SPARK_REMOTE)


def reachable(timeout: float = 3.0) -> bool:
    """Whether the Spark Connect server answers on its port (checked before an extract is sent
    there: one that does not is built on DuckDB instead of failing)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(settings.SPARK_REMOTE.replace("sc://", "http://", 1))
    try:
        socket.create_connection((where.hostname, where.port or 15002), timeout=timeout).close()
    except OSError:
        return False
    return True


def _q(name: str) -> str:
    """A Spark SQL identifier (backquoted)."""
    return "`" + name.replace("`", "``") + "`"


def compilable(columns: dict[str, privacy.Column], policy: OfferPolicy, scope: dict) -> str | None:
    """Why this extract cannot run on Spark, or None when it can."""
    if policy.kind != "records":
        return "aggregates are protected over the whole table with DuckDB's hash-based noise"
    if policy.treatments.any:
        return "treated records (sampling, coarsening, suppression) use DuckDB's hash()"
    names = scope.get("fields") or policy.fields
    for name in names:
        column = columns.get(name)
        if column and column.sensitivity == privacy.IDENTIFIER and column.type not in _HASHABLE:
            return f"the identifier {name} is {column.type}; its text form differs between engines"
        if name.startswith("__source_"):
            return "a column's name is one of the engine's hidden order columns"
    return None


def _hmac(column_sql: str) -> str:
    """`privacy.hmac_sql` in Spark SQL, the pads bound as :outer and :inner (hex)."""
    text = f"encode(CAST({column_sql} AS STRING), 'UTF-8')"
    return f"sha2(concat(unhex(:outer), unhex(sha2(concat(unhex(:inner), {text}), 256))), 256)"


def _filters(columns, policy: OfferPolicy, scope: dict) -> tuple[list[str], dict]:
    """The records plan's WHERE in Spark SQL with named parameters (privacy._filters' rules)."""
    where, args = [], {}
    regions = scope.get("regions") or []
    if regions:
        region = policy.region_field
        target = _q(region) if columns[region].type == "string" else f"CAST({_q(region)} AS STRING)"
        names = [f"r{i}" for i in range(len(regions))]
        where.append(f"{target} IN ({', '.join(':' + n for n in names)})")
        args.update({n: str(r) for n, r in zip(names, regions, strict=True)})
    date_from = privacy._day(scope.get("date_from"), "date_from")
    date_to = privacy._day(scope.get("date_to"), "date_to")
    if date_from:
        where.append(f"{_q(policy.date_field)} >= CAST(:date_from AS DATE)")
        args["date_from"] = date_from.isoformat()
    if date_to:
        where.append(f"{_q(policy.date_field)} < date_add(CAST(:date_to AS DATE), 1)")
        args["date_to"] = date_to.isoformat()
    return where, args


def stage_sql(plan: privacy.Plan, columns, policy: OfferPolicy, scope: dict) -> tuple[str, dict]:
    """The Spark statement over the view `source` giving the plan's columns (identifiers
    pseudonymized) and the hidden order columns, and its arguments (the pads as placeholders
    `{"key_pad": …}`, bound when it runs)."""
    select = []
    for name in plan.columns:
        if columns[name].sensitivity == privacy.IDENTIFIER:
            select.append(f"{_hmac(_q(name))} AS {_q(name)}")
        else:
            select.append(_q(name))
    select += ["__source_file", "__source_row"]
    where, args = _filters(columns, policy, scope)
    sql = f"SELECT {', '.join(select)} FROM source"  # noqa: S608 - names quoted, values bound
    if where:
        sql += " WHERE " + " AND ".join(where)
    if any(columns[n].sensitivity == privacy.IDENTIFIER for n in plan.columns):
        args.update({"outer": {"key_pad": "outer"}, "inner": {"key_pad": "inner"}})
    return sql, args


class SparkStageError(Exception):
    """The Spark stage failed (the message holds no key material)."""


def _stage(spark, step: dict, args: dict, out: Path) -> None:
    # Explicit files, no partition discovery: `period=…/` directories are not columns (as
    # DuckDB reads them with hive_partitioning = false). The source order (the file, the row in
    # it) comes from the scan's metadata, named as the DuckDB plan names its hidden columns.
    reader = spark.read.option("recursiveFileLookup", "true")
    source = reader.parquet(*[f"file://{f}" for f in step["files"]]).select(
        "*", "_metadata.file_path", "_metadata.row_index"
    )
    source = source.withColumnsRenamed({"file_path": "__source_file", "row_index": "__source_row"})
    source.createOrReplaceTempView("source")
    staged = spark.sql(step["sql"], args=args).orderBy("__source_file", "__source_row")
    staged.write.mode("overwrite").parquet(f"file://{out}")


def session():
    """A Spark Connect session whose client gives up on a lost server within about a minute
    (pyspark's default retries for ten minutes; the task's own retries take over instead)."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.client.retries import DefaultPolicy

    # A session of its own for each stage, on the server named now (getOrCreate would hand back
    # a session on whichever server an earlier stage used).
    spark = SparkSession.builder.remote(settings.SPARK_REMOTE).create()
    retries = DefaultPolicy(
        max_retries=settings.SPARK_CONNECT_RETRIES, initial_backoff=500, max_backoff=15_000
    )
    spark.client.set_retry_policies([retries])
    return spark


def _failure(exc: Exception, args: dict) -> Exception:
    """What to raise for a failed stage: a connection error (an OSError, which the task retries
    with backoff) when the server went away, else SparkStageError with the message stripped of
    the bound values long enough to be key material (Spark prints its plans with them)."""
    if not reachable():
        return ConnectionError("The Spark Connect server does not answer.")
    text = str(exc)
    for value in args.values():
        if len(str(value)) >= 64:
            text = text.replace(str(value), "<bound>")
    return SparkStageError(f"{type(exc).__name__}: {text[:2000]}")


def run_stage(con, step: dict, args: dict, job_dir: Path) -> None:
    """Run a Spark stage (`step`: its statement and files) and make its output the DuckDB view
    STAGE_VIEW on `con`, rows in source order. `args` are the statement's bound values."""
    out = Path(job_dir) / "spark-stage"
    shutil.rmtree(out, ignore_errors=True)
    spark, failure = None, None
    try:
        spark = session()
        _stage(spark, step, args, out)
    except Exception as exc:
        failure = _failure(exc, args)
    finally:
        if spark is not None:
            with contextlib.suppress(Exception):  # a server already gone cannot release it
                spark.stop()
    if failure is not None:
        raise failure  # outside the handler: the original error, pads and all, is not chained
    parts = sorted(str(p) for p in out.glob("part-*.parquet"))
    if not parts:  # Spark writes one typed file even for no rows (an empty scope is tested)
        raise SparkStageError("Spark wrote no stage file.")
    listed = "[" + ", ".join(literal(p) for p in parts) + "]"
    # The stage's own file names, quoted as literals (a view takes no parameters).
    con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGE_VIEW} AS SELECT * FROM read_parquet({listed})")  # noqa: S608

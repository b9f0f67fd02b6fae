"""Extracts on Apache Spark through Spark Connect (`SPARK_REMOTE=sc://…`), for scans too large
for one DuckDB worker (issue 16).

Spark runs the records plan itself, compiled from the same builder as DuckDB's
(`privacy.records_sql` with `SparkDialect`): reading the partition files the scope touches, the
bound filters (date window, regions), the per-license sample, the treatments (times cut, amounts
rounded and top-coded, pseudonyms renewed per period, local and trajectory suppression) and the
per-license HMAC pseudonyms (RFC 2104 in its ipad/opad form over `sha2`, the same value DuckDB's
`privacy.hmac_sql` gives), sorted in source order (file, then row). It writes that stage as
Parquet into the extract's private directory; DuckDB then reads the stage and applies everything
else exactly as for a DuckDB plan (output names, formula escaping, the writers, checksum,
bundle), so the two engines' files hold the same rows and values
(tests/transactions/test_extracts_spark.py).

Aggregate offers: Spark reads every record of the version and sums it up into per-cell
statistics (`privacy.stats_statement`: counts, distinct subjects and contributors, the cell key
as the XOR of HMAC record keys, exact sums, the two largest net contributions per contributor
and per subject); DuckDB builds the protected table from that stage exactly as from its own
(k, p% and dominance rules, secondary suppression, cell-key noise), so both engines release the
same cells and values.

What compiles: records offers, treated or not, whose identifier columns are text or integers
(their text form is the same in both engines); aggregate offers on versions with a keyed noise
seed (`privacy.KEYED_NOISE`: every dataset made since seeds were keyed) whose subject is text or
integers. Versions released before keep DuckDB's `hash()` record keys, which Spark has no equal
of, and stay on DuckDB (`compilable` says why not).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from catalog import privacy
from catalog.ingestion.sql import literal
from catalog.policy import OfferPolicy

STAGE_VIEW = "spark_stage"
# The work directories of risk measurements on Spark, in WORK_DIR (a killed worker's are swept).
RISK_WORK_PREFIX = "risk-spark-"
# The identifiers' types whose text form (HMAC input) Spark and DuckDB write alike.
_HASHABLE = ("string", "integer")


class NotCompilable(Exception):
    """This plan has no Spark form (the reason is the message)."""


def enabled() -> bool:
    return bool(settings.SPARK_REMOTE)


def scan_is_large(files: str | list[str]) -> bool:
    """Whether Spark is configured and `files` hold at least SPARK_MIN_SCAN_BYTES: a scan for
    Spark rather than one DuckDB worker (when the plan compiles for it)."""
    if not enabled():
        return False
    return sum(os.path.getsize(f) for f in privacy.source_files(files)) >= settings.SPARK_MIN_SCAN_BYTES


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


def compilable(
    columns: dict[str, privacy.Column], policy: OfferPolicy, scope: dict, noise_seed: str = ""
) -> str | None:
    """Why this extract cannot run on Spark, or None when it can."""
    if policy.is_aggregate:
        if not noise_seed.startswith(privacy.KEYED_NOISE):
            return "this version's noise is drawn with DuckDB's hash() (released before keyed seeds)"
        subject = columns.get(policy.subject_field)
        if subject and subject.type not in _HASHABLE:
            return f"the subject {subject.name} is {subject.type}; its text form differs between engines"
        return None
    names = scope.get("fields") or policy.fields
    for name in names:
        column = columns.get(name)
        if column and policy.treatments.samples and policy.sample_by == "values" and column.type == "number":
            return f"the sample draws from {name}'s text, which differs between engines for numbers"
        if column and column.sensitivity == privacy.IDENTIFIER and column.type not in _HASHABLE:
            return f"the identifier {name} is {column.type}; its text form differs between engines"
        if name.startswith("__source_"):
            return "a column's name is one of the engine's hidden order columns"
    return None


class SparkDialect(privacy.Dialect):
    """Records plans (catalog.privacy.records_sql) and aggregates' per-cell statistics
    (privacy.stats_statement) in Spark SQL over the view `source`: the scan of the plan's files
    with `__source_file` (the file's place in the list) and `__source_row` (the row's place in
    its file), DuckDB's file_index and file_row_number.

    What a delivered value is made of is spelled to give DuckDB's exact value: the HMAC
    (RFC 2104 in its ipad/opad form over `sha2`), a sample's draw (an HMAC of the row's values or place),
    times cut with `date_trunc`, amounts rounded half away from zero. The trajectory
    signature only tells equal trajectories from different ones, so its hash may differ (64-bit
    xxhash64 sums, as decimals: Spark's ANSI mode refuses an overflowing sum)."""

    text = "STRING"

    def q(self, name: str) -> str:
        return _q(self.checked(name))

    def hmac(self, text_sql: str, key: bytes, *, license_key: bool = True) -> str:
        if license_key:  # bound from the license when the stage runs (the recipe holds none)
            outer, inner = self.bind({privacy.KEY_PAD: "outer"}), self.bind({privacy.KEY_PAD: "inner"})
        else:
            inner_pad, outer_pad = privacy.hmac_pads(key)
            outer, inner = self.bind(outer_pad), self.bind(inner_pad)
        text = f"encode(CAST({text_sql} AS STRING), 'UTF-8')"
        return f"sha2(concat(unhex({outer}), unhex(sha2(concat(unhex({inner}), {text}), 256))), 256)"

    def hex_number(self, hex_sql: str) -> str:
        return f"CAST(conv(substr({hex_sql}, 1, 8), 16, 10) AS BIGINT)"

    def signature(self, tup: str) -> str:
        def total(text: str) -> str:
            return f"CAST(sum(CAST(xxhash64({text}) AS DECIMAL(20, 0))) AS STRING)"

        return f"CAST(count(*) AS STRING) || ':' || {total(tup)} || ':' || {total(tup + ' || chr(28)')}"

    def truncated(self, unit: str, expr: str, *, to_date: bool) -> str:
        cut = f"date_trunc({self.bind(unit)}, {expr})"
        return f"CAST({cut} AS DATE)" if to_date else f"CAST({cut} AS TIMESTAMP_NTZ)"

    def scan(self, parquet) -> str:
        return "source"

    def hash(self, *columns: str) -> str:
        return f"xxhash64({', '.join(columns)})"

    def record_key(self, hex_sql: str) -> str:
        return f"CAST(conv(substr({hex_sql}, 1, 16), 16, -10) AS BIGINT)"  # the same 64 bits, signed

    def cell_key(self, record_key: str) -> str:
        xor = f"bit_xor({record_key})"
        unsigned = f"CAST({xor} AS DECIMAL(20, 0))"
        return f"CAST(CASE WHEN {xor} < 0 THEN {unsigned} + {2**64} ELSE {unsigned} END AS DECIMAL(20, 0))"

    def top_two(self, column: str) -> str:
        return f"slice(sort_array(collect_list({column}), false), 1, 2)"

    def source(self, virtual: str) -> str:
        return _SOURCE_COLUMNS[virtual]

    def named(self, text: str) -> tuple[str, dict]:
        """`text` with a named parameter `:pN` for each marker, and their values."""
        args: dict = {}

        def parameter(match) -> str:
            name = f"p{match.group(1)}"
            args[name] = self.values[int(match.group(1))]
            return f":{name}"

        return privacy._MARKER.sub(parameter, text), args


_SOURCE_COLUMNS = {privacy.SOURCE_FILE_INDEX: "__source_file", privacy.SOURCE_ROW_COLUMN: "__source_row"}


def aggregate_stage_sql(parquet, schema: list, policy: OfferPolicy, noise_seed: str) -> tuple[str, dict]:
    """The Spark statement over the view `source` giving an aggregate's per-cell statistics
    (`privacy.stats_statement`), and its arguments (the noise key's pads)."""
    dialect = SparkDialect()
    return dialect.named(privacy.stats_statement(parquet, schema, policy, noise_seed, dialect))


def stage_sql(parquet, columns, policy: OfferPolicy, scope: dict, key: bytes) -> tuple[str, dict, list[str]]:
    """The Spark statement over the view `source` giving the records plan of `parquet` (the
    value DuckDB's plan was made for: one path or the list of partition files), its arguments
    (the pads as placeholders `{"key_pad": …}`, bound when it runs) and the order its rows go in."""
    dialect = SparkDialect()
    records = privacy.records_sql(parquet, columns, policy, scope, key, dialect)
    sql, args = dialect.named(records.body)
    return sql, args, records.order_by


class SparkStageError(Exception):
    """The Spark stage failed (the message holds no key material)."""


_SCHEME = "^file:/+"  # `file:/a`, `file:///a`: Spark spells one file both ways


def _source(spark, files: list[str]):
    """The files' rows with `__source_file` (the file's place in `files`) and `__source_row`.

    Explicit files, no partition discovery: `period=…/` directories are not columns (as DuckDB
    reads them with hive_partitioning = false). Spark names each file by a URI of its own
    spelling (`a%20b` for `a b`); the files' places are joined on those names as the scan lists
    them, the scheme's slashes aside."""
    import re
    from urllib.parse import unquote

    from pyspark.sql import functions as F

    reader = spark.read.option("recursiveFileLookup", "true")
    frame = reader.parquet(*[f"file://{f}" for f in files])
    listed = [re.sub(_SCHEME, "/", uri) for uri in frame.inputFiles()]
    spelled = {unquote(name): name for name in listed}
    missing = [f for f in files if f not in spelled]
    if missing:
        raise SparkStageError(f"Spark does not list {len(missing)} of the files, e.g. {missing[0]}")
    places = spark.createDataFrame(
        [(spelled[f], i) for i, f in enumerate(files)], "__uri string, __source_file bigint"
    )
    uri = F.regexp_replace(F.col("_metadata.file_path"), _SCHEME, "/")
    rows = frame.select("*", uri.alias("__uri"), F.col("_metadata.row_index").alias("__source_row"))
    return rows.join(F.broadcast(places), "__uri").drop("__uri")


def _stage(spark, step: dict, args: dict, out: Path) -> None:
    _source(spark, step["files"]).createOrReplaceTempView("source")
    staged = spark.sql(step["sql"], args=args)
    # A records stage goes in source order (recipes from before the order was recorded: file,
    # then row); an aggregate's statistics in none (the rules number the cells).
    order_by = step.get("order_by", ["__source_file", "__source_row"])
    if order_by:
        staged = staged.orderBy(*order_by)
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
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # times cut as DuckDB cuts them
    return spark


def stop(spark) -> None:
    """Stop a session of `session()` and keep it from closing its client a second time.

    pyspark 4.0 shuts down the thread pool that every session of the process shares for its
    release calls whenever a client closes, and a session closes its client again when it is
    garbage-collected: at any moment, maybe in the middle of a later session's job, which then
    fails with "cannot schedule new futures after shutdown" (seen once in this project's tests;
    SPARK-55406, fixed in a later pyspark). So a stopped session's client is closed here, once."""
    with contextlib.suppress(Exception):  # a server already gone cannot release it
        spark.stop()
    spark.client.close = lambda: None


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
            stop(spark)
    if failure is not None:
        raise failure  # outside the handler: the original error, pads and all, is not chained
    parts = sorted(str(p) for p in out.glob("part-*.parquet"))
    if not parts:  # Spark writes one typed file even for no rows (an empty scope is tested)
        raise SparkStageError("Spark wrote no stage file.")
    listed = "[" + ", ".join(literal(p) for p in parts) + "]"
    # The stage's own file names, quoted as literals (a view takes no parameters).
    con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGE_VIEW} AS SELECT * FROM read_parquet({listed})")  # noqa: S608


# Risk reports of record offers over versions too large for one worker -----------------------


class SparkTables:
    """catalog.risk's measures on Spark: the tables are temp views of the session, cached
    (memory, then disk) when made from a query; the SQL is spelled with SparkDialect."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self.d = SparkDialect()

    def create(self, name: str, select: str) -> None:
        self.spark.sql(f"CACHE TABLE {name} AS {select}")

    def one(self, sql: str) -> tuple:
        return tuple(self.spark.sql(sql).collect()[0])

    def drop(self, name: str) -> None:
        self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
        self.spark.sql(f"DROP VIEW IF EXISTS {name}")


class _Meter:
    """A Spark Connect progress handler that reports an operation's completed tasks to
    `progress` (risk_reports.report_for's), scaled into the current span [lo, hi]. The server
    sends progress every few seconds while an operation runs, so a long measurement keeps its
    heartbeat. What `progress` raises (the offer no longer owes the report) is kept in
    `stopped` and stops the measurement."""

    def __init__(self, progress) -> None:
        self.progress, self.lo, self.hi, self.stopped = progress, 0.0, 0.0, None

    def span(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.report(lo)

    def __call__(self, *, stages, inflight_tasks, operation_id, done) -> None:
        stages = list(stages or [])
        total = sum(s.num_tasks for s in stages)
        share = sum(s.num_completed_tasks for s in stages) / total if total else 0.0
        self.report(self.lo + (self.hi - self.lo) * share)

    def report(self, fraction: float) -> None:
        if self.progress is None or self.stopped is not None:
            return
        try:
            self.progress(fraction)
        except Exception as exc:
            self.stopped = exc
            raise


def _assessment_stage(parquet, columns: dict, policy: OfferPolicy, key: bytes) -> tuple[str, dict]:
    """The Spark statement of catalog.risk's assessment plan under stand-in license `key`, and
    its arguments with the key's pads bound (the stand-in keys are not secrets)."""
    sql, args, _order = stage_sql(parquet, columns, policy, {}, key)
    return sql, dict(zip(args, privacy.pads_bound(list(args.values()), key), strict=True))


def _shuffle_partitions(files: list[str]) -> int:
    """The measures' shuffle partitions, from the size of the scan: one per 4 MiB of Parquet,
    from 8 to 20,000. The treated copies hold about ten times their compressed source in
    memory (64-character pseudonyms), so a partition is some 40 MB to sort or aggregate; one
    per 32 MiB ran a local[2] server with 1 GB out of heap at 20 M rows. Spark's fixed 200 cost
    about 20 s of task overhead per report on a small version (a dozen shuffles of 200 tasks
    each on two cores); adaptive execution still merges small partitions."""
    size = sum(os.path.getsize(f) for f in files)
    return max(8, min(20_000, -(-size // (4 * 2**20))))


def risk_report(parquet: str | list[str], schema: list, policy: OfferPolicy, *, seed: int = 0, progress=None):
    """The risk report of record-level `policy` over `parquet` (catalog.risk.assess_policy), with
    the work on Spark: the two assessment copies are written as Parquet into a work directory of
    their own and the measures run as Spark SQL over them. `parquet` is one file or a
    partitioned version's files, as DuckDB's plans take it (a sample by position draws from the
    file's place only when there are several), so the report is DuckDB's
    (tests/catalog/test_risk_spark.py). `progress` as assess_policy takes it; what it raises
    stops the Spark operation and is raised again. Raises SparkStageError when Spark fails, or
    ConnectionError when the server went away."""
    from catalog import risk

    columns = {c.name: c for c in schema}
    reason = compilable(columns, policy, {})
    if reason:
        raise privacy.PlanError(f"this measurement cannot run on Spark: {reason}")
    files = privacy.source_files(parquet)
    plans = risk.assessment_plans(parquet, schema, policy)  # the outputs' columns and types (roles)
    stages = [_assessment_stage(parquet, columns, policy, key) for key in risk.ASSESSMENT_KEYS]
    Path(settings.WORK_DIR).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=RISK_WORK_PREFIX, dir=settings.WORK_DIR))
    spark, meter, failure = None, _Meter(progress), None
    try:
        spark = session()
        spark.conf.set("spark.sql.shuffle.partitions", str(_shuffle_partitions(files)))
        spark.registerProgressHandler(meter)
        _source(spark, files).createOrReplaceTempView("source")

        def copy(name: str, which: int, lo: float, hi: float) -> None:
            meter.span(lo, hi)
            sql, args = stages[which]
            spark.sql(sql, args=args).write.mode("overwrite").parquet(f"file://{work / name}")
            spark.read.parquet(f"file://{work / name}").createOrReplaceTempView(name)
            meter.span(hi, hi)

        r = risk.roles(plans[0], schema, policy)
        report = risk.measure_policy(SparkTables(spark), r, copy, seed=seed, progress=meter.report)
    except Exception as exc:
        failure = meter.stopped or _failure(exc, {})
        if meter.stopped is not None and spark is not None:
            with contextlib.suppress(Exception):
                spark.interruptAll()  # stop what still runs for a report nobody is owed
    finally:
        if spark is not None:
            stop(spark)
        shutil.rmtree(work, ignore_errors=True)
    if failure is not None:
        raise failure
    return report

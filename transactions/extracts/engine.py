"""Build one license's extract: a recipe (one SQL statement) and a run that writes the file.

`build_recipe` turns a license scope into everything needed to rebuild the same file byte for
byte: the statement of `catalog.privacy.plan` wrapped for the output format (formula
neutralisation for CSV/XLSX, a stable row order), its parameters, the source's sha256 and the
engine version. `run_extract` runs it with DuckDB into a private directory under `work_dir`,
fsyncs and checksums the file and moves it to `out_path` in one rename, so nothing partial is
ever visible there. No Django here: the task that calls this keeps the job's state.

Row order is part of the recipe. Aggregates are ordered by their dimensions in the outermost
ORDER BY; record extracts over a glob of files by (file, source row), and to Parquet by the
source row. Record extracts over one file to the other formats need no sort: a records
statement is one streaming pipeline (scan, filter, project), and with
`preserve_insertion_order` on DuckDB hands its rows to the writer in the file's order. The one
thing that broke that order in DuckDB 2.0.1 is the `in_clause` optimizer, which rewrites a
region IN list into a hash join (cf. duckdb/duckdb#24398: every run wrote another order), so
the run of such an unsorted statement disables that optimizer (`Recipe.scan_order`); a sorted
one keeps it, since without it a treated records statement took half again as long. Sorting
4.5 M rows by `file_row_number` cost about a quarter of the statement's CPU (issue 18). Parquet
keeps the sort: DuckDB's Parquet writer cuts row groups from the batches it is handed, and only
the sorted rows come in the same batches on every run; then it cuts the same row groups
whatever the thread count, and Parquet output is byte-stable like the text formats.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from catalog import privacy, released_cache, spark
from catalog.ingestion.sql import ident
from marketplace.duckdb import PROGRESS_SETTINGS, execute_reporting
from transactions.extracts import writers
from transactions.extracts.writers import FORMATS, ExtractError, ExtractTooLarge

RECIPE_VERSION = 2  # 2: one-file record extracts rely on the scan's order, not an ORDER BY
# The order keys `catalog.privacy` gives a one-file records plan: the rows' order in the file,
# which the run keeps without sorting when the plan reads the file straight through
# (Plan.file_order; a treated plan's window functions regroup the rows).
FILE_ORDER = ["__source_row"]
# Formats whose bytes depend on the rows' order only. DuckDB's Parquet writer cuts row groups
# from the batches it is handed, and a filtered scan's batches differ from run to run (20 M
# rows: three runs, three files), so Parquet keeps the sort, which hands over the same batches.
UNSORTED_FORMATS = ("csv", "csv_bom", "jsonl", "xlsx")
POLL_SECONDS = 0.1
# DuckDB errors that running the same recipe again cannot cure (the data does not match the
# recipe): reported as ExtractError. Others (I/O, out of memory, interrupts) propagate, for the
# task to retry.
PERMANENT_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ParserException,
)


def _engine_version() -> str:
    try:
        openpyxl = importlib.metadata.version("openpyxl")
    except importlib.metadata.PackageNotFoundError:
        openpyxl = "absent"
    return f"jangteo-extracts/{RECIPE_VERSION} duckdb/{duckdb.__version__} openpyxl/{openpyxl}"


ENGINE_VERSION = _engine_version()


@dataclass(frozen=True)
class OutputField:
    name: str
    type: str  # catalog type: string, integer, number, boolean, date, datetime


# Where a recipe's parameter is key material, it holds privacy.KEY_PAD's placeholder instead: the
# HMAC pads are derived from the license key when the recipe runs (`Recipe.bind`), so a stored
# recipe (and every manifest, log or backup holding one) carries no key material.
KEY_PAD = privacy.KEY_PAD
_is_pad = privacy.is_pad


def _bind_pads(values: list, key: bytes | None) -> list:
    """`values` with each pad placeholder replaced by `key`'s HMAC pad. Raises ExtractError
    when a placeholder is there and no key is given."""
    if not any(_is_pad(v) for v in values):
        return list(values)
    if not key:
        raise ExtractError("This recipe pseudonymizes identifiers and needs its license key.")
    return privacy.pads_bound(values, key)


def _placeholders(params: list, key: bytes | None) -> list:
    """`params` with the HMAC pads of `key` replaced by `{"key_pad": "inner"|"outer"}`."""
    if not key:
        return list(params)
    inner, outer = privacy.hmac_pads(key)
    pads = {inner: {KEY_PAD: "inner"}, outer: {KEY_PAD: "outer"}}
    return [pads.get(p, p) if isinstance(p, str) else p for p in params]


@dataclass(frozen=True)
class Recipe:
    """Everything needed to rebuild the same file byte for byte (same source Parquet, same
    engine version, same license key). `params` hold no key material: where the statement binds
    the license key's HMAC pads they hold a placeholder, and `bind(key)` derives the pads when
    the recipe runs. `summary()` (no parameters) goes in manifests and logs."""

    sql: str
    params: list
    columns: list[str]
    format: str
    source_sha256: str
    engine_version: str
    types: list[str] = field(default_factory=list)
    # Statements run first on the same connection (an aggregate's protected table).
    setup: list[dict] = field(default_factory=list)
    # The protected table `setup` builds, with the files it reads (an aggregate's; see
    # catalog.released_cache): {"table": name, "files": [paths]}, else empty.
    released: dict = field(default_factory=dict)
    # The statement has no ORDER BY and relies on the scan's order (a one-file records plan read
    # straight through), so the run turns DuckDB's in_clause optimizer off. A sorted statement
    # keeps the optimizer: off, it cost a treated records extract a third of its time (issue
    # 18). True for recipes stored before the field existed: they were all run with it off.
    scan_order: bool = True

    def needs_key(self) -> bool:
        stage_args = [v for step in self.setup for v in (step.get("args") or {}).values()]
        return any(_is_pad(p) for p in [*self.params, *stage_args])

    def bind(self, key: bytes | None) -> list:
        """The statement's parameters with the placeholders replaced by `key`'s HMAC pads.
        Raises ExtractError when the recipe needs a key and none is given."""
        return _bind_pads(self.params, key)

    def output_fields(self) -> list[OutputField]:
        return [OutputField(n, t) for n, t in zip(self.columns, self.types or ["string"] * len(self.columns))]

    def to_dict(self) -> dict:
        """JSON-ready; `Recipe.from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def summary(self) -> dict:
        return {
            "format": self.format,
            "columns": list(self.columns),
            "source_sha256": self.source_sha256,
            "engine_version": self.engine_version,
        }


@dataclass(frozen=True)
class ExtractResult:
    rows: int
    bytes: int
    sha256: str
    path: Path


def _output_columns(plan, labels: dict, format: str) -> tuple[list[str], list[str]]:
    """The SELECT list over the plan's body and the output names: headers (titles or names),
    amounts rounded to two decimals in aggregates, and text that could run as a formula
    neutralised where the format needs it."""
    neutralise = FORMATS[format].neutralise_formulas
    xlsx = format == "xlsx"
    select, names = [], []
    headers = _headers(plan.columns, labels)
    aggregate = bool(plan.setup)
    types = list(plan.types) or ["string"] * len(plan.columns)
    for name, header, type_ in zip(plan.columns, headers, types, strict=False):
        expr, out = f"extract.{ident(name)}", header
        if aggregate and type_ == "number" and name.startswith(ROUNDED_MEASURES):
            # Sums and averages of amounts carry noise and float error: two decimals are
            # what a reader uses (2406666.67, not 2406666.6666666665).
            expr = f"round({expr}, 2)"
        if neutralise:
            out = writers.neutralise_text(header, xlsx=xlsx)
            if name in plan.text_columns:
                expr = writers.neutralise_sql(expr, xlsx=xlsx)
        select.append(f"{expr} AS {ident(out)}")
        names.append(out)
    return select, names


def build_recipe(
    *,
    parquet: str | list[str],
    source_sha256: str,
    schema: list[privacy.Column],
    policy: privacy.OfferPolicy,
    scope: dict,
    key: bytes,
    format: str,
    noise_seed: str = "",
    labels: dict[str, str] | None = None,
    spark_files: list[str] | None = None,
) -> Recipe:
    """The recipe for `scope` of `offer` over `parquet` in `format` (csv, csv_bom, parquet,
    jsonl, xlsx). Pure: reads no data. Raises privacy.PlanError for a scope that delivers
    nothing or is malformed, ExtractError for an unknown format, ExtractTooLarge when XLSX
    cannot hold the columns. With `spark_files` (the local paths of the files to scan) the
    scan, filters and pseudonyms run on Spark (catalog.spark) and the rest as usual; raises
    privacy.PlanError when the plan has no Spark form."""
    if format not in FORMATS:
        raise ExtractError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "xlsx":
        writers.require_openpyxl()
    plan = privacy.plan(
        parquet=parquet, schema=schema, policy=policy, scope=scope, key=key, noise_seed=noise_seed
    )
    if spark_files is not None:
        plan = _on_spark(plan, parquet, schema, policy, scope, key, noise_seed, spark_files)
    if format == "xlsx" and len(plan.columns) > writers.XLSX_MAX_COLUMNS:
        raise ExtractTooLarge(
            f"An Excel sheet holds at most {writers.XLSX_MAX_COLUMNS:,} columns and this extract has "
            f"{len(plan.columns):,}; choose CSV or Parquet."
        )
    select, names = _output_columns(plan, labels or {}, format)
    if len(set(names)) != len(names):
        raise ExtractError("two output columns would have the same name")
    # Column names are schema-checked and quoted; every value is a bound parameter.
    sql = f"SELECT {', '.join(select)} FROM ({plan.body}) AS extract"  # noqa: S608
    scan_order = plan.file_order and plan.order_by == FILE_ORDER and format in UNSORTED_FORMATS
    if plan.order_by and not scan_order:
        sql += " ORDER BY " + ", ".join(f"extract.{ident(c)}" for c in plan.order_by)
    return Recipe(
        sql=sql,
        params=_placeholders(plan.params, key),
        columns=names,
        format=format,
        source_sha256=source_sha256,
        engine_version=ENGINE_VERSION,
        types=list(plan.types),
        setup=list(plan.setup),
        released={"table": plan.released, "files": privacy.source_files(parquet)} if plan.released else {},
        scan_order=scan_order,
    )


def _on_spark(plan, parquet, schema, policy, scope: dict, key: bytes, noise_seed: str, files: list[str]):
    """The plan with the part that reads every record moved into a Spark stage over `files`:
    a records plan's statement, whose stage the body then reads; an aggregate's per-cell
    statistics, from which the protected table is built as usual. Columns, types, text columns
    and order stay the same."""
    columns = {c.name: c for c in schema}
    reason = spark.compilable(columns, policy, scope, noise_seed)
    if reason:
        raise privacy.PlanError(f"this extract cannot run on Spark: {reason}")
    if policy.is_aggregate:
        sql, args = spark.aggregate_stage_sql(parquet, schema, policy, noise_seed)
        step = {"engine": "spark", "sql": sql, "args": args, "files": list(files), "order_by": []}
        released = privacy.released_table(
            parquet=parquet, schema=schema, policy=policy, noise_seed=noise_seed, stats=spark.STAGE_VIEW
        )
        return dataclasses.replace(plan, setup=[step, *released.setup])
    sql, args, order_by = spark.stage_sql(parquet, columns, policy, scope, key)
    step = {"engine": "spark", "sql": sql, "args": args, "files": list(files), "order_by": order_by}
    body = f"SELECT * FROM {spark.STAGE_VIEW}"  # noqa: S608 - a constant name
    return dataclasses.replace(plan, body=body, params=[], setup=[step])


def _run_setup(con, steps: list[dict], key: bytes | None, job: Path) -> None:
    """A recipe's setup: DuckDB statements, or a Spark stage (its pads bound from `key`)."""
    for step in steps:
        if step.get("engine") == "spark":
            names, values = list(step["args"]), list(step["args"].values())
            args = dict(zip(names, _bind_pads(values, key), strict=True))
            spark.run_stage(con, step, args, job)
        else:
            privacy.run_setup(con, [step])


def _prepare(con, recipe: Recipe, key: bytes | None, job: Path) -> str:
    """Run the recipe's setup, or read the protected table it builds from the cache
    (catalog.released_cache): an aggregate's table is the same for every license of the offer,
    unless the setup needs this license's key."""
    released = recipe.released or {}
    return released_cache.prepare(
        con,
        table="" if recipe.needs_key() else released.get("table", ""),
        setup=recipe.setup,
        files=released.get("files") or [],
        build=lambda: _run_setup(con, recipe.setup, key, job),
    )


ROUNDED_MEASURES = ("avg_", "sum_")

# Aggregate outputs are named "<function>_<column>" and "records" (catalog.policy).
_AGGREGATE_WORDS = {"sum": "합계", "avg": "평균", "min": "최솟값", "max": "최댓값", "count": "건수"}


def header_labels(fields) -> dict[str, str]:
    """Korean headers for an extract: each column's title (its name where it has none), and
    "업종 합계"-style headers for aggregate measures."""
    labels = {"records": "건수"}
    for f in fields:  # anything with .name and .title (catalog Fields)
        title = f.title or f.name
        labels[f.name] = title
        for agg, word in _AGGREGATE_WORDS.items():
            labels[f"{agg}_{f.name}"] = f"{title} {word}"
    return labels


def _headers(columns: list[str], labels: dict[str, str]) -> list[str]:
    """Each output column's header: its label where one is given, else its name. A label two
    columns share gets the column name after it, so headers stay unique."""
    wanted = [labels.get(c) or c for c in columns]
    seen: dict[str, int] = {}
    for header in wanted:
        seen[header] = seen.get(header, 0) + 1
    return [h if seen[h] == 1 or h == c else f"{h}({c})" for h, c in zip(wanted, columns, strict=True)]


class _Progress:
    """Calls `progress` with whole percentages that only go up."""

    def __init__(self, progress: Callable[[int], None]):
        self._progress = progress
        self._last = -1

    def __call__(self, fraction: float) -> None:
        pct = max(0, min(100, int(fraction * 100)))
        if pct > self._last:
            self._last = pct
            self._progress(pct)


def _executor(con, report: _Progress) -> writers.Execute:
    """`execute(sql, params, lo, hi)`: run one statement, reporting DuckDB's progress scaled
    into [lo, hi] (marketplace.duckdb.execute_reporting: on the caller's thread, so a callback
    may touch the caller's database connection, and may raise to cancel the statement)."""

    def execute(sql: str, params: list, lo: float, hi: float) -> list:
        return execute_reporting(
            con, sql, params, lambda fraction: report(lo + (hi - lo) * fraction), poll_seconds=POLL_SECONDS
        )

    return execute


def _configure(con, *, scan_order: bool) -> dict:
    """Settings the run needs; returns the previous values to restore on a borrowed connection.
    `scan_order`: the statement relies on the scan's order (Recipe.scan_order)."""
    wanted = {"preserve_insertion_order": "true", **PROGRESS_SETTINGS}
    previous = {}
    for name, value in wanted.items():
        (previous[name],) = con.execute("SELECT current_setting(?)", [name]).fetchone()
        con.execute(f"SET {name} = {value}")
    if not scan_order:
        return previous
    # Keep a records scan in file order (see the module docstring).
    (previous["disabled_optimizers"],) = con.execute(
        "SELECT current_setting('disabled_optimizers')"
    ).fetchone()
    disabled = {o.strip() for o in str(previous["disabled_optimizers"] or "").split(",") if o.strip()}
    con.execute("SET disabled_optimizers = ?", [",".join(sorted(disabled | {"in_clause"}))])
    return previous


def _restore(con, previous: dict) -> None:
    for name, value in previous.items():
        if name == "disabled_optimizers":
            con.execute("SET disabled_optimizers = ?", [value or ""])
            continue
        rendered = ("true" if value else "false") if isinstance(value, bool) else str(int(value))
        con.execute(f"SET {name} = {rendered}")


def run_extract(
    recipe: Recipe,
    *,
    out_path: Path,
    work_dir: Path,
    key: bytes | None = None,
    con=None,
    progress: Callable[[int], None] = lambda pct: None,
) -> ExtractResult:
    """Write `recipe`'s file to `out_path` and return its row count, size and sha256.

    `key` is the license key the recipe was built under (needed when it pseudonymizes
    identifiers: the recipe itself holds no key material).

    The file is built in a private directory under `work_dir`, fsynced, checksummed and moved
    to `out_path` in one rename; on any error (or a `progress` callback that raises, which
    cancels the running statement) the directory is removed and `out_path` is left as it was.
    `con` is a DuckDB connection to borrow (its settings are restored); by default one is made
    with `marketplace.duckdb.connect`, spilling under the private directory. `progress` gets
    whole percentages 0-100, increasing, from DuckDB's query progress (XLSX: the query is 0-50,
    writing the workbook 50-100 by rows). Raises ExtractTooLarge when an XLSX extract has more
    rows than a sheet holds (the message tells the buyer to choose CSV or Parquet), and
    ExtractError when the data no longer fits the recipe (a column gone, a value that will not
    convert); DuckDB's I/O and memory errors propagate unchanged, as retryable.
    """
    if recipe.format not in FORMATS:
        raise ExtractError(f"unknown format {recipe.format!r}")
    params = recipe.bind(key)
    report = _Progress(progress)
    report(0.0)
    with writers.private_dir(Path(work_dir), ".extract-") as job:
        own = con is None
        if own:
            from marketplace.duckdb import connect

            con = connect(temp_directory=job / "spill")
        previous = _configure(con, scan_order=recipe.scan_order)
        try:
            execute = _executor(con, report)
            data = job / f"data{FORMATS[recipe.format].suffix}"
            try:
                _prepare(con, recipe, key, job)
                rows = _write(execute, recipe, params, data, job, report)
            except PERMANENT_ERRORS as exc:
                raise ExtractError(f"The data does not match this extract's recipe: {exc}") from exc
            writers.fsync(data)
            size, digest = writers.sha256_file(data)
            writers.publish(data, Path(out_path))
        finally:
            if own:
                con.close()
            else:
                _restore(con, previous)
    report(1.0)
    return ExtractResult(rows=rows, bytes=size, sha256=digest, path=Path(out_path))


def _bom_in_header(recipe: Recipe) -> str | None:
    """`recipe.sql` with the byte order mark put before its first output column's name, or None
    when that name would be quoted. The first alias is the first ` AS "name"` in the statement:
    the select list comes first and its expressions hold no alias."""
    first = recipe.columns[0] if recipe.columns else ""
    alias = f" AS {ident(first)}"
    at, select_end = recipe.sql.find(alias), recipe.sql.find(" FROM (")
    if not writers.bom_in_header(first) or at < 0 or (select_end >= 0 and at > select_end):
        return None
    marked = f" AS {ident(writers.BOM.decode() + first)}"
    return recipe.sql[:at] + marked + recipe.sql[at + len(alias) :]


def _write(
    execute: writers.Execute, recipe: Recipe, params: list, data: Path, job: Path, report: _Progress
) -> int:
    if recipe.format in ("csv", "parquet", "jsonl"):
        return writers.copy_to(execute, recipe.format, recipe.sql, params, data, 0.0, 0.99)
    if recipe.format == "csv_bom":
        sql = _bom_in_header(recipe)
        if sql is not None:
            # The mark rides in the first header name: DuckDB writes it first, nothing is copied.
            rows = writers.copy_to(execute, "csv", sql, params, data, 0.0, 0.99)
            if writers.starts_with_bom(data):
                return rows
            data.unlink()  # never expected (see writers.bom_in_header): build it the long way
        body = job / "body.csv"
        rows = writers.copy_to(execute, "csv", recipe.sql, params, body, 0.0, 0.95)
        writers.prepend_bom(body, data)
        return rows
    # xlsx: stage as Parquet (bounded memory, a row count before anything is written), then stream.
    staged = job / "staged.parquet"
    limited = f"{recipe.sql} LIMIT {writers.XLSX_MAX_ROWS + 1}"
    rows = writers.copy_to(execute, "parquet", limited, params, staged, 0.0, 0.5)
    if rows > writers.XLSX_MAX_ROWS:
        raise ExtractTooLarge(
            f"An Excel sheet holds at most {writers.XLSX_MAX_ROWS:,} rows and this extract has more; "
            "choose CSV or Parquet."
        )
    writers.write_xlsx(staged, recipe.columns, data, rows=rows, progress=lambda f: report(0.5 + 0.49 * f))
    return rows

"""Files ingested on Apache Spark through Spark Connect (issue 16): a Parquet or CSV file of a
partitioned dataset holding at least SPARK_MIN_SCAN_BYTES is converted and cut into partition
files by Spark, not by one DuckDB worker.

DuckDB still decides the plan. For Parquet, from the file's schema alone (its footer, no data
read): the columns' names (`convert.unique_names`), their types and the partitioning checks are
the ones the DuckDB conversion makes. For CSV, the worker first does what it always does (gzip,
the UTF-8 check or the CP949 transcode, line lengths, the dialect, the header: `ingest_file`,
which hands the prepared `Text` to `ingest_text`), and DuckDB guesses each column's type from
the first rows as its one-pass conversion does. Spark then reads the rows, derives the period
and region keys as `partition.partition_parquet` does and writes zstd Parquet files in the same
Hive-style directories, one file per directory, rows in the upload's order (they are shuffled
by key and sorted back by their place in the file). What the catalog records of each file (rows,
bytes, sha256, date and region ranges) and the profile are then computed from the written files
by the same code as for DuckDB's, so a version ingested either way holds the same rows in the
same files, with the same schema, ranges and profile (tests/catalog/test_ingestion_spark.py,
test_ingestion_spark_csv.py); only the order inside a file differs, as DuckDB's partitioned
writer regroups the rows.

Only flat Parquet columns of the types both engines write alike go to Spark (text, booleans,
integers up to 64 bits, floats, decimals, dates and timestamps without time zone), and only a
region column of text or integers (its key is its text). Only CSV whose records are its lines
goes to Spark (`text_plan`): no carriage return outside "\\r\\n", and for quoted text as many
records, counted by DuckDB, as lines below the header (no quoted line break). Spark's tests of
each type accept at most what DuckDB's accept, and in quoted text a text value that starts with
a quote (where the readers part) is refused too: either stops Spark's job, and so does a record
with a field too many or too few. Spark's count of records must equal the lines below the header
(Spark skips blank lines and lines of blanks), and a column empty in the first rows must stay
empty. Anything else is ingested on DuckDB, logged with the reason: other Parquet types (including
the ones the DuckDB conversion refuses with a message), a file Spark fails on or would read
otherwise than DuckDB, and a Parquet file whose text DuckDB refuses to read once Spark copied it
(DuckDB's conversion then names what is wrong with it).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
from django.conf import settings

from catalog import spark
from catalog.ingestion import IngestionError, IngestResult, convert, detect, partition, profile_files
from catalog.ingestion.ingest import Text
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
_ROW = "__jangteo_row"  # a row's place in the upload (with _BLOCK for CSV), dropped before writing
_BLOCK = "__jangteo_block"
_SESSION_CONF = {
    "spark.sql.caseSensitive": "true",  # columns are named exactly
    # Dates and timestamps are written as they are (proleptic Gregorian, as DuckDB reads them),
    # never rebased to the Julian calendar nor refused before 1582.
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    # Every field of a CSV record is parsed, so a record with too few or too many is refused.
    "spark.sql.csv.parser.columnPruning.enabled": "false",
}


class Ingested(NamedTuple):
    """A file converted and cut into partition files on Spark."""

    result: IngestResult  # parquet_path: the partition files' directory
    parts: list  # partition.PartFile
    profiles: dict


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


def ingest(con, src: Path, work_dir: Path, partitioning: dict, progress) -> Ingested | None:
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
    if not _goes_to_spark(chosen, src.name):
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


def _goes_to_spark(chosen, what: str) -> bool:
    """Whether a file goes to Spark: its plan is not a reason why not (`chosen`) and the server
    answers. Logged either way, the file named as `what`."""
    if isinstance(chosen, str):
        log.info("%s is ingested on DuckDB, not Spark: %s", what, chosen)
        return False
    if not spark.reachable():
        log.warning(
            "Spark Connect at %s does not answer; %s is ingested on DuckDB", settings.SPARK_REMOTE, what
        )
        return False
    return True


def _ingested(con, src: Path, out: Path, chosen: Plan, partitioning: dict, progress) -> Ingested:
    columns = [{"name": n, "type": t} for (_, n), t in zip(chosen.select, chosen.types)]
    keys = partition.key_names(columns)

    def frame(session):
        selected = [f"{_q(original)} AS {_q(name)}" for original, name in chosen.select]
        table = session.read.parquet(f"file://{src}").selectExpr(*selected, f"_metadata.row_index AS {_ROW}")
        return table, [_ROW], None

    _write(out, partitioning, keys, progress, frame)
    return _finished(
        con,
        out,
        partitioning,
        keys,
        chosen.types,
        file_kind="parquet",
        encoding=None,
        dialect={},
        source_bytes=src.stat().st_size,
        source_sha256=detect.sha256_file(src),
    )


def _finished(con, out: Path, partitioning: dict, keys, types: list[str], **source) -> Ingested:
    """What the catalog records of the partition files Spark wrote under `out`, computed by the
    same code as for DuckDB's: the ingestion's result (`source`: what it says of the upload),
    the files and their profile."""
    parts = partition.describe_parts(
        con, out, partitioning["period_column"], partitioning["region_column"], keys
    )
    result = IngestResult(
        parquet_path=out,  # the partition files' directory
        row_count=sum(p.rows for p in parts),
        parquet_bytes=sum(p.bytes for p in parts),
        columns=convert.output_columns(con, parts[0].path, types),
        **source,
    )
    return Ingested(result, parts, profile_files([str(p.path) for p in parts], result.columns, con=con))


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _write(out: Path, partitioning: dict, keys: tuple[str, str], progress, frame) -> dict:
    """Spark writes the table `frame(session)` builds as the partition files under `out`
    (Spark's bookkeeping files removed): one file per key, rows in the upload's order. `frame`
    returns the table (its columns named as the catalog's, and columns giving each row's place
    in the upload), the names of those ordering columns, and an Observation (or None) whose
    metrics this returns once the files are written."""
    period_key, region_key = keys
    day = f"CAST({_q(partitioning['period_column'])} AS DATE)"
    period = _PERIODS[partitioning["unit"]].replace("{c}", day)
    keyed = [f"coalesce({period}, '{partition.MISSING}') AS {_q(period_key)}"]
    by = [period_key]
    if partitioning["region_column"]:
        text = f"CAST({_q(partitioning['region_column'])} AS STRING)"
        keyed.append(f"coalesce({text}, '{partition.MISSING}') AS {_q(region_key)}")
        by.append(region_key)
    shutil.rmtree(out, ignore_errors=True)
    session, meter, failure, observed = None, spark._Meter(progress), None, {}
    try:
        session = spark.session()
        for key, value in _SESSION_CONF.items():
            session.conf.set(key, value)
        session.registerProgressHandler(meter)
        meter.span(0.0, 1.0)
        table, order, observation = frame(session)
        ordered = (
            table.selectExpr("*", *keyed).repartition(*by).sortWithinPartitions(*by, *order).drop(*order)
        )
        ordered.write.option("compression", "zstd").partitionBy(*by).parquet(f"file://{out}")
        observed = observation.get if observation is not None else {}
    except Exception as exc:
        failure = meter.stopped or spark._failure(exc, {})
    finally:
        if session is not None:
            spark.stop(session)
    if failure is not None:
        shutil.rmtree(out, ignore_errors=True)
        raise failure
    for bookkeeping in [*out.rglob(".*.crc"), *out.rglob("_SUCCESS")]:
        bookkeeping.unlink()
    return observed


# CSV ------------------------------------------------------------------------------------------

# Spark's test of one text value ({c}) for each of convert's kinds. Each accepts at most what
# DuckDB's test of that kind (convert._VALUE_TESTS) accepts, and on what it accepts Spark's cast
# gives DuckDB's value: a column whose values all pass is typed and converted as DuckDB would.
# Anything else (a year before 1000, an hour 24, "tRuE" is fine but a non-ASCII letter is not…)
# stops Spark's job, and DuckDB converts the file. "\\z" is the end of the text ("$" in Java
# also matches before a final line terminator such as U+2028).
_DAY = "[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
_SPARK_TESTS = {
    "integer": "{c} RLIKE '^-?(0|[1-9][0-9]{0,17})\\\\z'",
    "number": (
        "{c} RLIKE '^-?(0|[1-9][0-9]*)([.][0-9]+)?\\\\z' AND length(regexp_replace({c}, '[^0-9]', '')) <= 15"
    ),
    "boolean": "{c} RLIKE '^(?i:true|false)\\\\z'",
    "date": "{c} RLIKE '^" + _DAY + "\\\\z' AND try_cast({c} AS DATE) IS NOT NULL",
    "datetime": (
        "{c} RLIKE '^" + _DAY + "([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?\\\\z' "
        "AND try_cast({c} AS TIMESTAMP_NTZ) IS NOT NULL"
    ),
    "month": "{c} RLIKE '^[0-9]{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\\\\z'",
}
# "21-Feb" is February 2021: DuckDB's %y puts 00–68 in 2000–2068 and 69–99 in 1969–1999.
_YY = "CAST(substr({c}, 1, 2) AS INT)"
_SPARK_CASTS = {
    "integer": "CAST({c} AS BIGINT)",
    "number": "CAST({c} AS DOUBLE)",
    "boolean": "CAST({c} AS BOOLEAN)",
    "date": "CAST({c} AS DATE)",
    "datetime": "CAST({c} AS TIMESTAMP_NTZ)",
    "month": (
        f"make_date({_YY} + IF({_YY} < 69, 2000, 1900), "
        "(instr('JanFebMarAprMayJunJulAugSepOctNovDec', substr({c}, 4, 3)) + 2) DIV 3, 1)"
    ),
}
# A text value that starts with a quote, after blanks or none: where Spark's reading of a line
# may not be DuckDB's (`typed_columns`).
_QUOTE_FIRST = "{c} RLIKE '^[ \\t]*\"'"
_CSV_OPTIONS = {
    "header": "true",  # the first line is skipped; the columns are given, by position
    "enforceSchema": "true",
    "mode": "FAILFAST",  # a record with too few or too many fields stops the job
    "multiLine": "false",
    "encoding": "UTF-8",
    "quote": '"',
    "escape": '"',
    "nullValue": "",  # an empty field is NULL, as in DuckDB's reading
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "maxCharsPerColumn": "-1",  # line lengths were checked while the text was read
}


@dataclass(frozen=True)
class TextPlan:
    names: list[str]  # the table's column names
    kinds: list[str | None]  # convert's kinds, as guessed from the first rows (None: empty there)
    records: int  # the text's lines below the header: the records Spark must read
    quoted: bool = False  # the text holds double quotes


def text_plan(con, text: Text, partitioning: dict, on_fraction=lambda f: None) -> TextPlan | str:
    """What Spark is to read of the CSV `text` and how to type it, decided by DuckDB from its
    first rows; or why it is not for Spark.

    Spark reads a CSV line by line, so only text whose records are its lines goes to it: no
    carriage return but in "\\r\\n", and in quoted text no quoted line break (DuckDB counts
    the records: `_one_record_a_line`, `on_fraction` its progress). Blank lines, which Spark
    skips, show as a count of records short of the lines below the header, and DuckDB converts
    the file then."""
    dialect, shape = text.dialect, text.shape
    if shape is None:
        return "its line breaks and quotes were not counted"
    if dialect["quote"] != '"' or dialect["escape"] != '"':
        return "its quotes are not RFC 4180's (a double quote, doubled inside a quoted field)"
    if shape.carriage_returns != shape.crlf:
        return 'it has carriage returns outside "\\r\\n" line breaks'
    if shape.lines < 2:
        return "it holds no rows"
    kinds = convert.sample_kinds(con, text.path, dialect, text.names)
    types = _types(kinds)
    try:
        partition.check_partition_columns(
            [{"name": n, "type": t} for n, t in zip(text.names, types)], **partitioning
        )
    except IngestionError as exc:
        return f"its partition columns do not fit ({exc})"
    region = partitioning["region_column"]
    if region and types[text.names.index(region)] not in ("string", "integer"):
        return f"the region column {region} is {types[text.names.index(region)]}; its key is its text"
    if shape.double_quotes:
        why_not = _one_record_a_line(con, text, on_fraction)
        if why_not:
            return why_not
    return TextPlan(text.names, kinds, shape.lines - 1, quoted=bool(shape.double_quotes))


def _types(kinds: list[str | None]) -> list[str]:
    """The catalog's types of columns of these kinds; a column empty in the first rows is text
    (as DuckDB types a column empty throughout; one with values further down goes to DuckDB)."""
    return [convert.catalog_type(k) if k else "string" for k in kinds]


def _one_record_a_line(con, text: Text, on_fraction) -> str | None:
    """Why Spark, reading quoted text line by line, would not find DuckDB's records; None when
    it would: DuckDB reads every record strictly (else its conversion names the one at fault),
    and as many as there are lines below the header, so no quoted field holds a line break.
    Within a line the two readers part only on a field that starts with a quote (after blanks,
    or after a quoted part): Spark's typing stops at one (`typed_columns`). tests/catalog/
    test_ingestion_spark_csv.py compares the two readers on thousands of random lines."""
    try:
        records = convert.count_records(con, text.path, text.dialect, text.names, on_fraction)
    except duckdb.InvalidInputException:
        return "DuckDB does not read every record (its conversion names the one at fault)"
    if records != text.shape.lines - 1:
        return "a quoted field holds a line break, or a line is blank"
    return None


def ingest_text(con, text: Text, work_dir: Path, partitioning: dict, progress) -> Ingested | None:
    """The CSV `text` (checked, UTF-8, its dialect and header read by the DuckDB ingestion)
    converted and written as partition files on Spark, as `ingest` does for Parquet; None when
    it is not for Spark or Spark could not convert it as DuckDB would (a value outside its
    guessed type, a malformed record, a blank line): DuckDB then converts it. Raises
    ConnectionError when the server goes away (the task retries it)."""
    if not spark.scan_is_large(str(text.path)):
        return None
    chosen = text_plan(con, text, partitioning, lambda f: progress(0.1 * f))
    if not _goes_to_spark(chosen, "this CSV"):
        return None
    log.info("A CSV of %s lines is ingested on Spark", chosen.records + 1)
    out = work_dir / "parts"
    try:
        return _text_ingested(con, text, out, chosen, partitioning, progress)
    except spark.SparkStageError as exc:
        log.warning("This CSV could not be converted on Spark as on DuckDB, so DuckDB converts it: %s", exc)
        shutil.rmtree(out, ignore_errors=True)
        return None


def _text_ingested(con, text: Text, out: Path, chosen: TextPlan, partitioning: dict, progress) -> Ingested:
    types = _types(chosen.kinds)
    keys = partition.key_names([{"name": n, "type": t} for n, t in zip(chosen.names, types)])
    # Spark skips files whose names start with "." or "_" (the transcoded text's does) and takes
    # "[", "*"… in a path for a pattern: it reads the text under a plain name of its own.
    readable = out.parent / "spark-text" / "upload.csv"
    shutil.rmtree(readable.parent, ignore_errors=True)
    readable.parent.mkdir(parents=True)
    try:
        os.link(text.path, readable)
    except OSError:  # another file system
        readable.symlink_to(text.path)
    try:
        observed = _write(out, partitioning, keys, progress, _csv_frame(readable, text.dialect, chosen))
    finally:
        shutil.rmtree(readable.parent, ignore_errors=True)
    if observed.get("records") != chosen.records:
        raise spark.SparkStageError(
            f"Spark read {observed.get('records')} records below the header, which has {chosen.records} lines"
            " below it (blank lines?)"
        )
    found = [chosen.names[int(c[1:])] for c, n in observed.items() if c != "records" and n]
    if found:
        raise spark.SparkStageError(
            f"{', '.join(found)}: values past the first rows, where the column was empty"
        )
    return _finished(
        con,
        out,
        partitioning,
        keys,
        types,
        file_kind=text.kind,
        encoding=text.encoding,
        dialect=text.dialect,
        source_bytes=text.source_bytes,
        source_sha256=text.source_sha256,
    )


def typed_columns(kinds: list[str | None], names: list[str], *, quoted: bool = False) -> list[str]:
    """Spark SQL typing the text columns c0, c1… as `kinds`, each named as the table's column;
    a value failing its kind's test raises an error, which stops the job. In `quoted` text a
    text value that starts with a quote (after blanks) stops it too: DuckDB reads `x, "a"` as
    a and `"a," ""` as `a, `, Spark keeps them as written (the other kinds' tests refuse them)."""
    out = []
    for i, (kind, name) in enumerate(zip(kinds, names)):
        c = f"c{i}"
        if kind in (None, "string"):
            value = (
                f"CASE WHEN {_QUOTE_FIRST.replace('{c}', c)} THEN raise_error('a quote first') ELSE {c} END"
            )
            out.append(f"{value if quoted else c} AS {_q(name)}")
            continue
        test, cast = _SPARK_TESTS[kind].replace("{c}", c), _SPARK_CASTS[kind].replace("{c}", c)
        out.append(
            f"CASE WHEN {c} IS NULL OR ({test}) THEN {cast} ELSE raise_error('not {kind}') END AS {_q(name)}"
        )
    return out


def csv_reader(session, path: Path, delimiter: str, width: int):
    """Spark's reading of a UTF-8 CSV (RFC 4180 quotes) as text columns c0, c1…, line by line:
    strict, no value changed (no trimming; an empty field, quoted or not, is NULL)."""
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(f"c{i}", StringType()) for i in range(width)])
    return session.read.schema(schema).options(**_CSV_OPTIONS, sep=delimiter).csv(f"file://{path}")


def _csv_frame(path: Path, dialect: dict, chosen: TextPlan):
    def frame(session):
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        raw = csv_reader(session, path, dialect["delimiter"], len(chosen.names))
        placed = raw.selectExpr(
            "*", f"_metadata.file_block_start AS {_BLOCK}", f"monotonically_increasing_id() AS {_ROW}"
        )
        observation = Observation("csv")
        # The records read, and the values of columns empty in the first rows (any sends the
        # file to DuckDB, which types such a column from all of them).
        unseen = [F.count(f"c{i}").alias(f"c{i}") for i, kind in enumerate(chosen.kinds) if kind is None]
        counted = placed.observe(observation, F.count(F.lit(1)).alias("records"), *unseen)
        fields = [f"c{i}" for i in range(len(chosen.names))]
        # A record with every field empty holds nothing (as in convert._csv_source).
        kept = counted.where(f"coalesce({', '.join(fields)}) IS NOT NULL")
        table = kept.selectExpr(
            *typed_columns(chosen.kinds, chosen.names, quoted=chosen.quoted), _BLOCK, _ROW
        )
        return table, [_BLOCK, _ROW], observation

    return frame

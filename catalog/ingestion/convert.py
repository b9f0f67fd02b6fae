"""CSV and Parquet in, typed zstd Parquet out, entirely inside DuckDB.

CSV is read with every column as text, each column's type is decided by one aggregate pass over
the data (not a sample), and one ``COPY (SELECT casts…)`` writes the Parquet file. DuckDB's own
type inference is not used because it turns codes such as "0123456789" or "01" into numbers and
loses the leading zeros; here a column becomes a number only if every value is written the way
a number is written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from marketplace.duckdb import execute_reporting, report_progress

from .errors import IngestionError
from .errors import message_template as _t
from .sql import ident, insertion_order_preserved, literal

DELIMITERS = (",", "\t", ";", "|")
HEADER_LIMIT_BYTES = 1 << 20

# A value counts as a number only when written plainly: no leading zeros ("01"), no plus sign,
# no spaces, no thousands separators. Integers up to 18 digits fit BIGINT; decimals are kept to
# 15 significant digits, what a DOUBLE holds exactly, so long identifiers never become numbers.
_INT_RE = "-?(0|[1-9][0-9]{0,17})"
_NUM_RE = "-?(0|[1-9][0-9]*)([.][0-9]+)?"
_DATE_RE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DATETIME_RE = _DATE_RE + "([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?"

_AT_MOST_15_DIGITS = "length(regexp_replace({c}, '[^0-9]', '', 'g')) <= 15"

# SQL tests on one text value, "{c}" standing for the column. Tried in this order; a column gets
# the first type that every one of its non-null values passes, else it stays text.
_MONTH_RE = "[0-9]{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_VALUE_TESTS = {
    "integer": "regexp_full_match({c}, '" + _INT_RE + "')",
    "number": "regexp_full_match({c}, '" + _NUM_RE + "') AND " + _AT_MOST_15_DIGITS,
    "boolean": "lower({c}) IN ('true', 'false')",
    "date": "regexp_full_match({c}, '" + _DATE_RE + "') AND try_cast({c} AS DATE) IS NOT NULL",
    "datetime": ("regexp_full_match({c}, '" + _DATETIME_RE + "') AND try_cast({c} AS TIMESTAMP) IS NOT NULL"),
    # Months as Excel writes them in Korean public data ("21-Feb": February 2021), kept as the
    # month's first day.
    "month": "regexp_full_match({c}, '" + _MONTH_RE + "')",
}
# How each kind is read into its type; a month becomes a date.
_CSV_READ = {"month": "CAST(strptime({c}, '%y-%b') AS DATE)"}
_CATALOG_TYPE = {"month": "date"}
_CSV_CAST = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}

Fraction = Callable[[float], None]


# --- dialect and header -------------------------------------------------------------------------


def sniff_dialect(con: duckdb.DuckDBPyConnection, csv_path: Path) -> dict:
    """Delimiter, quote and escape from DuckDB's sniffer; the header is taken as present.

    ``null_padding`` is on while sniffing because, without it, one short or long row in the
    sample makes the sniffer settle on a one-column reading (delimiter "|"), and the ragged row
    would never be reported. The strict read that follows still rejects that row.
    """
    try:
        delimiter, quote, escape = con.execute(
            f"SELECT Delimiter, Quote, Escape FROM sniff_csv({literal(csv_path)}, "  # noqa: S608
            "header = true, null_padding = true)"
        ).fetchone()
    except duckdb.Error:
        # Unreadable sample (an unclosed quote, say): guess the delimiter from the header line and
        # let the strict read report the row at fault.
        delimiter, quote, escape = _delimiter_from_header(csv_path), "", ""
    # "(empty)" means no quoted field was seen in the sample; quoting may still appear further
    # down, so read with RFC 4180's double quote, doubled to escape.
    quote = '"' if quote in ("", "(empty)") else quote
    escape = quote if escape in ("", "(empty)") else escape
    return {"delimiter": delimiter, "quote": quote, "escape": escape, "header": True}


def _delimiter_from_header(csv_path: Path) -> str:
    line = _first_record(csv_path, quote='"', escape='"')
    counts = {d: _count_unquoted(line, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (comma first)
    return best if counts[best] else ","


def _count_unquoted(text: str, char: str) -> int:
    # Splitting on quotes, every other piece (from the first) lies outside a quoted field.
    return sum(piece.count(char) for piece in text.split('"')[::2])


def read_header(csv_path: Path, dialect: dict) -> list[str]:
    """The header's field values exactly as written (a BOM is not part of the first name)."""
    record = _first_record(csv_path, quote=dialect["quote"], escape=dialect["escape"])
    if not record.strip():
        raise IngestionError(_t("The first line is empty; it must hold the column names."))
    escape = dialect["escape"]
    reader = csv.reader(
        io.StringIO(record, newline=""),
        delimiter=dialect["delimiter"],
        quotechar=dialect["quote"],
        doublequote=escape == dialect["quote"],
        escapechar=None if escape == dialect["quote"] else escape,
    )
    return next(reader)


def _first_record(csv_path: Path, *, quote: str, escape: str) -> str:
    """Text up to the first line break outside quotes (the header may span lines when quoted)."""
    with csv_path.open("rb") as f:
        head = f.read(HEADER_LIMIT_BYTES)
    # The file is valid UTF-8 by now; "replace" only touches a character cut at the limit.
    text = head.decode("utf-8-sig", errors="replace")
    in_quotes = False
    skip_next = False
    for i, ch in enumerate(text):
        if skip_next:
            skip_next = False
        elif in_quotes and ch == escape and escape != quote:
            skip_next = True
        elif ch == quote:
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            return text[:i]
    if len(head) == HEADER_LIMIT_BYTES:
        raise IngestionError(_t("The header row is longer than 1 MiB; check the file's delimiter."))
    return text


def unique_names(raw_names: list[str]) -> list[str]:
    """Header names as written; blanks become ``column_N``, repeats ``name_2``, ``name_3``…

    Compared case-insensitively, as DuckDB identifiers are.
    """
    seen: set[str] = set()
    names = []
    for position, raw in enumerate(raw_names, start=1):
        base = raw if raw.strip() else f"column_{position}"
        name, n = base, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.casefold())
        names.append(name)
    return names


# --- CSV ----------------------------------------------------------------------------------------


def csv_read(csv_path: Path, dialect: dict, names: list[str]) -> tuple[list[str], str]:
    """Every record of the CSV as text columns c0, c1… (safe internal names; the real ones only
    go into the output), read strictly: (those names, the SQL relation)."""
    raw = [f"c{i}" for i in range(len(names))]
    columns = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in raw)
    return raw, (
        f"read_csv({literal(csv_path)}, header = true, auto_detect = false, all_varchar = true, "
        f"strict_mode = true, delim = {literal(dialect['delimiter'])}, "
        f"quote = {literal(dialect['quote'])}, escape = {literal(dialect['escape'])}, "
        f"columns = {{{columns}}})"
    )


def _csv_source(csv_path: Path, dialect: dict, names: list[str]) -> tuple[list[str], str]:
    """The CSV's rows: its records (`csv_read`) less those that hold nothing."""
    raw, source = csv_read(csv_path, dialect, names)
    # A record with every field empty (",,,,": what Excel leaves where a sheet had a blank row
    # or formatting below its data) holds nothing: it is neither counted nor written.
    return raw, f"(SELECT * FROM {source} WHERE coalesce({', '.join(raw)}) IS NOT NULL)"  # noqa: S608


def count_records(
    con: duckdb.DuckDBPyConnection, csv_path: Path, dialect: dict, names: list[str], on_fraction: Fraction
) -> int:
    """How many records below the header DuckDB reads in the CSV, empty ones included: one
    parsing pass, nothing typed or written (its progress to `on_fraction`). Raises
    duckdb.InvalidInputException where a record is malformed."""
    _, source = csv_read(csv_path, dialect, names)
    ((records,),) = _run(con, f"SELECT count(*) FROM {source}", on_fraction)  # noqa: S608
    return int(records)


def sample_kinds(con: duckdb.DuckDBPyConnection, csv_path: Path, dialect: dict, names: list[str]) -> list:
    """Each column's kind ("integer", "number", "boolean", "date", "datetime", "month" or
    "string") as the one-pass conversion guesses it from the first SAMPLE_ROWS rows (the type
    it converts to when every value passes that kind's test); None for a column empty there,
    which only a pass over every row can type."""
    raw, source = _csv_source(csv_path, dialect, names)
    candidates = _sample_candidates(con, source, raw, dialect, names)
    return [None if candidates[c] == list(_VALUE_TESTS) else (candidates[c] or ["string"])[0] for c in raw]


def catalog_type(kind: str) -> str:
    """The catalog's type of a column of this kind (a month is a date)."""
    return _CATALOG_TYPE.get(kind, kind)


def csv_to_parquet(
    con: duckdb.DuckDBPyConnection,
    csv_path: Path,
    out_path: Path,
    *,
    dialect: dict,
    names: list[str],
    on_fraction: Fraction,
) -> tuple[int, list[str]]:
    """Write ``out_path``; return the row count and each column's type ("string", "integer"…)."""
    raw, source = _csv_source(csv_path, dialect, names)
    # Deciding types costs a regular-expression test per value, so the full pass tests each
    # column only for the types its first rows all pass (text columns not at all): a type that
    # fails on the sample cannot hold for the whole column.
    candidates = _sample_candidates(con, source, raw, dialect, names)
    # Read once (issue 18): convert to each column's first candidate type while checking every
    # value against that type's test; a value that fails stops the statement, and only then does
    # the file get a counting pass first. The first candidate passing every value is exactly the
    # type the counting pass would choose. A column empty in the sample has no first guess (it
    # may be empty throughout, which makes it text), so it takes the counting pass as well.
    # (No value passes every test, so all of them as candidates means an empty sample.)
    guessed = [candidates[c][0] if candidates[c] else "string" for c in raw]
    if all(candidates[c] != list(_VALUE_TESTS) for c in raw):
        row_count = _convert_checked(con, source, raw, names, guessed, out_path, on_fraction)
        if row_count is not None:
            on_fraction(1.0)
            return row_count, [catalog_type(kind) for kind in guessed]
    try:
        row_count, verdicts = _count_passing(con, source, raw, candidates, lambda f: on_fraction(0.4 * f))
    except duckdb.InvalidInputException as exc:
        # Only malformed input becomes an IngestionError; memory or disk trouble propagates, so
        # the caller can retry it rather than blame the file.
        raise _csv_error(exc, dialect, names) from exc
    kinds = [verdicts.get(c) or "string" for c in raw]
    _convert(con, source, raw, names, kinds, out_path, lambda f: on_fraction(0.4 + 0.6 * f))
    types = [catalog_type(kind) for kind in kinds]
    on_fraction(1.0)
    return row_count, types


def _select(raw: list[str], names: list[str], types: list[str], checked: bool = False) -> str:
    out = []
    for c, name, kind in zip(raw, names, types):
        if kind == "string":
            out.append(f"{c} AS {ident(name)}")
            continue
        cast = _CSV_READ[kind].replace("{c}", c) if kind in _CSV_READ else f"CAST({c} AS {_CSV_CAST[kind]})"
        if checked:
            test = _VALUE_TESTS[kind].replace("{c}", c)
            cast = f"CASE WHEN {c} IS NULL OR ({test}) THEN {cast} ELSE error('jangteo: not {kind}') END"
        out.append(f"{cast} AS {ident(name)}")
    return ", ".join(out)


def _run(con, sql: str, on_fraction: Fraction) -> list:
    """Run one statement over the whole file, reporting DuckDB's progress through it (0–1) to
    `on_fraction` while it runs (minutes for a large file; `con` measures progress from now)."""
    report_progress(con)
    return execute_reporting(con, sql, [], on_fraction)


def _convert(
    con, source: str, raw, names, types, out_path: Path, on_fraction: Fraction, checked=False
) -> int:
    with insertion_order_preserved(con):
        ((rows,),) = _run(
            con,
            f"COPY (SELECT {_select(raw, names, types, checked)} FROM {source}) "  # noqa: S608
            f"TO {literal(out_path)} (FORMAT parquet, COMPRESSION zstd)",
            on_fraction,
        )
    return int(rows)


def _convert_checked(
    con, source: str, raw, names, types, out_path: Path, on_fraction: Fraction
) -> int | None:
    """The one-pass conversion; its row count, or None when a value (or the CSV itself) does
    not fit and the counting pass must decide (and name any error)."""
    try:
        return _convert(con, source, raw, names, types, out_path, on_fraction, checked=True)
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        return None


SAMPLE_ROWS = 10_000


def _sample_candidates(
    con, source: str, raw: list[str], dialect: dict, names: list[str]
) -> dict[str, list[str]]:
    """For each column, the types every non-empty value in the first rows passes, in order of
    preference; all types for a column that is empty there (the sample cannot tell)."""
    tests = [f"count_if({test.replace('{c}', c)})" for c in raw for test in _VALUE_TESTS.values()]
    sample = f"(SELECT * FROM {source} LIMIT {SAMPLE_ROWS})"  # noqa: S608
    try:
        counts = con.execute(
            f"SELECT {', '.join([*(f'count({c})' for c in raw), *tests])} FROM {sample}"  # noqa: S608
        ).fetchone()
    except duckdb.InvalidInputException as exc:
        raise _csv_error(exc, dialect, names) from exc
    non_null, passed = counts[: len(raw)], counts[len(raw) :]
    width = len(_VALUE_TESTS)
    candidates = {}
    for i, c in enumerate(raw):
        results = dict(zip(_VALUE_TESTS, passed[i * width : (i + 1) * width]))
        candidates[c] = (
            [t for t, n in results.items() if n == non_null[i]] if non_null[i] else list(_VALUE_TESTS)
        )
    return candidates


def _count_passing(
    con, source: str, raw: list[str], candidates: dict[str, list[str]], on_fraction: Fraction
) -> tuple[int, dict]:
    """One full pass: the first candidate type that every non-empty value of a column passes
    (None when none does, or the column is empty throughout)."""
    pairs = [(c, t) for c in raw for t in candidates.get(c, [])]
    aggregates = ["count(*)", *(f"count({c})" for c in raw)]
    aggregates += [f"count_if({_VALUE_TESTS[t].replace('{c}', c)})" for c, t in pairs]
    (counts,) = _run(con, f"SELECT {', '.join(aggregates)} FROM {source}", on_fraction)  # noqa: S608
    row_count, non_null = counts[0], dict(zip(raw, counts[1 : 1 + len(raw)]))
    verdicts: dict[str, str | None] = {c: None for c in candidates}
    for (c, t), n in zip(pairs, counts[1 + len(raw) :]):
        if verdicts[c] is None and non_null[c] and n == non_null[c]:
            verdicts[c] = t
    return row_count, verdicts


_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")
_COUNT_RE = re.compile(r"Original Line: (.*)\nExpected Number of Columns: (\d+) Found: (\d+)", re.S)
_LINE_SIZE_RE = re.compile(r"Maximum line size of (\d+) bytes exceeded")


def _csv_error(exc: duckdb.InvalidInputException, dialect: dict, names: list[str]) -> IngestionError:
    """Turn a DuckDB CSV error into a sentence naming the data row."""
    text = str(exc)
    first_line = text.split("\n", 1)[0].removeprefix("Invalid Input Error: ")
    line = _LINE_RE.search(text)
    if not line:
        return IngestionError(_t("The file could not be read as CSV: %(detail)s"), detail=first_line)
    row = int(line.group(1)) - 1  # DuckDB counts records from 1 including the header
    counts = _COUNT_RE.search(text)
    if counts:
        expected, found = int(counts.group(2)), int(counts.group(3))
        # DuckDB stops counting one field past the expected number; count the row it quotes.
        if found > expected:
            found = max(found, _field_count(counts.group(1), dialect))
        return IngestionError(
            _t("Row %(n)s has %(found)s fields; the header has %(expected)s."),
            row=row,
            n=row,
            found=found,
            expected=len(names),
        )
    if "unterminated quote" in text:
        return IngestionError(
            _t(
                "Row %(n)s has a quoted field that is not closed properly: a field that starts "
                "with a quote must end with one, and quotes inside it must be doubled."
            ),
            row=row,
            n=row,
        )
    too_long = _LINE_SIZE_RE.search(text)
    if too_long:
        limit = int(too_long.group(1))
        return IngestionError(
            _t("Row %(n)s is longer than %(limit)s bytes, the most a row may hold."),
            row=row,
            n=row,
            limit=limit,
        )
    return IngestionError(_t("Row %(n)s could not be read: %(detail)s"), row=row, n=row, detail=first_line)


def _field_count(line: str, dialect: dict) -> int:
    quote, escape = dialect["quote"], dialect["escape"]
    reader = csv.reader(
        io.StringIO(line, newline=""),
        delimiter=dialect["delimiter"],
        quotechar=quote,
        doublequote=escape == quote,
        escapechar=None if escape == quote else escape,
    )
    return len(next(reader, []))


# --- Parquet ------------------------------------------------------------------------------------

_LOGICAL_TYPES = {
    "BOOLEAN": "boolean",
    "DATE": "date",
    "VARCHAR": "string",
    "FLOAT": "number",
    "DOUBLE": "number",
}
_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip


def logical_type(duckdb_type: str) -> str | None:
    """Our type name for a DuckDB type; None for types we store as text."""
    if duckdb_type in _INTEGER_TYPES:
        return "integer"
    if duckdb_type.startswith("DECIMAL"):
        return "number"
    if duckdb_type.startswith("TIMESTAMP"):
        return "datetime"
    return _LOGICAL_TYPES.get(duckdb_type)


def _is_nested(duckdb_type: str) -> bool:
    return duckdb_type.endswith("]") or duckdb_type.startswith(("STRUCT", "MAP", "UNION"))


def parquet_to_parquet(
    con: duckdb.DuckDBPyConnection, src: Path, out_path: Path, on_fraction: Fraction = lambda f: None
) -> tuple[int, list[str]]:
    """Rewrite a Parquet upload as zstd Parquet; return the row count and column types.
    `on_fraction` gets the share of the rewrite done as it runs."""
    source = f"read_parquet({literal(src)})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608
    except duckdb.Error as exc:
        raise _damaged_parquet(exc) from exc

    names = unique_names([name for name, *_ in described])
    select, types = [], []
    for (original, duckdb_type, *_), name in zip(described, names):
        if _is_nested(duckdb_type):
            raise IngestionError(
                _t(
                    'Column "%(name)s" holds nested values (%(type)s); only flat columns '
                    "(text, numbers, booleans, dates, timestamps) can be published. Flatten it first."
                ),
                column=original,
                name=original,
                type=duckdb_type,
            )
        if duckdb_type == "BLOB":
            raise IngestionError(
                _t(
                    'Column "%(name)s" holds binary data (BLOB); only text, numbers, booleans, '
                    "dates and timestamps can be published."
                ),
                column=original,
                name=original,
            )
        kind = logical_type(duckdb_type)
        if kind is None:  # TIME, INTERVAL, UUID, ENUM…: kept, written as text
            select.append(f"CAST({ident(original)} AS VARCHAR) AS {ident(name)}")
            types.append("string")
        else:
            select.append(f"{ident(original)} AS {ident(name)}")
            types.append(kind)

    try:
        with insertion_order_preserved(con):
            ((row_count,),) = _run(
                con,
                f"COPY (SELECT {', '.join(select)} FROM {source}) "  # noqa: S608
                f"TO {literal(out_path)} (FORMAT parquet, COMPRESSION zstd)",
                on_fraction,
            )
    except duckdb.Error as exc:
        raise _damaged_parquet(exc) from exc
    return row_count, types


def _damaged_parquet(exc: duckdb.Error) -> duckdb.Error | IngestionError:
    """The IngestionError naming the damage DuckDB found reading a Parquet upload; `exc` itself
    when it is not about the file (the disk, memory, an interruption: worth another try). Most
    damage is an invalid input; some (a page header DuckDB cannot parse, "don't know what
    type") is a bare duckdb.Error."""
    if not isinstance(exc, duckdb.InvalidInputException) and type(exc) is not duckdb.Error:
        return exc
    detail = str(exc).split("\n", 1)[0].removeprefix("Invalid Input Error: ")
    return IngestionError(
        _t("The Parquet file could not be read; it may be damaged or cut short (%(detail)s)."), detail=detail
    )


def output_columns(con: duckdb.DuckDBPyConnection, parquet_path: Path, types: list[str]) -> list[dict]:
    """The written file's schema, as the catalog stores it."""
    described = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({literal(parquet_path)})"  # noqa: S608
    ).fetchall()
    return [
        {"position": i, "name": name, "type": kind, "duckdb_type": duckdb_type}
        for i, ((name, duckdb_type, *_), kind) in enumerate(zip(described, types))
    ]

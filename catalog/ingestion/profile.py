"""Column profiles and previews of a converted Parquet file, computed in DuckDB.

Four queries whatever the number of columns: one aggregate pass for counts and ranges, one for
the most frequent values, one for the histograms and one listing every value of the columns that
have few (codes, regions, categories: what a buyer may filter by). Each reads only the columns it
needs. Only small results (ten values, twenty bins, at most VALUES_LISTED values) reach Python.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from pathlib import Path

import duckdb

from marketplace.duckdb import connect

from .sql import ident, insertion_order_preserved, literal

TOP_VALUES = 10
HISTOGRAM_BINS = 20
VALUES_LISTED = 1000  # a text or integer column with at most this many distinct values lists them
_HISTOGRAM_TYPES = {"integer", "number", "date", "datetime"}


def profile_parquet(parquet_path: Path, columns: list[dict], *, con=None) -> dict[str, dict]:
    """Per column name: null count, distinct estimate, min, max, top values and a histogram.

    Every value is JSON-serialisable: dates and timestamps as ISO strings, decimals as numbers,
    NaN and infinities as None.
    """
    own = con is None
    con = con or connect()
    try:
        return _profile(con, literal(parquet_path), columns)
    finally:
        if own:
            con.close()


def profile_files(files: list[str], columns: list[dict], *, con=None) -> dict[str, dict]:
    """`profile_parquet` over several Parquet files read as one table (partition files)."""
    own = con is None
    con = con or connect()
    try:
        listed = "[" + ", ".join(literal(f) for f in files) + "], hive_partitioning = false"
        return _profile(con, listed, columns)
    finally:
        if own:
            con.close()


def _profile(con: duckdb.DuckDBPyConnection, source: str, columns: list[dict]) -> dict[str, dict]:
    if not columns:
        return {}
    scan = f"read_parquet({source})"
    stats = _stats(con, scan, columns)
    top = _top_values(con, scan, columns)
    histograms = _histograms(con, scan, columns, stats)
    listed = _listed_values(con, scan, columns, stats)

    profiles = {}
    for i, column in enumerate(columns):
        nulls, distinct, low, high, _, _ = stats[i]
        profiles[column["name"]] = {
            "null_count": int(nulls),
            "distinct_estimate": int(distinct),
            "min": jsonable(low),
            "max": jsonable(high),
            "top_values": [
                {"value": jsonable(item["value"]), "count": int(item["count"])} for item in top[i]
            ],
            "histogram": histograms.get(i),
        }
        if i in listed:
            profiles[column["name"]]["values"] = [jsonable(v) for v in listed[i]]
    return profiles


def _as_double(column: dict) -> str:
    """The column as a DOUBLE for binning: seconds since the epoch for dates and timestamps."""
    c = ident(column["name"])
    if column["type"] in ("date", "datetime"):
        return f"CAST(epoch({c}) AS DOUBLE)"
    return f"CAST({c} AS DOUBLE)"


def _stats(con, scan: str, columns: list[dict]) -> list[tuple]:
    """(nulls, distinct estimate, min, max, finite low, finite high) per column, in one pass."""
    parts = []
    for column in columns:
        c = ident(column["name"])
        # The estimate (HyperLogLog) can exceed the number of values; it never may.
        parts += [f"count(*) - count({c})", f"least(approx_count_distinct({c}), count({c}))"]
        if column["type"] in _HISTOGRAM_TYPES:
            x = _as_double(column)
            finite = f"FILTER (WHERE isfinite({x}))"
            # NaN sorts above every number in DuckDB; report the finite range instead.
            if column["type"] in ("integer", "number"):
                parts += [f"min({c}) {finite}", f"max({c}) {finite}"]
            else:
                parts += [f"min({c})", f"max({c})"]
            parts += [f"min({x}) {finite}", f"max({x}) {finite}"]
        elif column["type"] == "string":
            # The alphabetically first and last text values say nothing and may name a person.
            parts += ["NULL", "NULL", "NULL", "NULL"]
        else:
            parts += [f"min({c})", f"max({c})", "NULL", "NULL"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {scan}").fetchone()  # noqa: S608
    return [row[i * 6 : (i + 1) * 6] for i in range(len(columns))]


def _top_values(con, scan: str, columns: list[dict]) -> list[list[dict]]:
    """The most frequent non-null values per column (ties broken by value, for stable output)."""
    parts = []
    for column in columns:
        c = ident(column["name"])
        parts.append(
            "(SELECT coalesce(list({'value': v, 'count': n} ORDER BY n DESC, v), []) FROM ("  # noqa: S608
            f"SELECT {c} AS v, count(*) AS n FROM {scan} WHERE {c} IS NOT NULL "
            f"GROUP BY 1 ORDER BY n DESC, v LIMIT {TOP_VALUES}))"
        )
    row = con.execute(f"SELECT {', '.join(parts)}").fetchone()
    return list(row)


def _listed_values(con, scan: str, columns: list[dict], stats: list[tuple]) -> dict[int, list]:
    """Every distinct non-null value, sorted, of the text and integer columns whose distinct
    estimate is at most VALUES_LISTED (a column the estimate undercounted is left unlisted)."""
    chosen = [
        i
        for i, column in enumerate(columns)
        if column["type"] in ("string", "integer") and 0 < stats[i][1] <= VALUES_LISTED
    ]
    if not chosen:
        return {}
    parts = []
    for i in chosen:
        c = ident(columns[i]["name"])
        parts.append(
            f"(SELECT list(v ORDER BY v) FROM (SELECT DISTINCT {c} AS v FROM {scan} "  # noqa: S608
            f"WHERE {c} IS NOT NULL LIMIT {VALUES_LISTED + 1}))"
        )
    row = con.execute(f"SELECT {', '.join(parts)}").fetchone()
    listed = zip(chosen, row, strict=True)
    return {i: values for i, values in listed if values and len(values) <= VALUES_LISTED}


def _histograms(con, scan: str, columns: list[dict], stats: list[tuple]) -> dict[int, list[dict]]:
    """Equi-width bins between each column's finite minimum and maximum."""
    plans = {}  # column index -> (low, width)
    parts, params = [], []
    for i, column in enumerate(columns):
        low, high = stats[i][4], stats[i][5]
        if column["type"] not in _HISTOGRAM_TYPES or low is None:
            continue
        width = (high - low) / HISTOGRAM_BINS if high > low else 1.0
        plans[i] = (low, width)
        x = _as_double(column)
        # The maximum lands on the upper edge of the last bin, so clamp to the last index.
        parts.append(
            f"(SELECT list({{'bin': b, 'count': n}} ORDER BY b) FROM ("  # noqa: S608
            f"SELECT least(CAST(floor(({x} - ?) / ?) AS BIGINT), {HISTOGRAM_BINS - 1}) AS b, "
            f"count(*) AS n FROM {scan} WHERE isfinite({x}) GROUP BY 1))"
        )
        params += [low, width]
    if not parts:
        return {}
    row = con.execute(f"SELECT {', '.join(parts)}", params).fetchone()

    histograms = {}
    for (i, (low, width)), bins in zip(plans.items(), row):
        counts = {item["bin"]: item["count"] for item in bins or []}
        n_bins = HISTOGRAM_BINS if stats[i][5] > low else 1
        kind = columns[i]["type"]
        histograms[i] = [
            {
                "lower": _edge(low + b * width, kind),
                "upper": _edge(stats[i][5] if b == n_bins - 1 else low + (b + 1) * width, kind),
                "count": int(counts.get(b, 0)),
            }
            for b in range(n_bins)
        ]
    return histograms


def _edge(seconds_or_value: float, kind: str):
    if kind == "date":
        return dt.datetime.fromtimestamp(seconds_or_value, dt.UTC).date().isoformat()
    if kind == "datetime":
        return dt.datetime.fromtimestamp(seconds_or_value, dt.UTC).replace(tzinfo=None).isoformat()
    return float(f"{seconds_or_value:.12g}")  # bin edges, not data: drop floating-point noise


def preview_rows(parquet_path: Path, *, limit: int = 20, con=None) -> tuple[list[str], list[list]]:
    """The first ``limit`` rows in file order, as column names and JSON-serialisable rows."""
    own = con is None
    con = con or connect()
    try:
        with insertion_order_preserved(con):
            result = con.execute(
                f"SELECT * FROM read_parquet({literal(parquet_path)}) LIMIT ?",  # noqa: S608
                [int(limit)],
            )
            names = [d[0] for d in result.description]
            rows = [[jsonable(v) for v in row] for row in result.fetchall()]
        return names, rows
    finally:
        if own:
            con.close()


def jsonable(value):
    """A DuckDB value as something ``json.dumps`` accepts without options."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


# --- merging profiles (appends) ------------------------------------------------------------------


def merge_profiles(old: dict[str, dict], new: dict[str, dict], columns: list[dict]) -> dict[str, dict]:
    """The profile of two tables stacked, from their two profiles, without reading either.

    Exact: null counts, minimum and maximum, the listed values (union, while it stays within
    VALUES_LISTED). Approximate: the top values (counts summed over both top-ten lists: a value
    that is in neither list is missed), the distinct estimate (the union of listed values when
    both are listed, else the larger of the two: a lower bound, since the tables' values may
    overlap or not) and the histogram (each bin's count spread evenly over the bins of the
    combined range that it overlaps).
    """
    merged = {}
    for column in columns:
        name, kind = column["name"], column["type"]
        a, b = old.get(name) or {}, new.get(name) or {}
        if not a or not b:
            merged[name] = a or b
            continue
        profile = {
            "null_count": int(a.get("null_count") or 0) + int(b.get("null_count") or 0),
            "min": _extreme(a.get("min"), b.get("min"), min),
            "max": _extreme(a.get("max"), b.get("max"), max),
            "top_values": _merge_top(a.get("top_values") or [], b.get("top_values") or []),
            "histogram": _merge_histograms(a.get("histogram"), b.get("histogram"), kind),
        }
        listed = None
        if "values" in a and "values" in b:
            union = sorted(set(a["values"]) | set(b["values"]), key=lambda v: (v is None, v))
            listed = union if len(union) <= VALUES_LISTED else None
        if listed is not None:
            profile["values"] = listed
            profile["distinct_estimate"] = len(listed)
        else:
            profile["distinct_estimate"] = max(
                int(a.get("distinct_estimate") or 0), int(b.get("distinct_estimate") or 0)
            )
        merged[name] = profile
    return merged


def _extreme(x, y, pick):
    if x is None or y is None:
        return y if x is None else x
    try:
        return pick(x, y)
    except TypeError:  # mixed JSON types: compare as text
        return pick(x, y, key=str)


def _merge_top(a: list[dict], b: list[dict]) -> list[dict]:
    counts: dict = {}
    for item in (*a, *b):
        key = item["value"]
        counts[key] = counts.get(key, 0) + int(item["count"])
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP_VALUES]
    return [{"value": v, "count": n} for v, n in ranked]


def _as_number(edge, kind: str) -> float:
    if kind == "date":
        return dt.datetime.combine(dt.date.fromisoformat(edge), dt.time(), dt.UTC).timestamp()
    if kind == "datetime":
        return dt.datetime.fromisoformat(edge).replace(tzinfo=dt.UTC).timestamp()
    return float(edge)


def _merge_histograms(a: list[dict] | None, b: list[dict] | None, kind: str) -> list[dict] | None:
    if not a or not b:
        return a or b
    bins = [(_as_number(x["lower"], kind), _as_number(x["upper"], kind), x["count"]) for x in (*a, *b)]
    low, high = min(lo for lo, _, _ in bins), max(hi for _, hi, _ in bins)
    n_bins = HISTOGRAM_BINS if high > low else 1
    width = (high - low) / n_bins if high > low else 1.0
    counts = [0.0] * n_bins
    for lo, hi, n in bins:
        if hi <= lo:  # a single-value bin: all of it in one place
            counts[min(int((lo - low) / width), n_bins - 1)] += n
            continue
        for i in range(n_bins):
            overlap = min(hi, low + (i + 1) * width) - max(lo, low + i * width)
            if overlap > 0:
                counts[i] += n * overlap / (hi - lo)
    # Whole counts that still add up to the total (largest remainders get the rounding).
    whole = [math.floor(c) for c in counts]
    short = round(sum(counts)) - sum(whole)
    for i in sorted(range(n_bins), key=lambda i: whole[i] - counts[i])[:short]:
        whole[i] += 1
    return [
        {
            "lower": _edge(low + i * width, kind),
            "upper": _edge(high if i == n_bins - 1 else low + (i + 1) * width, kind),
            "count": whole[i],
        }
        for i in range(n_bins)
    ]

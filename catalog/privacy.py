"""The privacy rules of DESIGN.md as SQL over a version's Parquet.

Used for previews, by the extract engine (`transactions.extracts`) and by open statistics: the
same plan, so nothing that releases numbers can show what an extract would not. Column names
reach SQL only after being checked against the version's schema (and quoted); every scope value
is a bound parameter. The only input about an offer is its `catalog.policy.OfferPolicy`.

| sensitivity       | records offer                        | aggregate offer            |
|-------------------|--------------------------------------|----------------------------|
| public            | delivered                            | dimension or measure       |
| quasi_identifier  | delivered only if the offer allows   | dimension                  |
| identifier        | HMAC-SHA-256 under the license key   | counts subjects; not output|
| excluded          | never read                           | never read                 |

A column with any other sensitivity is treated as excluded (fail closed).

Aggregates (see `protected_cells` and docs/privacy.md) are computed over the WHOLE table of the
offer (every region and period of the version), protected once, and only then narrowed to the
buyer's scope: every scope is a set of whole cells of that one protected table, so two extracts
cannot be subtracted from each other, and a cell is suppressed (or not) the same way for every
buyer. Protection: k distinct subjects per cell, a p% rule and a (2, c) dominance rule on every
sum and average over contributors and over subjects (net per contributor, so refunds cannot hide
a dominant one), secondary suppression so that no line of the table (whose margins are taken as
public) holds a single suppressed cell, and deterministic cell-key noise on released values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from catalog.ingestion.sql import ident
from catalog.policy import (
    AGGREGATES,
    EXCLUDED,
    GRANULARITIES,
    IDENTIFIER,
    K_MIN,
    PUBLIC,
    QUASI_IDENTIFIER,
    Column,
    OfferPolicy,
    next_period,
    period_start,
)

__all__ = [
    "AGGREGATES",
    "EXCLUDED",
    "GRANULARITIES",
    "IDENTIFIER",
    "PUBLIC",
    "QUASI_IDENTIFIER",
    "Column",
    "OfferPolicy",
    "Plan",
    "PlanError",
    "plan",
    "protected_cells",
]

# DuckDB's virtual columns of a Parquet scan (present unless the file has columns so named).
SOURCE_ROW_COLUMN = "file_row_number"
SOURCE_FILE_COLUMN = "filename"
SOURCE_FILE_INDEX = "file_index"
# DOUBLE measures are summed as exact decimals, so a parallel aggregation gives the same bits
# whatever order the threads combine their partial sums in (rebuilds are byte-identical).
EXACT_DECIMAL = "DECIMAL(38, 10)"


@dataclass
class Plan:
    """SQL statements and their bound parameters.

    `setup` are statements to run first, in order, on the same connection (an aggregate builds
    its protected table there); each is `{"sql", "params", "repeat"}`, and a `repeat` statement
    runs again until it changes no row. `sql` is the statement a preview runs (LIMIT included;
    record rows in no particular order). `body` is the statement an extract wraps in an outer
    SELECT: it returns `columns` and then any hidden sort keys, and `order_by` names the body
    columns that give its rows one total order (aggregates: the dimensions; records: the source
    file's row order). The wrapper must ORDER BY them itself: DuckDB keeps neither a subquery's
    order nor, when a filter is pushed into the Parquet scan, the file's order. `types` gives
    each output column's catalog type (string, integer, number, boolean, date, datetime);
    `text_columns` are the output columns holding free text, the ones a spreadsheet could read
    as a formula. `file_order`: the body scans the source straight through (no join, window or
    grouping), so its rows come in the files' order as DuckDB reads them and a one-file plan
    needs no sort (transactions.extracts.engine).
    """

    sql: str
    params: list = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    body: str = ""
    order_by: list[str] = field(default_factory=list)
    setup: list[dict] = field(default_factory=list)
    file_order: bool = False
    # The protected table `setup` builds (aggregates): the same for every license of the offer
    # over the same version, whatever its scope, so a worker may keep it (extracts' cache).
    released: str = ""


class PlanError(ValueError):
    """The scope names something the offer or schema does not allow."""


# --- dialects ------------------------------------------------------------------------------------

_MARKER = re.compile("\x00([0-9]+)\x00")


class Dialect:
    """How a records plan or an aggregate's statistics are spelled for one engine: DuckDB's SQL
    here, Spark SQL's in catalog.spark. Values are bound with `bind`, which returns a marker;
    `positional` turns the markers into DuckDB's "?" in the order the text holds them, so an
    expression may bind its values in any order (a pseudonym binds its pads around the period
    it takes)."""

    text = "VARCHAR"

    def __init__(self) -> None:
        self.values: list = []

    def q(self, name: str) -> str:
        return ident(self.checked(name))

    @staticmethod
    def checked(name: str) -> str:
        """`name`, which may not hold a NUL character (the markers are made of them)."""
        if "\x00" in name:
            raise PlanError("a column name holds a NUL character; rename the column")
        return name

    def bind(self, value) -> str:
        self.values.append(value)
        return f"\x00{len(self.values) - 1}\x00"

    def hmac(self, text_sql: str, key: bytes, *, license_key: bool = True) -> str:
        """HMAC-SHA-256 of the text `text_sql` under `key` (see hmac_sql), the pads bound (an
        engine may bind a license key's pads later, from the license: `license_key`)."""
        inner, outer = hmac_pads(key)
        return hmac_sql(text_sql, self.bind(outer), self.bind(inner))

    def hex_number(self, hex_sql: str) -> str:
        """The number the first 8 hex digits of `hex_sql` spell."""
        return f"CAST(('0x' || substr({hex_sql}, 1, 8)) AS BIGINT)"

    def signature(self, tup: str) -> str:
        return multiset_signature_sql(tup)

    def truncated(self, unit: str, expr: str, *, to_date: bool) -> str:
        """`expr` cut to the `unit` (hour, day, week from Monday, month): a date when `to_date`,
        else a timestamp without time zone."""
        cut = f"date_trunc({self.bind(unit)}, {expr})"
        return f"CAST({cut} AS DATE)" if to_date else cut

    def scan(self, parquet: str | list[str]) -> str:
        return _scan(parquet).replace("?", self.bind(parquet), 1)

    def hash(self, *columns: str) -> str:
        """A 64-bit hash of `columns`, to tell values apart (not the same in every engine)."""
        return f"hash({', '.join(columns)})"

    def record_key(self, hex_sql: str) -> str:
        """The unsigned 64-bit number the first 16 hex digits of `hex_sql` spell."""
        return f"CAST(('0x' || substr({hex_sql}, 1, 16)) AS UBIGINT)"

    def cell_key(self, record_key: str) -> str:
        """The XOR of `record_key` over a cell's rows, one per subject (see stats_select), as an
        unsigned 64-bit number."""
        return f"bit_xor({record_key})"

    def top_two(self, column: str) -> str:
        """The two largest values of `column`, largest first, as a list."""
        return f"max({column}, 2)"

    def source(self, virtual: str) -> str:
        """The scan's source-order column `virtual` (SOURCE_ROW_COLUMN, SOURCE_FILE_INDEX…)."""
        return virtual

    def positional(self, texts: list[str]) -> tuple[list[str], list]:
        """`texts` with "?" for each marker, and the bound values in the order they appear."""
        values: list = []

        def placeholder(match: re.Match) -> str:
            values.append(self.values[int(match.group(1))])
            return "?"

        return [_MARKER.sub(placeholder, text) for text in texts], values


def run_setup(con, steps: list[dict], max_rounds: int = 100) -> None:
    """Run a plan's `setup` statements on `con` (see Plan)."""
    for step in steps:
        for _round in range(max_rounds if step.get("repeat") else 1):
            changed = con.execute(step["sql"], step.get("params") or []).fetchall()
            if not step.get("repeat") or not changed or not changed[0][0]:
                break
        else:
            raise PlanError("secondary suppression did not settle")


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC's inner and outer pads for `key`, as hex, to bind into the SQL expression.
    Keys longer than the SHA-256 block are hashed first, as RFC 2104 says."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


# Where a statement binds a license key's HMAC pads, a stored recipe or Spark stage holds this
# placeholder instead ({KEY_PAD: "inner"|"outer"}): the pads are derived from the key when the
# statement runs (`pads_bound`), so what is stored carries no key material.
KEY_PAD = "key_pad"


def is_pad(value) -> bool:
    return isinstance(value, dict) and KEY_PAD in value


def pads_bound(values: list, key: bytes) -> list:
    """`values` with each pad placeholder replaced by `key`'s HMAC pad."""
    inner, outer = hmac_pads(key)
    pads = {"inner": inner, "outer": outer}
    return [pads[v[KEY_PAD]] if is_pad(v) else v for v in values]


def hmac_sql(column_sql: str, outer: str = "?", inner: str = "?") -> str:
    """HMAC-SHA-256 of a column's text in SQL (RFC 2104): sha256(opad || sha256(ipad || m)),
    as 64 lowercase hex digits; NULL stays NULL. By default bind the outer pad, then the inner
    pad; `outer`/`inner` may name columns holding the hex pads instead."""
    return f"sha256(unhex({outer}) || unhex(sha256(unhex({inner}) || encode(CAST({column_sql} AS VARCHAR)))))"


def pseudonym(key: bytes, value) -> str:
    """What `hmac_sql` computes, in Python: HMAC-SHA-256 of `str(value)` under `key`."""
    import hmac

    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()


def plan(
    *,
    parquet: str | list[str],
    schema: list[Column],
    policy: OfferPolicy,
    scope: dict,
    key: bytes,
    limit: int | None = None,
    noise_seed: str = "",
) -> Plan:
    """The statements that deliver `scope` of `policy` from `parquet` under the privacy rules.

    `scope` is `{"fields": [...], "regions": [...], "date_from": "YYYY-MM-DD", "date_to": ...}`;
    empty keys mean everything the offer allows. Record fields outside the offer or the schema
    are dropped, never delivered; an aggregate always has all its dimensions. `noise_seed`
    (aggregates) fixes the cell-key noise: the same seed gives the same noise to the same cell.
    Raises PlanError when nothing deliverable is left or a scope value is malformed.
    """
    if not isinstance(policy, OfferPolicy):
        raise TypeError("plan() takes an OfferPolicy")
    columns = {c.name: c for c in schema}
    fields = scope.get("fields")
    if fields is not None and (
        not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields)
    ):
        raise PlanError("fields must be a list of column names")
    if policy.is_aggregate:
        result = _aggregate_plan(parquet, columns, policy, scope, noise_seed)
    else:
        result = _records_plan(parquet, columns, policy, scope, key)
    if limit is not None:
        result.sql += f" LIMIT {int(limit)}"
    return result


def _readable(columns: dict[str, Column], name: str | None, what: str, *, identifier_ok: bool) -> str | None:
    """A column the plan may read besides the output (filter, subject, contributor): in the
    schema and never excluded. Filters may not use identifiers either (a scope would otherwise
    pick out single cards)."""
    if not name:
        return None
    if name not in columns:
        raise PlanError(f"the offer's {what} {name!r} is not in this version's data")
    allowed = (PUBLIC, QUASI_IDENTIFIER, IDENTIFIER) if identifier_ok else (PUBLIC, QUASI_IDENTIFIER)
    if columns[name].sensitivity not in allowed:
        raise PlanError(f"the offer's {what} {name!r} cannot be read under its sensitivity")
    return name


def _day(value, key: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PlanError(f"{key} is not a date (YYYY-MM-DD): {value!r}") from exc


def _region_condition(
    columns, policy: OfferPolicy, scope: dict, d: Dialect, target: str | None = None
) -> list[str]:
    regions = scope.get("regions") or []
    if not regions:
        return []
    region_field = _readable(columns, policy.region_field, "region field", identifier_ok=False)
    if not region_field:
        raise PlanError("the offer has no region filter")
    if not isinstance(regions, list | tuple) or any(isinstance(r, dict | list) for r in regions):
        raise PlanError("regions must be a list of values")
    target = target or d.q(region_field)
    if columns[region_field].type != "string":
        target = f"CAST({target} AS {d.text})"
    return [f"{target} IN ({', '.join(d.bind(str(r)) for r in regions)})"]


def _region_filter(columns, policy: OfferPolicy, scope: dict, target: str | None = None) -> tuple[list, list]:
    d = Dialect()
    return d.positional(_region_condition(columns, policy, scope, d, target))


def _conditions(columns: dict[str, Column], policy: OfferPolicy, scope: dict, d: Dialect) -> list[str]:
    """WHERE conditions of a records plan (inclusive dates), values bound through `d`."""
    where = _region_condition(columns, policy, scope, d)
    date_from, date_to = _day(scope.get("date_from"), "date_from"), _day(scope.get("date_to"), "date_to")
    if date_from or date_to:
        date_field = _readable(columns, policy.date_field, "date field", identifier_ok=False)
        if not date_field:
            raise PlanError("the offer has no date filter")
        if date_from and date_to and date_from > date_to:
            raise PlanError("the date window is empty")
        if date_from:
            where.append(f"{d.q(date_field)} >= CAST({d.bind(date_from.isoformat())} AS DATE)")
        if date_to:  # inclusive end date: everything before the next day
            next_day = (date_to + timedelta(days=1)).isoformat()
            where.append(f"{d.q(date_field)} < CAST({d.bind(next_day)} AS DATE)")
    return where


def _many_files(parquet: str | list[str]) -> bool:
    """Whether `parquet` names several files: a list (a partitioned version's files) or a glob."""
    if isinstance(parquet, list | tuple):
        return len(parquet) != 1
    return any(c in parquet for c in "*?[")


def source_files(parquet: str | list[str]) -> list[str]:
    """The files a plan's `parquet` names (one path, or a version's partition files), as a list."""
    return [parquet] if isinstance(parquet, str) else list(parquet)


def _scan(parquet: str | list[str]) -> str:
    """The table function over `parquet` (bound as its parameter). Partition files hold the
    table's columns only; their directory names (`period=2024-01/`) are not read as columns."""
    if isinstance(parquet, list | tuple):
        return "read_parquet(?, hive_partitioning = false)"
    return "read_parquet(?)"


def _deliverable(columns, policy: OfferPolicy, scope, key) -> tuple[list, list, list]:
    """The requested columns the offer can deliver: names, output types, text columns."""
    offered = [f for f in policy.fields if f in columns]
    requested = scope.get("fields") or offered
    names, types, text = [], [], []
    for name in dict.fromkeys(requested):
        if name not in offered:
            continue
        col = columns[name]
        if col.sensitivity == IDENTIFIER:
            if not key:
                raise PlanError("identifiers are delivered only under a license key")
            types.append("string")
        elif col.sensitivity == PUBLIC or (
            col.sensitivity == QUASI_IDENTIFIER and policy.quasi_identifiers_allowed
        ):
            types.append(col.type)
            if col.type == "string":
                text.append(name)
        else:
            continue
        names.append(name)
    if not names:
        raise PlanError("nothing in the scope can be delivered")
    return names, types, text


def _source_order_keys(parquet, columns, names) -> dict:
    """Source order through DuckDB's virtual columns: the row's position in its file, and the
    file when the path is a glob over partitions. Should the data have a column of that name
    (which hides the virtual one), every output column orders the rows instead ({}): identical
    rows are identical bytes, so the file is still the same every time."""
    keys = {"__source_row": SOURCE_ROW_COLUMN}
    if isinstance(parquet, list | tuple):  # partition files: their place in the (sorted) list
        keys = {"__source_file": SOURCE_FILE_INDEX, **keys}
    elif _many_files(parquet):
        keys = {"__source_file": SOURCE_FILE_COLUMN, **keys}
    if {SOURCE_ROW_COLUMN, SOURCE_FILE_COLUMN, SOURCE_FILE_INDEX} & columns.keys() or keys.keys() & set(
        names
    ):
        return {}
    return keys


@dataclass
class RecordsSql:
    """A records plan's statements in one engine's dialect, values still as `Dialect` markers:
    `sql` the output columns, `body` those and the hidden order keys (see Plan)."""

    sql: str
    body: str
    columns: list[str]
    types: list[str]
    text_columns: list[str]
    order_by: list[str]
    file_order: bool = False


def _records_plan(parquet, columns, policy: OfferPolicy, scope, key) -> Plan:
    d = Dialect()
    records = records_sql(parquet, columns, policy, scope, key, d)
    (sql,), params = d.positional([records.sql])
    (body,), _same = d.positional([records.body])  # the statement plus hidden columns
    return Plan(
        sql=sql,
        params=params,
        columns=records.columns,
        types=records.types,
        text_columns=records.text_columns,
        body=body,
        order_by=records.order_by,
        file_order=records.file_order,
    )


def records_sql(parquet, columns, policy: OfferPolicy, scope, key, d: Dialect) -> RecordsSql:
    """A records plan (treated or not) spelled in `d`: DuckDB's `Dialect`, or Spark SQL's
    (catalog.spark), whose source is the scan of the same files."""
    names, types, text = _deliverable(columns, policy, scope, key)
    where = _conditions(columns, policy, scope, d)
    keys = _source_order_keys(parquet, columns, names)
    if policy.treatments.any:
        return _treated_records_sql(parquet, columns, policy, key, (names, types, text), where, keys, d)
    select = [
        f"{d.hmac(d.q(name), key)} AS {d.q(name)}" if columns[name].sensitivity == IDENTIFIER else d.q(name)
        for name in names
    ]
    condition = (" WHERE " + " AND ".join(where)) if where else ""
    hidden = [f"{d.source(virtual)} AS {alias}" for alias, virtual in keys.items()]
    scan = d.scan(parquet)
    return RecordsSql(
        sql=f"SELECT {', '.join(select)} FROM {scan}{condition}",
        body=f"SELECT {', '.join(select + hidden)} FROM {scan}{condition}",
        columns=names,
        types=types,
        text_columns=text,
        order_by=list(keys) or list(names),
        file_order=True,
    )


def multiset_signature_sql(tup: str) -> str:
    """An aggregate giving one text per multiset of the row texts `tup` (a subject's whole
    trajectory), whatever their order: the count and two independent 64-bit hash sums (128
    bits; two different trajectories share one with odds near 2^-128 per pair). Unlike an
    ordered string_agg it needs no sort per group and spills, so it holds at 20 M rows in 1 GB."""
    return (
        f"CAST(count(*) AS VARCHAR) || ':' || CAST(sum(hash({tup})) AS VARCHAR) || ':'"
        f" || CAST(sum(hash({tup} || chr(28))) AS VARCHAR)"
    )


def _tuple_sql(names: list[str], d: Dialect) -> str:
    """One text value for a row's `names` (NULL kept apart from every value)."""
    return " || chr(30) || ".join(f"coalesce(CAST({d.q(n)} AS {d.text}), chr(29))" for n in names)


def _sampled_source(parquet, policy, key, names, where, keys, d: Dialect) -> str:
    """Step 1 of a treated plan: the source rows in scope (and in this license's sample), raw
    values of what is needed, with the hidden row-order columns."""
    treat = policy.treatments
    raw = list(dict.fromkeys(names + ([policy.date_field] if treat.pseudonym_period else [])))
    condition = list(where)
    if treat.samples:
        if not key:
            raise PlanError("a per-license sample needs the license key")
        if policy.sample_by == "values":  # the row's values, wherever the file puts it
            draw = d.hmac("'sample-values' || chr(31) || " + _tuple_sql(raw, d), key)
        else:  # the row's place: its file and its row in it
            row_id = " || chr(31) || ".join(
                f"CAST({d.source(v)} AS {d.text})" for v in reversed(keys.values())
            )
            draw = d.hmac("'sample' || chr(31) || " + row_id, key)
        condition.append(f"{d.hex_number(draw)} % 10000 < {d.bind(treat.sample_percent * 100)}")
    source_select = [d.q(n) for n in raw] + [
        f"{d.source(virtual)} AS {alias}" for alias, virtual in keys.items()
    ]
    src = f"SELECT {', '.join(source_select)} FROM {d.scan(parquet)}"
    if condition:
        src += " WHERE " + " AND ".join(condition)
    return src


def _treated_column(name, col, policy, key, d: Dialect) -> str:
    """Step 2 for one column: coarsened time, rounded and top-coded amounts, or a pseudonym
    (renewed per period)."""
    treat, expr = policy.treatments, d.q(name)
    if col.sensitivity == IDENTIFIER:
        text_in = f"CAST({expr} AS {d.text})"
        if treat.pseudonym_period:
            period = d.truncated(treat.pseudonym_period, d.q(policy.date_field), to_date=True)
            text_in = f"{text_in} || chr(31) || coalesce(CAST({period} AS {d.text}), '')"
        return f"{d.hmac(text_in, key)} AS {expr}"
    if treat.time_unit and col.type in ("date", "datetime"):
        # A date stays a date (DuckDB's date_trunc gives a timestamp); a datetime becomes one
        # unless cut to the hour.
        to_date = col.type == "date" or treat.time_unit != "hour"
        return f"{d.truncated(treat.time_unit, expr, to_date=to_date)} AS {expr}"
    if name in treat.amount_fields and (treat.amount_round or treat.amount_top):
        value = f"CAST({expr} AS DOUBLE)"
        if treat.amount_round:
            value = f"round({value} / {d.bind(treat.amount_round)}) * {d.bind(treat.amount_round)}"
        if treat.amount_top:
            value = f"greatest(least({value}, {d.bind(treat.amount_top)}), -{d.bind(treat.amount_top)})"
        cast = "BIGINT" if col.type == "integer" else "DOUBLE"
        return f"CAST({value} AS {cast}) AS {expr}"
    return expr


def _local_suppression(treat, names, qis, hidden, last, ctes, d: Dialect) -> str:
    """Step 3: values of `suppress_first`, then whole rows, until k-anonymous. Appends to
    `ctes`; returns the name of the last CTE."""
    by = ", ".join(d.q(n) for n in qis)
    first = [n for n in treat.suppress_first if n in qis]
    relaxed = [
        f"CASE WHEN __n < {d.bind(treat.suppress_k)} THEN NULL ELSE {d.q(n)} END AS {d.q(n)}"
        if n in first
        else d.q(n)
        for n in names
    ]
    ctes.append(f"__counted AS (SELECT *, count(*) OVER (PARTITION BY {by}) AS __n FROM {last})")
    ctes.append(f"__relaxed AS (SELECT {', '.join(relaxed + hidden)} FROM __counted)")
    ctes.append(
        f"__kanon AS (SELECT {', '.join([d.q(n) for n in names + hidden])} FROM"
        f" (SELECT *, count(*) OVER (PARTITION BY {by}) AS __n FROM __relaxed)"
        f" WHERE __n >= {d.bind(treat.suppress_k)})"
    )
    return "__kanon"


def _trajectory_suppression(treat, subject, names, hidden, last, ctes, d: Dialect) -> str:
    """Step 4: a pseudonym survives only if k subjects share its whole rows. Appends to
    `ctes`; returns the name of the last CTE."""
    others = [n for n in names if n != subject]
    tup = _tuple_sql(others, d) if others else "''"
    s = d.q(subject)
    ctes.append(
        f"__traj AS (SELECT {s} AS __s, {d.signature(tup)} AS __sig FROM {last}"
        f" WHERE {s} IS NOT NULL GROUP BY {s})"
    )
    ctes.append(
        "__kept AS (SELECT __s FROM __traj WHERE __sig IN"
        f" (SELECT __sig FROM __traj GROUP BY __sig HAVING count(*) >= {d.bind(treat.trajectory_k)}))"
    )
    out = [
        f"CASE WHEN __kept.__s IS NULL THEN NULL ELSE {last}.{d.q(n)} END AS {d.q(n)}"
        if n == subject
        else f"{last}.{d.q(n)}"
        for n in names
    ]
    ctes.append(
        f"__final AS (SELECT {', '.join(out + [f'{last}.{h}' for h in hidden])} FROM {last}"
        f" LEFT JOIN __kept ON __kept.__s = {last}.{s})"
    )
    return "__final"


def _treated_records_sql(parquet, columns, policy, key, deliverable, where, keys, d: Dialect) -> RecordsSql:
    """A records plan with `policy.treatments` applied (see catalog.treatments), as one statement
    of chained CTEs; every value is bound."""
    names, types, text = deliverable
    treat = policy.treatments
    if treat.samples and not keys and policy.sample_by == "position":
        raise PlanError("sampling needs the source row order, hidden by a column of the data")
    hidden = list(keys)
    src = _sampled_source(parquet, policy, key, names, where, keys, d)
    treated = [_treated_column(name, columns[name], policy, key, d) for name in names]
    ctes = [f"__src AS ({src})", f"__treated AS (SELECT {', '.join(treated + hidden)} FROM __src)"]
    last = "__treated"
    qis = [n for n in names if columns[n].sensitivity != IDENTIFIER]
    if treat.suppress_k and qis:
        last = _local_suppression(treat, names, qis, hidden, last, ctes, d)
    if treat.trajectory_k and policy.subject_field in names:
        last = _trajectory_suppression(treat, policy.subject_field, names, hidden, last, ctes, d)
    with_clause = "WITH " + ", ".join(ctes)
    coarsened = treat.time_unit and treat.time_unit != "hour"
    out_types = [
        "date" if coarsened and t == "datetime" and columns[n].sensitivity != IDENTIFIER else t
        for n, t in zip(names, types, strict=True)
    ]
    return RecordsSql(
        sql=f"{with_clause} SELECT {', '.join(d.q(n) for n in names)} FROM {last}",
        body=f"{with_clause} SELECT {', '.join([d.q(n) for n in names + hidden])} FROM {last}",
        columns=names,
        types=out_types,
        text_columns=text,
        order_by=hidden or list(names),
        file_order=last == "__treated",  # no suppression step: projections and filters only
    )


# --- aggregates ----------------------------------------------------------------------------------

# Cell-key noise (the ABS / Destatis cell-key method): every subject gets a record key, a keyed
# hash of its value; a cell's key is the XOR of its distinct subjects' record keys, so the same
# set of subjects always gets the same noise, in any table and for any buyer, and rebuilds stay
# byte-identical. Counts move by a small integer drawn from this cumulative p-table (mean 0,
# variance 0.9); sums by up to NOISE_SHARE of the cell's largest subject contribution, drawn from
# a triangular distribution on [-1, 1] (mean 0).
COUNT_NOISE = ((0.05, -2), (0.25, -1), (0.75, 0), (0.95, 1), (1.0, 2))
NOISE_SHARE = 0.2
_UNIT = 1_000_000  # resolution of the uniform draws taken from a cell key
# A seed starting with this draws record keys with HMAC-SHA-256 (`record_key`), which any engine
# computes alike, so a protected table's cell keys can be summed up on Spark. Other seeds (every
# version released before it) keep DuckDB's hash(), so their released noise never changes.
KEYED_NOISE = "keyed:"


@dataclass(frozen=True)
class _Shape:
    """An aggregate offer's table read against a version's schema."""

    dims: list[str]
    measures: list  # of policy.Measure
    subject: str | None
    contributor: str | None
    unit: str
    date_dims: frozenset[str]
    types: dict[str, str]  # catalog type of every dimension and measure column

    @property
    def weighted(self) -> list[int]:
        """Indexes of the measures that add values up (the p% and dominance rules apply)."""
        return [j for j, m in enumerate(self.measures) if m.agg in ("sum", "avg")]


def _aggregate_shape(columns: dict[str, Column], policy: OfferPolicy) -> _Shape:
    dims = [
        d for d in policy.dimensions if d in columns and columns[d].sensitivity in (PUBLIC, QUASI_IDENTIFIER)
    ]
    if len(dims) != len(policy.dimensions) or not dims:
        raise PlanError("the offer's dimensions are not all in this version's data")
    for m in policy.measures:
        column = columns.get(m.field)
        if column is None or column.sensitivity != PUBLIC or m.agg not in AGGREGATES:
            raise PlanError(f"the measure {m.output_name} cannot be computed from this version's data")
        if column.type not in ("integer", "number"):
            raise PlanError(f"the measure {m.output_name} needs a numeric column")
        if m.agg in ("min", "max") and not policy.extremes_allowed:
            raise PlanError(f"the offer does not allow {m.agg} values")
    if policy.date_granularity not in GRANULARITIES:
        raise PlanError(f"unknown date granularity {policy.date_granularity!r}")
    if not policy.subject_field and any(c.sensitivity == IDENTIFIER for c in columns.values()):
        raise PlanError("an aggregate over data with identifiers must name its subject")
    if not policy.subject_field and SOURCE_ROW_COLUMN in columns:
        raise PlanError(f"name a subject: a column called {SOURCE_ROW_COLUMN} hides the record number")
    if policy.k < K_MIN:
        raise PlanError(f"k must be at least {K_MIN}")
    names = [*dims, *(m.output_name for m in policy.measures), "records", "suppressed"]
    if len(set(names)) != len(names):
        raise PlanError("two output columns would have the same name")
    return _Shape(
        dims=dims,
        measures=list(policy.measures),
        subject=_readable(columns, policy.subject_field, "subject field", identifier_ok=True),
        contributor=_readable(columns, policy.dominance_field, "dominance field", identifier_ok=True),
        unit=policy.date_granularity,
        date_dims=frozenset(
            d for d in dims if d == policy.date_field or columns[d].type in ("date", "datetime")
        ),
        types={name: columns[name].type for name in [*dims, *(m.field for m in policy.measures)]},
    )


def _table_name(parquet: str | list[str], policy: OfferPolicy, noise_seed: str) -> str:
    digest = hashlib.sha256(repr((parquet, policy.to_snapshot(), noise_seed)).encode()).hexdigest()
    return f"__released_{digest[:16]}"


def _seed_number(seed: str, salt: str = "") -> int:
    """A 64-bit number from a text seed."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{seed}".encode()).digest()[:8], "big")


def _uniform(cell_key: str, draw: int) -> str:
    """A uniform draw in [0, 1) from a cell key; `draw` picks an independent one."""
    salt = _seed_number(str(draw), "draw")
    return f"((hash(xor({cell_key}, {salt}::UBIGINT)) % {_UNIT}) / {_UNIT}.0)"


def _count_noise(cell_key: str) -> str:
    u = _uniform(cell_key, 0)
    arms = " ".join(f"WHEN {u} < {p!r} THEN {n}" for p, n in COUNT_NOISE[:-1])
    return f"(CASE {arms} ELSE {COUNT_NOISE[-1][1]} END)"


def _sensitive(top: str, total: str, policy: OfferPolicy) -> str:
    """The p% rule and the (2, c) dominance rule on a cell's contributions: `top` is the list of
    its two largest absolute net contributions, `total` the sum of all of them. A cell with one
    or two contributors always fails: each of two could subtract its own share."""
    x1, x2 = f"coalesce({top}[1], 0)", f"coalesce({top}[2], 0)"
    return (
        f"(coalesce({total}, 0) > 0 AND ({total} - {x1} - {x2} < {policy.p!r} * {x1}"
        f" OR {x1} + {x2} > {float(policy.dominance)!r} * {total}))"
    )


def base_select(parquet: str | list[str], shape: _Shape, noise_seed: str, d: Dialect) -> str:
    """One row per record: dimension values (dates truncated to the period), measures (sums as
    exact decimals), hashed subject (`__s`), its record key (`__rk`) and hashed contributor
    (`__c`), in DuckDB's SQL or Spark's (`d`; the hashes only tell values apart, so each engine
    uses its own; the record key is the same in both only under a keyed seed)."""
    q = d.q
    select = []
    for i, name in enumerate(shape.dims):
        if name in shape.date_dims:
            select.append(f"CAST(date_trunc('{shape.unit}', CAST({q(name)} AS DATE)) AS DATE) AS __d{i}")
        else:
            select.append(f"{q(name)} AS __d{i}")
    for j, m in enumerate(shape.measures):
        exact = m.agg in ("sum", "avg") and shape.types[m.field] == "number"
        select.append(f"{f'CAST({q(m.field)} AS {EXACT_DECIMAL})' if exact else q(m.field)} AS __m{j}")
    row, file = d.source(SOURCE_ROW_COLUMN), d.source(SOURCE_FILE_INDEX)
    if shape.subject:
        subject = f"CASE WHEN {q(shape.subject)} IS NULL THEN NULL ELSE {d.hash(q(shape.subject))} END"
        subject_text = f"CAST({q(shape.subject)} AS {d.text})"
    elif isinstance(parquet, list | tuple):  # no subject column: every record is its own subject
        subject = d.hash(file, row)  # row numbers restart per file
        subject_text = f"CAST({row} AS {d.text}) || chr(31) || CAST({file} AS {d.text})"
    else:
        subject = d.hash(row)
        subject_text = f"CAST({row} AS {d.text})"
    select.append(f"{subject} AS __s")
    scan = d.scan(parquet)
    if noise_seed.startswith(KEYED_NOISE):
        record_key, scan = _keyed_record_key(parquet, shape, noise_seed, subject_text, scan, d)
        select.append(f"{record_key} AS __rk")
    else:
        select.append(
            # hash(a, b) only combines two hashes (the seed would cancel out of an XOR over an
            # even number of subjects): the record key hashes the subject's hash XOR the seed.
            f"CASE WHEN {subject} IS NULL THEN NULL ELSE"
            f" hash(xor({subject}, CAST({d.bind(_seed_number(noise_seed))} AS UBIGINT))) END AS __rk"
        )
    select.append(f"{d.hash(q(shape.contributor))} AS __c" if shape.contributor else f"{subject} AS __c")
    return f"SELECT {', '.join(select)} FROM {scan}"


def _keyed_record_key(parquet, shape: _Shape, noise_seed: str, subject_text: str, scan: str, d: Dialect):
    """The record key any engine computes alike (the first 64 bits of HMAC-SHA-256 of the
    subject's text under the seed; NULL stays NULL), and the source (`scan`, the records) to
    select it from. A subject column's keys are computed once per distinct subject (a second
    scan of `parquet`) and joined: two SHA-256 per record cost more than the rest of the table."""
    key = hashlib.sha256(noise_seed.encode()).digest()
    if not shape.subject:  # each record its own subject
        return d.record_key(d.hmac(subject_text, key, license_key=False)), scan
    subject = d.q(shape.subject)
    keyed = d.record_key(d.hmac(f"CAST(__k AS {d.text})", key, license_key=False))
    subjects = f"SELECT DISTINCT {subject} AS __k FROM {d.scan(parquet)}"
    keys = f"(SELECT __k, {keyed} AS __rk FROM ({subjects}) AS subjects)"
    return "__keys.__rk", f"{scan} LEFT JOIN {keys} AS __keys ON {subject} = __keys.__k"


def _base_step(parquet: str | list[str], shape: _Shape, noise_seed: str, base: str) -> dict:
    d = Dialect()
    (select,), params = d.positional([base_select(parquet, shape, noise_seed, d)])
    return {"sql": f"CREATE OR REPLACE TEMP TABLE {base} AS {select}", "params": params}


def record_key(noise_seed: str, subject_text: str) -> int:
    """The record key of a subject under a keyed seed (KEYED_NOISE), as the plan computes it:
    what any engine holding the seed gets for the subject's text."""
    import hmac

    key = hashlib.sha256(noise_seed.encode()).digest()
    return int(hmac.new(key, subject_text.encode(), hashlib.sha256).hexdigest()[:16], 16)


def stats_select(shape: _Shape, base: str, d: Dialect, *, keyed: bool) -> str:
    """One row per cell of the records in `base` (see base_select): counts, the cell key, the
    values, and for each weighted measure the two largest absolute net contributions and their
    total per contributor (`__ctop{j}`, `__ctot{j}`) and per subject (`__stop{j}`, `__stot{j}`).
    The part of protection that reads every record, in DuckDB's SQL or Spark's (`d`). A keyed
    table carries its averages as sums and counts (`__n{j}`), which both engines add up exactly;
    the rules step divides.

    Subjects, contributors and the cell key (the XOR of the cell's distinct record keys) come
    from the records grouped by cell and subject, and by cell and contributor, rather than from
    DISTINCT aggregates over the records: the same numbers (a record key is a function of its
    subject; `tests/catalog/test_privacy_stats.py` compares the two forms), in about half the
    time at 20 M and 60 M rows; the DISTINCT form once ran out of DuckDB's 1 GB at 60 M rows
    (`bench/extract_task.py --rows 60000000`)."""
    d_cols = [f"__d{i}" for i in range(len(shape.dims))]
    dims = ", ".join(d_cols)
    aggs = ["count(*) AS __records"]
    for j, m in enumerate(shape.measures):
        if keyed and m.agg == "avg":
            aggs += [f"sum(__m{j}) AS __v{j}", f"count(__m{j}) AS __n{j}"]
        else:
            aggs.append(f"{m.agg}(__m{j}) AS __v{j}")
    aggs += [f"sum(__m{j}) AS __t{j}" for j in shape.weighted]
    cells = f"SELECT {dims}, {', '.join(aggs)} FROM {base} GROUP BY {dims}"
    nets = [f"abs(sum(__m{j})) AS __a{j}" for j in shape.weighted]
    joins, picked = "", []
    sides = (  # (alias, key, per key, per cell as (expression, name))
        ("c", "__c", [], [("count(__c)", "__contributors")]),
        ("s", "__s", ["min(__rk) AS __rk"], [("count(__s)", "__subjects"), (d.cell_key("__rk"), "__ck")]),
    )
    for who, key, inner, outer in sides:
        for j in shape.weighted:
            outer = [*outer, (d.top_two(f"__a{j}"), f"__{who}top{j}"), (f"sum(__a{j})", f"__{who}tot{j}")]
        grouped = f"SELECT {', '.join([dims, key, *inner, *nets])} FROM {base} GROUP BY {dims}, {key}"
        summary = ", ".join(f"{expr} AS {name}" for expr, name in outer)
        on = " AND ".join(f"cells.{x} IS NOT DISTINCT FROM {who}.{x}" for x in d_cols)
        joins += (
            f" LEFT JOIN (SELECT {dims}, {summary} FROM ({grouped}) AS nets GROUP BY {dims}) AS {who} ON {on}"
        )
        picked += [f"{who}.{name}" for _, name in outer]
    return f"SELECT cells.*, {', '.join(picked)} FROM ({cells}) AS cells{joins}"


def stats_statement(parquet, schema: list[Column], policy: OfferPolicy, noise_seed: str, d: Dialect) -> str:
    """The per-cell statistics of an aggregate's protected table as one statement in `d`
    (Spark's stage): what `released_table(stats=…)` continues from."""
    shape = _aggregate_shape({c.name: c for c in schema}, policy)
    base = base_select(parquet, shape, noise_seed, d)
    summed = stats_select(shape, "__base", d, keyed=noise_seed.startswith(KEYED_NOISE))
    return f"WITH __base AS ({base}) {summed}"


def _rules_step(shape: _Shape, policy: OfferPolicy, stats: str, cells: str, *, keyed: bool) -> dict:
    """One row per cell, from `stats` (see stats_select): its place (`__id`), counts, values,
    the cell key, the largest subject contribution of each weighted measure (`__x{j}`, the
    noise's scale) and the primary suppression flag `__sup`."""
    dims = [f"__d{i}" for i in range(len(shape.dims))]
    values = [
        f"CAST(__v{j} AS DOUBLE) / nullif(__n{j}, 0) AS __v{j}" if keyed and m.agg == "avg" else f"__v{j}"
        for j, m in enumerate(shape.measures)
    ]
    rules = [f"__subjects < {int(policy.k)}"]
    rules += [_sensitive(f"__{who}top{j}", f"__{who}tot{j}", policy) for who in "cs" for j in shape.weighted]
    select = [
        f"row_number() OVER (ORDER BY {', '.join(dims)}) AS __id",
        *dims,
        "__records",
        "__subjects",
        "__contributors",
        "CAST(__ck AS UBIGINT) AS __ck",  # Spark hands it over as a DECIMAL(20, 0)
        *values,
        *(f"__t{j}" for j in shape.weighted),
        *(f"coalesce(__stop{j}[1], 0) AS __x{j}" for j in shape.weighted),
        f"({' OR '.join(rules)}) AS __sup",
    ]
    return {
        "sql": f"CREATE OR REPLACE TEMP TABLE {cells} AS SELECT {', '.join(select)} FROM {stats}",
        "params": [],
    }


def _secondary_step(cells: str, ndims: int) -> dict:
    """Secondary suppression, one round (run until it changes nothing). A line is the cells that
    share every dimension value but one; its total is taken as public (another table or a
    statistics page may publish it). A line with exactly one suppressed cell would give that
    cell away, and so would a line with two where one belongs to a single contributor (who knows
    their own value). Such a line gets one more suppressed cell: the one that opens the fewest
    new lines with a single suppressed cell in the other dimensions (so suppressions close into
    rectangles, as in the hypercube method, instead of cascading), then the one with the fewest
    subjects, ties broken by position so that every run picks the same."""
    d = [f"__d{j}" for j in range(ndims)]

    def line(i: int) -> str:
        others = [x for j, x in enumerate(d) if j != i]
        return f"PARTITION BY {', '.join(others)}" if others else ""

    counts = []
    for i in range(ndims):
        counts.append(f"count(*) FILTER (WHERE __sup) OVER ({line(i)}) AS __s{i}")
        counts.append(f"count(*) FILTER (WHERE __sup AND __contributors <= 1) OVER ({line(i)}) AS __g{i}")
    lines = f"SELECT __id, __sup, __subjects, __records, {', '.join(d)}, {', '.join(counts)} FROM {cells}"
    picks = []
    for i in range(ndims):
        opened = " + ".join(f"CAST(__s{j} = 0 AS INTEGER)" for j in range(ndims) if j != i) or "0"
        picks.append(
            f"SELECT __id FROM (SELECT __id, __s{i}, __g{i}, row_number() OVER ({line(i)}"
            f" ORDER BY {opened}, __subjects, __records, __id) AS pick FROM __lines WHERE NOT __sup)"
            f" WHERE pick = 1 AND (__s{i} = 1 OR (__s{i} = 2 AND __g{i} > 0))"
        )
    chosen = f"WITH __lines AS MATERIALIZED ({lines}) {' UNION '.join(picks)}"
    return {"sql": f"UPDATE {cells} SET __sup = true WHERE __id IN ({chosen})", "params": []}


def _release_step(shape: _Shape, cells: str, table: str) -> dict:
    """Released values: NULL where suppressed, cell-key noise elsewhere."""
    out = [f"__d{i} AS {ident(name)}" for i, name in enumerate(shape.dims)]
    out.append(f'CASE WHEN __sup THEN NULL ELSE __records + {_count_noise("__ck")} END AS "records"')
    for j, m in enumerate(shape.measures):
        if m.agg in ("min", "max"):
            value = f"__v{j}"
        else:
            eta = f"({_uniform('__ck', 2 * j + 1)} + {_uniform('__ck', 2 * j + 2)} - 1)"
            noise = f"({NOISE_SHARE!r} * CAST(__x{j} AS DOUBLE) * {eta})"
            if m.agg == "sum" and shape.types[m.field] == "integer":
                value = f"CAST(round(CAST(__v{j} AS DOUBLE) + {noise}) AS BIGINT)"
            elif m.agg == "sum":
                value = f"CAST(__v{j} AS DOUBLE) + {noise}"
            else:  # avg: the relative noise of the underlying sum, so averages agree with sums
                value = f"CAST(__v{j} AS DOUBLE) * (1 + {noise} / nullif(CAST(__t{j} AS DOUBLE), 0))"
        out.append(f"CASE WHEN __sup THEN NULL ELSE {value} END AS {ident(m.output_name)}")
    out.append("__sup AS suppressed")
    return {
        "sql": (
            f"CREATE OR REPLACE TEMP TABLE {ident(table)} AS SELECT {', '.join(out)}"
            f" FROM {cells} ORDER BY __id"
        ),
        "params": [],
    }


def _output_types(shape: _Shape) -> list[str]:
    types = ["date" if d in shape.date_dims else shape.types[d] for d in shape.dims]
    types.append("integer")
    for m in shape.measures:
        if m.agg == "sum" and shape.types[m.field] == "integer":
            types.append("integer")
        elif m.agg in ("sum", "avg"):
            types.append("number")
        else:
            types.append(shape.types[m.field])
    return types


@dataclass(frozen=True)
class Released:
    """A protected table left on a DuckDB connection by `protected_cells`."""

    table: str
    columns: list[str]  # dimensions, "records", measures (then the flag "suppressed")
    types: list[str]
    dimensions: list[str]
    setup: list[dict]


def released_table(
    *,
    parquet: str | list[str],
    schema: list[Column],
    policy: OfferPolicy,
    noise_seed: str,
    table: str | None = None,
    stats: str | None = None,
) -> Released:
    """The statements that build the protected table of an aggregate `policy` over `parquet`
    (nothing runs: `run_setup(con, released.setup)` builds it). With `stats`, the name of a
    relation that already holds `stats_statement`'s rows (Spark's stage), the statements start
    from it instead of reading the records."""
    if not policy.is_aggregate:
        raise PlanError("only aggregate offers release protected tables")
    columns = {c.name: c for c in schema}
    shape = _aggregate_shape(columns, policy)
    table = table or _table_name(parquet, policy, noise_seed)
    keyed = noise_seed.startswith(KEYED_NOISE)
    cells = ident(f"{table}__cells")
    first, dropped = [], [cells]
    if stats is None:  # every record is read here, by DuckDB
        base, stats = ident(f"{table}__base"), ident(f"{table}__stats")
        summed = stats_select(shape, base, Dialect(), keyed=keyed)
        first = [
            _base_step(parquet, shape, noise_seed, base),
            {"sql": f"CREATE OR REPLACE TEMP TABLE {stats} AS {summed}", "params": []},
            {"sql": f"DROP TABLE {base}", "params": []},
        ]
        dropped.insert(0, stats)
    setup = [
        *first,
        _rules_step(shape, policy, stats, cells, keyed=keyed),
        {**_secondary_step(cells, len(shape.dims)), "repeat": True},
        _release_step(shape, cells, table),
        *({"sql": f"DROP TABLE {name}", "params": []} for name in dropped),
    ]
    return Released(
        table=table,
        columns=[*shape.dims, "records", *(m.output_name for m in shape.measures)],
        types=_output_types(shape),
        dimensions=list(shape.dims),
        setup=setup,
    )


def protected_cells(
    con,
    *,
    parquet: str | list[str],
    schema: list[Column],
    policy: OfferPolicy,
    noise_seed: str,
    table: str | None = None,
) -> Released:
    """Build, on DuckDB connection `con`, the protected table of an aggregate `policy` over the
    WHOLE of `parquet`: one row per cell with its dimension values, "records", each measure
    (NULL when suppressed, cell-key noise otherwise) and a boolean "suppressed". Every release of
    numbers from an aggregate (extracts, previews, open statistics) narrows this one table, so
    every route shows the same cells the same way. `noise_seed` (e.g. the version's Parquet
    SHA-256) fixes the noise; the noise stays unpredictable without the raw subject values."""
    released = released_table(
        parquet=parquet, schema=schema, policy=policy, noise_seed=noise_seed, table=table
    )
    run_setup(con, released.setup)
    return released


def whole_periods(date_from: date | None, date_to: date | None, unit: str) -> tuple[date | None, date | None]:
    """The first and last period starts lying wholly inside an inclusive window (None: open)."""
    first = last = None
    if date_from:
        first = (
            date_from
            if period_start(date_from, unit) == date_from
            else next_period(period_start(date_from, unit), unit)
        )
    if date_to:
        last = period_start(date_to, unit)
        if next_period(last, unit) > date_to + timedelta(days=1):
            last = period_start(last - timedelta(days=1), unit)
    return first, last


def _scope_where(
    columns, policy: OfferPolicy, released: Released, scope: dict, alias: str = ""
) -> tuple[list, list]:
    """Conditions selecting the cells of `released` inside an aggregate `scope` (whole cells:
    regions of the region dimension, whole periods of the date dimension)."""
    prefix = f"{alias}." if alias else ""
    where, params = [], []
    if scope.get("regions"):
        if policy.region_field not in released.dimensions:
            raise PlanError("regions can be chosen only on a dimension of the offer")
        region_where, region_params = _region_filter(
            columns, policy, scope, prefix + ident(policy.region_field)
        )
        where += region_where
        params += region_params
    date_from, date_to = _day(scope.get("date_from"), "date_from"), _day(scope.get("date_to"), "date_to")
    if date_from or date_to:
        if policy.date_field not in released.dimensions:
            raise PlanError("dates can be chosen only on a dimension of the offer")
        first, last = whole_periods(date_from, date_to, policy.date_granularity)
        if first and last and first > last:
            raise PlanError(f"the date window holds no whole {policy.date_granularity}")
        target = prefix + ident(policy.date_field)
        if first:
            where.append(f"{target} >= CAST(? AS DATE)")
            params.append(first.isoformat())
        if last:
            where.append(f"{target} <= CAST(? AS DATE)")
            params.append(last.isoformat())
    return where, params


def _aggregate_plan(parquet, columns, policy: OfferPolicy, scope, noise_seed: str) -> Plan:
    if scope.get("fields") and set(scope["fields"]) != set(policy.dimensions):
        raise PlanError("an aggregate offer's dimensions are fixed")
    released = released_table(
        parquet=parquet, schema=list(columns.values()), policy=policy, noise_seed=noise_seed
    )
    where, params = _scope_where(columns, policy, released, scope)
    selected = ", ".join(ident(c) for c in released.columns)
    body = f"SELECT {selected} FROM {ident(released.table)} WHERE {' AND '.join(['NOT suppressed', *where])}"
    text = [d for d, t in zip(released.dimensions, released.types, strict=False) if t == "string"]
    return Plan(
        sql=body + " ORDER BY " + ", ".join(ident(d) for d in released.dimensions),
        params=params,
        columns=released.columns,
        types=released.types,
        text_columns=text,
        body=body,
        order_by=list(released.dimensions),
        setup=released.setup,
        released=released.table,
    )


# --- several releases of one version --------------------------------------------------------------


class LinkedDisclosure(PlanError):
    """Two releases of one version that together would give away cells that one of them
    suppresses."""

    def __init__(self, message: str, cells: int = 0):
        super().__init__(message)
        self.cells = cells


def _nests(finer: str, coarser: str) -> bool:
    """Whether every period of `coarser` is a union of whole periods of `finer`."""
    if GRANULARITIES.index(finer) > GRANULARITIES.index(coarser):
        return False
    return finer == coarser or finer == "day" or (finer != "week" and coarser != "week")


def _rebuildable(
    con, columns, fine: tuple[OfferPolicy, dict, Released], coarse: tuple[OfferPolicy, dict, Released]
) -> int:
    """Cells of `coarse` (inside its scope) that it suppresses but that `fine` holds wholly as
    published cells inside its scope: summing them gives the suppressed cell back."""
    fine_policy, fine_scope, fine_table = fine
    coarse_policy, coarse_scope, coarse_table = coarse
    match = []
    for d in coarse_table.dimensions:
        fine_value = f"f.{ident(d)}"
        if d == coarse_policy.date_field and fine_policy.date_granularity != coarse_policy.date_granularity:
            fine_value = f"CAST(date_trunc('{coarse_policy.date_granularity}', {fine_value}) AS DATE)"
        match.append(f"{fine_value} IS NOT DISTINCT FROM c.{ident(d)}")
    fine_where, fine_params = _scope_where(columns, fine_policy, fine_table, fine_scope, "f")
    coarse_where, coarse_params = _scope_where(columns, coarse_policy, coarse_table, coarse_scope, "c")
    visible = " AND ".join(["NOT f.suppressed", *fine_where])
    sql = (
        f"SELECT count(*) FROM {ident(coarse_table.table)} AS c WHERE c.suppressed"
        + "".join(f" AND {w}" for w in coarse_where)
        + f" AND EXISTS (SELECT 1 FROM {ident(fine_table.table)} AS f WHERE {' AND '.join(match)})"
        + f" AND NOT EXISTS (SELECT 1 FROM {ident(fine_table.table)} AS f WHERE {' AND '.join(match)}"
        + f" AND NOT ({visible}))"
    )
    return con.execute(sql, [*coarse_params, *fine_params]).fetchone()[0]


def linked_disclosures(
    con,
    *,
    parquet: str | list[str],
    schema: list[Column],
    noise_seed: str,
    new: tuple[OfferPolicy, dict],
    held: tuple[OfferPolicy, dict],
    build=None,
) -> int:
    """How many cells one of two aggregate releases of the same version suppresses that the
    other gives back, once both are narrowed to their scopes. 0 when the two are the same table
    (one offer: every scope is whole cells of one protected table) or when neither's dimensions
    contain the other's (what they share are margins, which secondary suppression already
    treats as public). Raises LinkedDisclosure when their periods do not nest (weeks against
    months would isolate days). `build(con, released)` leaves each protected table on `con`
    (default: runs its setup; the ledger reads kept ones, catalog.released_cache)."""
    new_policy, held_policy = new[0], held[0]
    if new_policy == held_policy:
        return 0
    columns = {c.name: c for c in schema}
    dated = [p for p in (new_policy, held_policy) if p.date_field and p.date_field in p.dimensions]
    if len(dated) == 2 and new_policy.date_field == held_policy.date_field:
        a, b = sorted((new_policy.date_granularity, held_policy.date_granularity), key=GRANULARITIES.index)
        if not _nests(a, b):
            raise LinkedDisclosure(f"{a} and {b} figures of one date column do not nest")
    # A table's dimensions are its policy's (released_table refuses any other), so which
    # direction can rebuild cells is known before either table is built: most pairs share only
    # margins and cost nothing.
    policies = (new_policy, held_policy)
    directions = [
        (fine, coarse)
        for fine, coarse in ((0, 1), (1, 0))
        if set(policies[coarse].dimensions) <= set(policies[fine].dimensions)
        and _nests(policies[fine].date_granularity, policies[coarse].date_granularity)
    ]
    if not directions:
        return 0
    sides = []
    for policy, scope in (new, held):
        released = released_table(parquet=parquet, schema=schema, policy=policy, noise_seed=noise_seed)
        if build is None:
            run_setup(con, released.setup)
        else:
            build(con, released)
        sides.append((policy, scope, released))
    return sum(_rebuildable(con, columns, sides[fine], sides[coarse]) for fine, coarse in directions)

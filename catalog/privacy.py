"""The privacy rules of DESIGN.md as one SQL statement over a version's Parquet.

Used for previews and by the extract engine (`transactions.extracts`): the same plan, so a
preview never shows what an extract would not deliver. Column names reach SQL only after being
checked against the version's schema (and quoted); every scope value is a bound parameter. The
module needs no Django: sensitivities are the plain strings `catalog.models.Sensitivity` stores.

| sensitivity       | records offer                        | aggregate offer            |
|-------------------|--------------------------------------|----------------------------|
| public            | delivered                            | dimension or measure       |
| quasi_identifier  | delivered only if the offer allows   | dimension                  |
| identifier        | HMAC-SHA-256 under the license key   | counts subjects; not output|
| excluded          | never read                           | never read                 |

A column with any other sensitivity is treated as excluded (fail closed).

Aggregates: cells are whole periods of the date granularity (no finer than the offer's); a cell
is suppressed when it has fewer than k distinct subjects, or when one contributor (the offer's
`dominance_field`) holds more than the offer's dominance share of the cell's total. The total is
the offer's first `sum` measure (else the row count). Date windows shrink to whole periods, so
two extracts with overlapping windows cannot be subtracted to reveal a few days' figures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from catalog.ingestion.sql import ident

PUBLIC = "public"
QUASI_IDENTIFIER = "quasi_identifier"
IDENTIFIER = "identifier"
EXCLUDED = "excluded"

# Finest first: a scope may ask for a coarser granularity than the offer's, never a finer one.
GRANULARITIES = ("day", "week", "month", "quarter", "year")
AGGREGATES = ("sum", "avg", "min", "max")
# DuckDB's virtual columns of a Parquet scan (present unless the file has columns so named).
SOURCE_ROW_COLUMN = "file_row_number"
SOURCE_FILE_COLUMN = "filename"
DEFAULT_K = 5
DEFAULT_DOMINANCE = 0.85
# DOUBLE measures are summed as exact decimals, so a parallel aggregation gives the same bits
# whatever order the threads combine their partial sums in (rebuilds are byte-identical).
EXACT_DECIMAL = "DECIMAL(38, 10)"


@dataclass
class Column:
    name: str
    type: str
    sensitivity: str


@dataclass
class Plan:
    """One SELECT and its bound parameters.

    `sql` is the statement a preview runs (LIMIT included; record rows in no particular order).
    `body` is the statement an extract wraps in an outer SELECT: it returns `columns` and then
    any hidden sort keys, and `order_by` names the body columns that give its rows one total
    order (aggregates: the dimensions; records: the source file's row order). The wrapper must
    ORDER BY them itself: DuckDB keeps neither a subquery's order nor, when a filter is pushed
    into the Parquet scan, the file's order. `types` gives each output column's catalog type
    (string, integer, number, boolean, date, datetime); `text_columns` are the output columns
    holding free text, the ones a spreadsheet could read as a formula.
    """

    sql: str
    params: list = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    body: str = ""
    order_by: list[str] = field(default_factory=list)


class PlanError(ValueError):
    """The scope names something the offer or schema does not allow."""


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC's inner and outer pads for `key`, as hex, to bind into the SQL expression.
    Keys longer than the SHA-256 block are hashed first, as RFC 2104 says."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


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
    *, parquet: str, schema: list[Column], offer: dict, scope: dict, key: bytes, limit: int | None = None
) -> Plan:
    """The SELECT that delivers `scope` of `offer` from `parquet` under the privacy rules.

    `scope` is `{"fields": [...], "regions": [...], "date_from": "YYYY-MM-DD", "date_to": ...}`
    (an aggregate scope may add a coarser `date_granularity`); empty keys mean everything the
    offer allows. Fields outside the offer or the schema are dropped, never delivered. Raises
    PlanError when nothing deliverable is left or a scope value is malformed.
    """
    columns = {c.name: c for c in schema}
    fields = scope.get("fields")
    if fields is not None and (
        not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields)
    ):
        raise PlanError("fields must be a list of column names")
    if offer.get("kind") == "aggregate":
        result = _aggregate_plan(parquet, columns, offer, scope)
    else:
        result = _records_plan(parquet, columns, offer, scope, key)
    if limit is not None:
        result.sql += f" LIMIT {int(limit)}"
    return result


def _readable(columns: dict[str, Column], name: str | None, what: str, *, identifier_ok: bool) -> str | None:
    """A column the plan may read besides the output (filter, subject, contributor): in the
    schema and never excluded. Filters may not use identifiers either (catalog.services refuses
    such offers; a scope would otherwise pick out single cards)."""
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


def _period_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _next_period(start: date, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _filters(
    columns: dict[str, Column], offer: dict, scope: dict, whole_periods: str | None = None
) -> tuple[list[str], list]:
    """WHERE conditions and their parameters. With `whole_periods` (an aggregate's unit) the date
    window shrinks to whole periods: a partial month at either end would let two extracts with
    different windows be subtracted from each other to reveal a few days' figures."""
    where, params = [], []
    regions = scope.get("regions") or []
    if regions:
        region_field = _readable(columns, offer.get("region_field"), "region field", identifier_ok=False)
        if not region_field:
            raise PlanError("the offer has no region filter")
        if not isinstance(regions, list | tuple) or any(isinstance(r, dict | list) for r in regions):
            raise PlanError("regions must be a list of values")
        target = ident(region_field)
        if columns[region_field].type != "string":
            target = f"CAST({target} AS VARCHAR)"
        where.append(f"{target} IN ({', '.join('?' for _ in regions)})")
        params.extend(str(r) for r in regions)
    date_from, date_to = _day(scope.get("date_from"), "date_from"), _day(scope.get("date_to"), "date_to")
    if date_from or date_to:
        date_field = _readable(columns, offer.get("date_field"), "date field", identifier_ok=False)
        if not date_field:
            raise PlanError("the offer has no date filter")
        # inclusive end date: everything before the next day
        end = date_to + timedelta(days=1) if date_to else None
        if whole_periods:
            if date_from and _period_start(date_from, whole_periods) != date_from:
                date_from = _next_period(_period_start(date_from, whole_periods), whole_periods)
            if end:
                end = _period_start(end, whole_periods)
        if date_from and end and date_from >= end:
            raise PlanError(f"the date window holds no whole {whole_periods or 'day'}")
        if date_from:
            where.append(f"{ident(date_field)} >= CAST(? AS DATE)")
            params.append(date_from.isoformat())
        if end:
            where.append(f"{ident(date_field)} < CAST(? AS DATE)")
            params.append(end.isoformat())
    return where, params


def _records_plan(parquet, columns, offer, scope, key) -> Plan:
    offered = [f for f in offer.get("fields") or [] if f in columns]
    requested = scope.get("fields") or offered
    select, params, names, types, text = [], [], [], [], []
    for name in dict.fromkeys(requested):
        if name not in offered:
            continue
        col = columns[name]
        if col.sensitivity == IDENTIFIER:
            if not key:
                raise PlanError("identifiers are delivered only under a license key")
            inner, outer = hmac_pads(key)
            select.append(f"{hmac_sql(ident(name))} AS {ident(name)}")
            params.extend([outer, inner])
            types.append("string")
        elif col.sensitivity == PUBLIC or (
            col.sensitivity == QUASI_IDENTIFIER and offer.get("quasi_identifiers_allowed")
        ):
            select.append(ident(name))
            types.append(col.type)
            if col.type == "string":
                text.append(name)
        else:
            continue
        names.append(name)
    if not select:
        raise PlanError("nothing in the scope can be delivered")
    where, where_params = _filters(columns, offer, scope)
    condition = (" WHERE " + " AND ".join(where)) if where else ""
    # Source order through DuckDB's virtual columns: the row's position in its file, and the
    # file when the path is a glob over partitions. Should the data have a column of that name
    # (which hides the virtual one), every output column orders the rows instead: identical
    # rows are identical bytes, so the file is still the same every time.
    keys = {"__source_row": SOURCE_ROW_COLUMN}
    if any(c in parquet for c in "*?["):
        keys = {"__source_file": SOURCE_FILE_COLUMN, **keys}
    if {SOURCE_ROW_COLUMN, SOURCE_FILE_COLUMN} & columns.keys() or keys.keys() & set(names):
        keys = {}
    order_by = list(keys) or list(names)
    hidden = [f"{virtual} AS {alias}" for alias, virtual in keys.items()]
    params.append(parquet)
    return Plan(
        sql=f"SELECT {', '.join(select)} FROM read_parquet(?){condition}",
        params=params + where_params,
        columns=names,
        types=types,
        text_columns=text,
        body=f"SELECT {', '.join(select + hidden)} FROM read_parquet(?){condition}",
        order_by=order_by,
    )


def _granularity(offer: dict, scope: dict) -> str:
    finest = offer.get("date_granularity") or "month"
    if finest not in GRANULARITIES:
        raise PlanError(f"unknown date granularity {finest!r}")
    wanted = scope.get("date_granularity") or finest
    if wanted not in GRANULARITIES:
        raise PlanError(f"unknown date granularity {wanted!r}")
    if GRANULARITIES.index(wanted) < GRANULARITIES.index(finest):
        raise PlanError(f"the offer allows nothing finer than {finest}")
    return wanted


def _aggregate_plan(parquet, columns, offer, scope) -> Plan:
    dims_offered = [
        d
        for d in dict.fromkeys(offer.get("dimensions") or [])
        if d in columns and columns[d].sensitivity in (PUBLIC, QUASI_IDENTIFIER)
    ]
    measures_offered = []
    for m in offer.get("measures") or []:
        name, agg = (m.get("field"), m.get("agg")) if isinstance(m, dict) else (None, None)
        if name not in columns or columns[name].sensitivity != PUBLIC or agg not in AGGREGATES:
            continue
        if agg in ("sum", "avg") and columns[name].type not in ("integer", "number"):
            continue
        if (agg, name) not in [(a, n) for a, n in measures_offered]:
            measures_offered.append((agg, name))
    # An aggregate offer's choosable fields are its dimensions (catalog.services); every
    # measure is delivered. The scope's fields narrow the dimensions, never widen them.
    offered = [d for d in offer.get("fields") or dims_offered if d in dims_offered]
    dims = [d for d in dict.fromkeys(scope.get("fields") or offered) if d in offered]
    measures = measures_offered
    if not dims:
        raise PlanError("no dimension to group by")

    unit = _granularity(offer, scope)
    subject = _readable(columns, offer.get("subject_field"), "subject field", identifier_ok=True)
    contributor = _readable(columns, offer.get("dominance_field"), "dominance field", identifier_ok=True)
    k = max(2, int(offer.get("k") or DEFAULT_K))
    threshold = offer.get("dominance")
    threshold = DEFAULT_DOMINANCE if threshold in (None, "") else float(threshold)
    if not 0 <= threshold <= 1:
        raise PlanError("the dominance share must lie between 0 and 1")

    def exact(name: str) -> str:
        col = ident(name)
        return f"CAST({col} AS {EXACT_DECIMAL})" if columns[name].type == "number" else col

    base, names, types, text = [], [], [], []
    for i, d in enumerate(dims):
        col = columns[d]
        if d == offer.get("date_field") or col.type in ("date", "datetime"):
            base.append(f"CAST(date_trunc('{unit}', CAST({ident(d)} AS DATE)) AS DATE) AS __d{i}")
            types.append("date")
        else:
            base.append(f"{ident(d)} AS __d{i}")
            types.append(col.type)
            if col.type == "string":
                text.append(d)
        names.append(d)
    names.append("records")
    types.append("integer")
    cells = [*(f"__d{i}" for i in range(len(dims))), "count(*) AS __records"]
    for j, (agg, name) in enumerate(measures):
        base.append(f"{exact(name) if agg in ('sum', 'avg') else ident(name)} AS __m{j}")
        if agg == "sum" and columns[name].type == "integer":
            cells.append(f"CAST(sum(__m{j}) AS BIGINT) AS __a{j}")
            types.append("integer")
        elif agg in ("sum", "avg"):
            cells.append(f"CAST({agg}(__m{j}) AS DOUBLE) AS __a{j}")
            types.append("number")
        else:
            cells.append(f"{agg}(__m{j}) AS __a{j}")
            types.append(columns[name].type)
        names.append(f"{agg}_{name}")
    if len(set(names)) != len(names):
        raise PlanError("two output columns would have the same name")
    # Subjects and contributors are grouped by a 64-bit hash of their value: integer keys group
    # far faster than strings. A collision (odds ~3e-8 among a million values) merges two of
    # them; for subjects that means fewer distinct subjects, the safe side of k.
    if subject:
        hashed = f"CASE WHEN {ident(subject)} IS NULL THEN NULL ELSE hash({ident(subject)}) END"
        base.append(f"{hashed} AS __subject")
        cells.append("count(DISTINCT __subject) AS __subjects")
    else:  # no subject column: every record is its own subject
        cells.append("count(*) AS __subjects")

    keys = ", ".join(f"__d{i}" for i in range(len(dims)))
    where, where_params = _filters(columns, offer, scope, whole_periods=unit)
    sql = f"WITH base AS (SELECT {', '.join(base)}"
    if contributor:
        weight = next((n for a, n in measures_offered if a == "sum"), None)
        weight_sql = exact(weight) if weight else "1"
        sql += f", hash({ident(contributor)}) AS __contributor, {weight_sql} AS __weight"
    sql += " FROM read_parquet(?)"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f"), cells AS (SELECT {', '.join(cells)} FROM base GROUP BY {keys})"
    outputs = [f"cells.__d{i} AS {ident(d)}" for i, d in enumerate(dims)]
    outputs.append('cells.__records AS "records"')
    outputs += [f"cells.__a{j} AS {ident(f'{a}_{n}')}" for j, (a, n) in enumerate(measures)]
    conditions = [f"cells.__subjects >= {k}"]
    if contributor:
        # Per cell: each contributor's net total, then the largest absolute one over the sum of
        # absolute ones (refunds cannot hide a dominant contributor behind a small net total).
        # A NULL contributor counts as one contributor; NULL dimension values form a cell of
        # their own, hence IS NOT DISTINCT FROM (an equi-join would drop those cells).
        sql += (
            f", contributions AS (SELECT {keys}, sum(__weight) AS __total FROM base"
            f" GROUP BY {keys}, __contributor),"
            f" shares AS (SELECT {keys}, CAST(max(abs(__total)) AS DOUBLE)"
            f" / nullif(CAST(sum(abs(__total)) AS DOUBLE), 0) AS __top_share"
            f" FROM contributions GROUP BY {keys})"
        )
        join = " AND ".join(f"cells.__d{i} IS NOT DISTINCT FROM shares.__d{i}" for i in range(len(dims)))
        sql += f" SELECT {', '.join(outputs)} FROM cells LEFT JOIN shares ON {join}"
        conditions.append(f"coalesce(shares.__top_share, 0) <= {threshold!r}")
    else:
        sql += f" SELECT {', '.join(outputs)} FROM cells"
    sql += " WHERE " + " AND ".join(conditions)
    return Plan(
        sql=sql + " ORDER BY " + ", ".join(ident(d) for d in dims),
        params=[parquet, *where_params],
        columns=names,
        types=types,
        text_columns=text,
        body=sql,
        order_by=list(dims),
    )

"""The privacy rules of DESIGN.md as one SQL statement over a version's Parquet.

Used for previews now and by the extract engine: the same plan, so a preview never shows what
an extract would not deliver. Column names reach SQL only after being checked against the
version's schema (and quoted); every value is a bound parameter.

| sensitivity       | records offer                        | aggregate offer            |
|-------------------|--------------------------------------|----------------------------|
| public            | delivered                            | dimension or measure       |
| quasi_identifier  | delivered only if the offer allows   | dimension                  |
| identifier        | HMAC-SHA-256 under the license key   | counts subjects; not output|
| excluded          | never read                           | never read                 |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from catalog.ingestion.sql import ident
from catalog.models import Sensitivity

GRANULARITY_UNITS = {"day": "day", "week": "week", "month": "month", "quarter": "quarter", "year": "year"}


@dataclass
class Column:
    name: str
    type: str
    sensitivity: str


@dataclass
class Plan:
    sql: str
    params: list = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC's inner and outer pads for `key`, as hex, to bind into the SQL expression."""
    if len(key) > 64:
        raise ValueError("HMAC keys longer than the SHA-256 block are not used here")
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


def hmac_sql(column_sql: str) -> str:
    """HMAC-SHA-256 of a column's text in SQL (RFC 2104): sha256(opad || sha256(ipad || m)).
    Bind the outer pad, then the inner pad."""
    return f"sha256(unhex(?) || unhex(sha256(unhex(?) || encode(CAST({column_sql} AS VARCHAR)))))"


class PlanError(ValueError):
    """The scope names something the offer or schema does not allow."""


def _filters(schema: dict[str, Column], offer: dict, scope: dict) -> tuple[list[str], list]:
    where, params = [], []
    regions = scope.get("regions") or []
    if regions:
        region_field = offer.get("region_field")
        if not region_field or region_field not in schema:
            raise PlanError("the offer has no region filter")
        where.append(f"CAST({ident(region_field)} AS VARCHAR) IN ({', '.join('?' for _ in regions)})")
        params.extend(str(r) for r in regions)
    date_from, date_to = scope.get("date_from"), scope.get("date_to")
    if date_from or date_to:
        date_field = offer.get("date_field")
        if not date_field or date_field not in schema:
            raise PlanError("the offer has no date filter")
        if date_from:
            where.append(f"{ident(date_field)} >= CAST(? AS DATE)")
            params.append(str(date_from))
        if date_to:
            # inclusive end date: everything before the next day
            end = date.fromisoformat(str(date_to)) + timedelta(days=1)
            where.append(f"{ident(date_field)} < CAST(? AS DATE)")
            params.append(end.isoformat())
    return where, params


def plan(
    *, parquet: str, schema: list[Column], offer: dict, scope: dict, key: bytes, limit: int | None = None
) -> Plan:
    """The SELECT that delivers `scope` of `offer` from `parquet` under the privacy rules."""
    columns = {c.name: c for c in schema}
    chosen = [f for f in (scope.get("fields") or offer.get("fields") or []) if f in columns]
    if offer.get("kind") == "aggregate":
        result = _aggregate_plan(parquet, columns, offer, scope, chosen)
    else:
        result = _records_plan(parquet, columns, offer, scope, chosen, key)
    if limit is not None:
        result.sql += f" LIMIT {int(limit)}"
    return result


def _records_plan(parquet, columns, offer, scope, chosen, key) -> Plan:
    allowed = set(offer.get("fields") or [])
    inner, outer = hmac_pads(key)
    select, params, names = [], [], []
    for name in chosen:
        col = columns[name]
        if name not in allowed or col.sensitivity == Sensitivity.EXCLUDED:
            continue
        if col.sensitivity == Sensitivity.QUASI_IDENTIFIER and not offer.get("quasi_identifiers_allowed"):
            continue
        if col.sensitivity == Sensitivity.IDENTIFIER:
            select.append(f"{hmac_sql(ident(name))} AS {ident(name)}")
            params.extend([outer, inner])
        else:
            select.append(ident(name))
        names.append(name)
    if not select:
        raise PlanError("nothing in the scope can be delivered")
    where, where_params = _filters(columns, offer, scope)
    sql = f"SELECT {', '.join(select)} FROM read_parquet(?)"
    params.append(parquet)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return Plan(sql=sql, params=params + where_params, columns=names)


def _aggregate_plan(parquet, columns, offer, scope, chosen) -> Plan:
    allowed_dims = [d for d in offer.get("dimensions") or [] if d in columns]
    dims = [d for d in chosen if d in allowed_dims] or allowed_dims
    dims = [d for d in dims if columns[d].sensitivity in (Sensitivity.PUBLIC, Sensitivity.QUASI_IDENTIFIER)]
    if not dims:
        raise PlanError("no dimension to group by")
    unit = GRANULARITY_UNITS.get(offer.get("date_granularity") or "month", "month")
    dim_sql = []
    for d in dims:
        if d == offer.get("date_field") or columns[d].type in ("date", "datetime"):
            dim_sql.append((f"CAST(date_trunc('{unit}', {ident(d)}) AS DATE)", d))
        else:
            dim_sql.append((ident(d), d))
    measures = [
        m
        for m in offer.get("measures") or []
        if m.get("field") in columns
        and columns[m["field"]].sensitivity == Sensitivity.PUBLIC
        and m.get("agg") in ("sum", "avg", "min", "max")
    ]
    subject = offer.get("subject_field") if offer.get("subject_field") in columns else None
    dominant = offer.get("dominance_field") if offer.get("dominance_field") in columns else None
    share_measure = next((m["field"] for m in measures if m["agg"] == "sum"), None)

    where, where_params = _filters(columns, offer, scope)
    base_cols = [f"{expr} AS {ident('d_' + name)}" for expr, name in dim_sql]
    base_cols += [f"{ident(m['field'])} AS {ident('m_' + m['field'])}" for m in measures if m["field"]]
    if subject:
        base_cols.append(f"{ident(subject)} AS __subject")
    if dominant:
        base_cols.append(f"{ident(dominant)} AS __contributor")
    base = f"SELECT {', '.join(dict.fromkeys(base_cols))} FROM read_parquet(?)"
    if where:
        base += " WHERE " + " AND ".join(where)
    group = ", ".join(ident("d_" + name) for _expr, name in dim_sql)
    out = [f"{ident('d_' + name)} AS {ident(name)}" for _expr, name in dim_sql]
    out.append("count(*) AS records")
    out += [
        f"{m['agg']}({ident('m_' + m['field'])}) AS {ident(m['agg'] + '_' + m['field'])}" for m in measures
    ]
    names = [name for _e, name in dim_sql] + ["records"] + [f"{m['agg']}_{m['field']}" for m in measures]
    subjects = "count(DISTINCT __subject)" if subject else "count(*)"
    k = max(2, int(offer.get("k") or 5))
    sql = f"WITH base AS ({base})"
    having = [f"{subjects} >= {k}"]
    if dominant:
        weight = f"sum({ident('m_' + share_measure)})" if share_measure else "count(*)"
        sql += (
            f", contrib AS (SELECT {group}, __contributor, {weight} AS w FROM base GROUP BY ALL),"
            f" shares AS (SELECT {group}, max(w) / nullif(sum(w), 0) AS top_share FROM contrib GROUP BY ALL)"
        )
        threshold = float(offer.get("dominance") or 0.85)
        sql += (
            f" SELECT {', '.join(out)} FROM base"
            f" JOIN shares USING ({group}) GROUP BY {group}, top_share"
            f" HAVING {' AND '.join(having)} AND coalesce(top_share, 0) <= {threshold!r}"
        )
    else:
        sql += f" SELECT {', '.join(out)} FROM base GROUP BY {group} HAVING {' AND '.join(having)}"
    sql += f" ORDER BY {group}"
    return Plan(sql=sql, params=[parquet, *where_params], columns=names)

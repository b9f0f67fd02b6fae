"""The one door from insights to the privacy engine.

Every released cell is computed here, by the same engine as aggregate extracts:
`catalog.privacy.protected_cells` over an aggregate `OfferPolicy` built from the release's
definition (k on distinct subjects, the p% and (2, c) dominance rules over contributors and
subjects, secondary suppression over every line of the table, deterministic cell-key noise
seeded by the source version). The engine keeps every cell and flags the suppressed ones; every
cell it shows carries noise (`noisy`).

A release's dimensions may be derived from a column (month, weekday, hour of a date; company
size band; KSIC section): a Parquet file with the derived columns is written first, in a work
directory removed afterwards, and the engine runs over it like over any version. The noise does
not depend on that file: it comes from the subjects' values and the seed."""

# ruff: noqa: S608 - column names reach SQL only through catalog.ingestion.sql.ident after being
# checked against the version's schema; transforms are fixed SQL from this module.

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from catalog import privacy
from catalog.ingestion.sql import ident
from catalog.policy import OfferPolicy
from marketplace.duckdb import connect

ENGINE_NAME = "catalog.privacy.protected_cells"

DATE_TYPES = ("date", "datetime")
# KSIC divisions (first two digits) to sections.
KSIC_SECTIONS = (
    ("A", 1, 3),
    ("B", 5, 8),
    ("C", 10, 34),
    ("D", 35, 35),
    ("E", 36, 39),
    ("F", 41, 42),
    ("G", 45, 47),
    ("H", 49, 52),
    ("I", 55, 56),
    ("J", 58, 63),
    ("K", 64, 66),
    ("L", 68, 68),
    ("M", 70, 73),
    ("N", 74, 76),
    ("O", 84, 84),
    ("P", 85, 85),
    ("Q", 86, 87),
    ("R", 90, 91),
    ("S", 94, 96),
)
COMPANY_SIZES = ("1-4", "5-9", "10-49", "50-299", "300+")


def _ksic_section(col: str) -> str:
    division = f"TRY_CAST(substr(CAST({col} AS VARCHAR), 1, 2) AS INTEGER)"
    cases = " ".join(
        f"WHEN {division} BETWEEN {lo} AND {hi} THEN '{letter}'" for letter, lo, hi in KSIC_SECTIONS
    )
    return f"CASE {cases} ELSE NULL END"


def _company_size(col: str) -> str:
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} < 5 THEN '1-4' WHEN {col} < 10 THEN '5-9' "
        f"WHEN {col} < 50 THEN '10-49' WHEN {col} < 300 THEN '50-299' ELSE '300+' END"
    )


# transform → (source types it accepts, output type, SQL over the quoted column)
TRANSFORMS = {
    "month": (DATE_TYPES, "string", lambda c: f"strftime(CAST({c} AS DATE), '%Y-%m')"),
    "year": (DATE_TYPES, "integer", lambda c: f"CAST(year(CAST({c} AS DATE)) AS INTEGER)"),
    "weekday": (DATE_TYPES, "integer", lambda c: f"CAST(isodow(CAST({c} AS DATE)) AS INTEGER)"),
    "hour": (("datetime",), "integer", lambda c: f"CAST(hour(CAST({c} AS TIMESTAMP)) AS INTEGER)"),
    "company_size": (("integer", "number"), "string", _company_size),
    "ksic_section": (("string", "integer"), "string", _ksic_section),
}


class EngineError(ValueError):
    """The release's definition cannot be computed from this version (a person can fix it)."""


@dataclass
class Cell:
    dims: dict
    values: dict | None  # None when suppressed
    suppressed: bool
    noisy: bool = False


@dataclass
class Table:
    columns: list[dict]  # [{"name", "role": "dimension"|"measure", "type"}]
    cells: list[Cell] = field(default_factory=list)
    period: tuple[date, date] | None = None
    engine: str = ENGINE_NAME


def _jsonable(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def validate(*, schema: list[privacy.Column], definition: dict) -> list[str]:
    """Problems with `definition` against `schema`, as sentences (empty when it can run)."""
    columns = {c.name: c for c in schema}
    problems = []
    names = set()
    dims = definition.get("dimensions") or []
    if not dims:
        problems.append("a release needs at least one dimension")
    for dim in dims:
        name, source, transform = dim.get("name"), dim.get("field"), dim.get("transform") or ""
        if not name or not source:
            problems.append("each dimension needs a name and a field")
            continue
        if name in names or name == "records" or name == "suppressed":
            problems.append(f"the dimension name {name!r} is used twice or reserved")
        names.add(name)
        column = columns.get(source)
        if column is None:
            problems.append(f"the field {source!r} is not in this version")
            continue
        if column.sensitivity not in (privacy.PUBLIC, privacy.QUASI_IDENTIFIER):
            problems.append(f"the field {source!r} cannot be a dimension under its sensitivity")
        if transform:
            if transform not in TRANSFORMS:
                problems.append(f"unknown transform {transform!r}")
            elif column.type not in TRANSFORMS[transform][0]:
                problems.append(f"the transform {transform!r} does not apply to {source!r} ({column.type})")
    for measure in definition.get("measures") or []:
        source, agg = measure.get("field"), measure.get("agg")
        column = columns.get(source)
        if column is None:
            problems.append(f"the measure field {source!r} is not in this version")
        elif column.sensitivity != privacy.PUBLIC or column.type not in ("integer", "number"):
            problems.append(f"the field {source!r} cannot be a measure (public numbers only)")
        if agg not in ("sum", "avg"):
            problems.append(f"measures are sums or averages, not {agg!r}")
        if source in names:
            problems.append(f"{source!r} is both a dimension name and a measure")
    for key in ("subject_field", "dominance_field"):
        source = definition.get(key)
        if source and source not in columns:
            problems.append(f"the {key.replace('_', ' ')} {source!r} is not in this version")
        elif source and columns[source].sensitivity == privacy.EXCLUDED:
            problems.append(f"the {key.replace('_', ' ')} {source!r} is excluded from every use")
    date_field = definition.get("date_field")
    if date_field and (date_field not in columns or columns[date_field].type not in DATE_TYPES):
        problems.append(f"the date field {date_field!r} is not a date in this version")
    if not definition.get("subject_field"):
        problems.append("a release needs a subject field (whose distinct values k counts)")
    if not problems:
        derived = {c.name: c for c in _derived(columns, definition)[1]}
        for key, messages in _policy(definition).errors(derived).items():
            problems += [f"{key}: {m}" for m in messages]
    return problems


def _policy(definition: dict) -> OfferPolicy:
    names = [d["name"] for d in definition["dimensions"]]
    values = {
        "kind": "aggregate",
        "dimensions": names,
        "measures": [{"field": m["field"], "agg": m["agg"]} for m in definition.get("measures") or []],
        "subject_field": definition.get("subject_field") or "",
        "dominance_field": definition.get("dominance_field") or "",
    }
    for key in ("k", "p_percent", "dominance"):
        if definition.get(key) not in (None, ""):
            values[key] = definition[key]
    return OfferPolicy.from_values(values).normalized()


def _derived(columns: dict, definition: dict) -> tuple[list[str], list[privacy.Column]]:
    """The SELECT list of the derived file and its schema (dimension names, then the measure,
    subject and contributor columns as they are)."""
    dims = definition["dimensions"]
    select, schema = [], []
    for dim in dims:
        source = columns[dim["field"]]
        transform = dim.get("transform") or ""
        if transform:
            _types, out_type, sql = TRANSFORMS[transform]
            select.append(f"{sql(ident(source.name))} AS {ident(dim['name'])}")
        else:
            out_type = source.type
            select.append(f"{ident(source.name)} AS {ident(dim['name'])}")
        schema.append(privacy.Column(dim["name"], out_type, source.sensitivity))
    names = {d["name"] for d in dims}
    carried = [m["field"] for m in definition.get("measures") or []]
    carried += [f for f in (definition.get("subject_field"), definition.get("dominance_field")) if f]
    for name in dict.fromkeys(carried):
        if name not in names:
            select.append(ident(name))
            schema.append(columns[name])
    return select, schema


def release_cells(*, parquet: str, schema: list[privacy.Column], definition: dict, noise_seed: str) -> Table:
    """Every cell of the release's table over `parquet`, protected by the privacy engine: each
    with its (noisy) measures, or marked suppressed with none. `noise_seed` (the source version's
    Parquet SHA-256) fixes the noise, so a rebuild gives the same figures. Raises EngineError
    when the definition does not fit the data or the rules."""
    problems = validate(schema=schema, definition=definition)
    if problems:
        raise EngineError("; ".join(problems))
    columns = {c.name: c for c in schema}
    select, derived_schema = _derived(columns, definition)
    names = [d["name"] for d in definition["dimensions"]]
    policy = _policy(definition)

    work = Path(settings.WORK_DIR) / f"insights-{uuid.uuid4().hex}"
    work.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        derived = str(work / "cells.parquet")
        con.execute(
            f"COPY (SELECT {', '.join(select)} FROM read_parquet(?)) TO '{derived}' (FORMAT parquet)",
            [parquet],
        )
        try:
            released = privacy.protected_cells(
                con, parquet=derived, schema=derived_schema, policy=policy, noise_seed=noise_seed
            )
        except privacy.PlanError as exc:
            raise EngineError(str(exc)) from exc
        rows = con.execute(f"SELECT * FROM {ident(released.table)}").fetchall()
        period = None
        date_field = definition.get("date_field")
        if date_field:
            low, high = con.execute(
                f"SELECT min(CAST({ident(date_field)} AS DATE)), max(CAST({ident(date_field)} AS DATE))"
                " FROM read_parquet(?)",
                [parquet],
            ).fetchone()
            period = (low, high) if low and high else None
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)

    measure_names = released.columns[len(names) :]
    cells = []
    for row in rows:
        dims_out = {n: _jsonable(v) for n, v in zip(names, row[: len(names)], strict=True)}
        suppressed = bool(row[-1])
        values = (
            None
            if suppressed
            else {m: _jsonable(v) for m, v in zip(measure_names, row[len(names) : -1], strict=True)}
        )
        cells.append(Cell(dims_out, values, suppressed, noisy=not suppressed))
    types = dict(zip(released.columns, released.types, strict=True))
    table_columns = [{"name": n, "role": "dimension", "type": types.get(n, "string")} for n in names]
    table_columns += [{"name": m, "role": "measure", "type": types.get(m, "number")} for m in measure_names]
    return Table(columns=table_columns, cells=cells, period=period)


# --- official statistics ------------------------------------------------------------------------

OFFICIAL_ENGINE = "official"


def _region_code(col: str) -> str:
    """A 시·군 name as written in official tables (수원시, 수원, 수원시 권선구, Suwon-si) to its
    5-digit code."""
    from catalog.vocabularies import gyeonggi_regions

    cases = []
    for region in gyeonggi_regions():
        names = {
            region.name,
            region.name[:-1] if region.name[-1:] in "시군" else region.name,
            region.name_en,
            region.code,
        }
        for name in sorted(n for n in names if n):
            cases.append(f"WHEN '{name.replace(chr(39), '')}' THEN '{region.code}'")
    # a 구 of a city ("수원시 권선구") counts for its city: the first word names the 시·군
    return f"CASE split_part(trim(CAST({col} AS VARCHAR)), ' ', 1) {' '.join(cases)} ELSE NULL END"


OFFICIAL_TRANSFORMS = {**TRANSFORMS, "region_code": (("string", "integer"), "string", _region_code)}


def official_problems(*, schema: list[privacy.Column], definition: dict) -> list[str]:
    """Problems with an official release's `definition` (plain groupings and sums of published
    figures: no subject, no disclosure rules) against `schema`."""
    columns = {c.name: c for c in schema}
    problems = []
    if not definition.get("dimensions"):
        problems.append("a release needs at least one dimension")
    for dim in definition.get("dimensions") or []:
        source, transform = dim.get("field"), dim.get("transform") or ""
        if not dim.get("name") or source not in columns:
            problems.append(f"the field {source!r} is not in this version")
        elif transform and (
            transform not in OFFICIAL_TRANSFORMS
            or columns[source].type not in OFFICIAL_TRANSFORMS[transform][0]
        ):
            problems.append(f"the transform {transform!r} does not apply to {source!r}")
    for measure in definition.get("measures") or []:
        column = columns.get(measure.get("field"))
        if column is None or column.type not in ("integer", "number"):
            problems.append(f"the measure field {measure.get('field')!r} is not a number of this version")
        if measure.get("agg") not in ("sum", "avg"):
            problems.append(f"measures are sums or averages, not {measure.get('agg')!r}")
    return problems


def official_cells(*, parquet: str, schema: list[privacy.Column], definition: dict) -> Table:
    """The cells of an official release: the published figures grouped and summed as they are
    (nothing suppressed, no noise: a public body has already released them). Refuses, naming
    them, rows whose region the 31 시·군 do not know."""
    problems = official_problems(schema=schema, definition=definition)
    if problems:
        raise EngineError("; ".join(problems))
    dims, select = definition["dimensions"], []
    for dim in dims:
        transform = dim.get("transform") or ""
        expression = (
            OFFICIAL_TRANSFORMS[transform][2](ident(dim["field"])) if transform else ident(dim["field"])
        )
        select.append(f"{expression} AS {ident(dim['name'])}")
    names = [ident(d["name"]) for d in dims]
    measures = [(f"{m['agg']}_{m['field']}", m) for m in definition.get("measures") or []]
    aggregates = ["count(*) AS records"] + [
        f"{m['agg']}({ident(m['field'])}) AS {ident(name)}" for name, m in measures
    ]
    con = connect()
    try:
        source = f"(SELECT *, {', '.join(select)} FROM read_parquet(?))"
        for dim in dims:
            if dim.get("transform") == "region_code":
                unknown = con.execute(
                    f"SELECT DISTINCT CAST({ident(dim['field'])} AS VARCHAR) FROM {source}"
                    f" WHERE {ident(dim['name'])} IS NULL AND {ident(dim['field'])} IS NOT NULL LIMIT 20",
                    [parquet],
                ).fetchall()
                if unknown:
                    raise EngineError(
                        "these are not 시·군 of Gyeonggi: " + ", ".join(sorted(str(u[0]) for u in unknown))
                    )
        rows = con.execute(
            f"SELECT {', '.join(names)}, {', '.join(aggregates)} FROM {source}"
            f" WHERE {' AND '.join(f'{n} IS NOT NULL' for n in names)}"
            f" GROUP BY ALL ORDER BY {', '.join(names)}",
            [parquet],
        ).fetchall()
    finally:
        con.close()
    measure_names = ["records", *(name for name, _m in measures)]
    cells = [
        Cell(
            {d["name"]: _jsonable(v) for d, v in zip(dims, row[: len(dims)], strict=True)},
            {m: _jsonable(v) for m, v in zip(measure_names, row[len(dims) :], strict=True)},
            suppressed=False,
        )
        for row in rows
    ]
    columns = [{"name": d["name"], "role": "dimension", "type": "string"} for d in dims]
    columns += [{"name": m, "role": "measure", "type": "number"} for m in measure_names]
    return Table(columns=columns, cells=cells, engine=OFFICIAL_ENGINE)

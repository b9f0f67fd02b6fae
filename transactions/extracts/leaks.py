"""Which license did a leaked file come from?

Every license pseudonymises identifiers with its own HMAC key, so a leaked file's pseudonyms
name the license they were made under. `trace_leak` recomputes, in DuckDB, the HMAC of every
distinct raw identifier value in the source Parquet under every candidate key, joins those with
the 64-hex tokens found anywhere in the leaked file (whatever its columns are called now), and
ranks the candidates by how many pseudonyms match.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from catalog import privacy
from catalog.ingestion.sql import ident, literal

_READERS = {
    ".parquet": "read_parquet(?)",
    ".jsonl": "read_json(?, format = 'newline_delimited')",
    ".ndjson": "read_json(?, format = 'newline_delimited')",
    ".json": "read_json(?)",
    ".csv": "read_csv(?, all_varchar = true, header = false)",
    ".tsv": "read_csv(?, all_varchar = true, header = false)",
    ".txt": "read_csv(?, all_varchar = true, header = false)",
}


# Candidate keys hashed per statement: the hashed set is (distinct identifiers × batch), so memory
# stays bounded whatever the number of licenses (DuckDB spills beyond its limit).
BATCH = 8


def _xlsx_to_csv(path: Path) -> Path:
    """An XLSX delivery as CSV beside it, streamed row by row (openpyxl read-only mode)."""
    import csv

    from openpyxl import load_workbook

    out = path.with_suffix(".csv")
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows(values_only=True):
                    writer.writerow(["" if v is None else v for v in row])
    finally:
        workbook.close()
    return out


def _readable(leaked_file: Path) -> tuple[Path, str]:
    """The file to read (an XLSX delivery as CSV beside it) and its DuckDB reader. Raises
    ValueError for a corrupt workbook or a format no delivery has."""
    leaked_file = Path(leaked_file)
    if leaked_file.suffix.lower() == ".xlsx":
        try:
            leaked_file = _xlsx_to_csv(leaked_file)
        except Exception as exc:  # a corrupt workbook: zipfile, XML or openpyxl errors
            raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
    reader = _READERS.get(leaked_file.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot read {leaked_file.name}: give a CSV, XLSX, JSON Lines or Parquet file")
    return leaked_file, reader


@contextmanager
def _connection(con):
    """`con`, or a connection of the project's DuckDB settings closed afterwards."""
    if con is not None:
        yield con
        return
    from marketplace.duckdb import connect

    own = connect()
    try:
        yield own
    finally:
        own.close()


def _pseudonym_matches(con, leaked_file, reader, source_parquet, identifier_columns, candidates, batch):
    """(candidate index, column, matches, tokens) for every candidate key that turns an
    identifier of the source into a token of the file. The file's tokens and the source's
    distinct identifiers are read once; then each batch of keys is hashed against them."""
    raw = " UNION ALL ".join(
        f"SELECT DISTINCT {literal(c)} AS column_name, CAST({ident(c)} AS VARCHAR) AS raw"  # noqa: S608
        f" FROM read_parquet(?) WHERE {ident(c)} IS NOT NULL"
        for c in identifier_columns
    )
    rows = []
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __leak_tokens AS"  # noqa: S608
            " SELECT DISTINCT lower(unnest(regexp_extract_all("
            f"concat_ws(' ', *COLUMNS(*)), '[0-9A-Fa-f]{{64}}'))) AS pseudonym FROM {reader}",
            [str(leaked_file)],
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __leak_raw AS {raw}", [source_parquet] * len(identifier_columns)
        )
        (tokens,) = con.execute("SELECT count(*) FROM __leak_tokens").fetchone()
        for start in range(0, len(candidates), max(1, int(batch))):
            rows += con.execute(*_hash_batch(candidates, start, batch, tokens)).fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS __leak_tokens")
        con.execute("DROP TABLE IF EXISTS __leak_raw")
    return rows


def _hash_batch(candidates, start: int, batch: int, tokens: int) -> tuple[str, list]:
    """The statement (and its parameters) counting, per key of one batch and per identifier
    column, the source's identifiers whose pseudonym is a token of the file."""
    keys, key_params = [], []
    for i, (_license, key) in enumerate(candidates[start : start + batch], start):
        inner, outer = privacy.hmac_pads(key)
        keys.append(f"({i}, ?, ?)")
        key_params += [outer, inner]
    digest = privacy.hmac_sql("raw.raw", "keys.outer_pad", "keys.inner_pad")
    # Column names are checked against the source schema and quoted; values are bound.
    sql = (
        f"WITH keys AS (SELECT * FROM (VALUES {', '.join(keys)})"  # noqa: S608
        " AS k(candidate, outer_pad, inner_pad)),"
        f" hashed AS (SELECT keys.candidate, raw.column_name, {digest} AS pseudonym"
        " FROM __leak_raw AS raw CROSS JOIN keys)"
        " SELECT hashed.candidate, hashed.column_name, count(*) AS matches,"
        f" {int(tokens)} AS tokens"
        " FROM hashed JOIN __leak_tokens USING (pseudonym) GROUP BY ALL"
    )
    return sql, key_params


def trace_leak(
    *,
    leaked_file: Path,
    source_parquet: str | list[str],
    identifier_columns: list[str],
    candidates: list[tuple[object, bytes]],
    con=None,
    batch: int = BATCH,
) -> list[dict]:
    """Rank `candidates` (license id, license key) by the pseudonyms of `leaked_file` (CSV,
    XLSX, JSON Lines or Parquet) that their keys produce from `identifier_columns` of `source_parquet`.

    Returns one dict per candidate, best first: `license_id`, `matches` (distinct pseudonyms
    matched), `column` (the identifier column they came from; None without matches) and
    `share` (matches over the distinct 64-hex tokens in the file). Raises ValueError for a
    file it cannot read or identifier columns the source does not have.
    """
    leaked_file, reader = _readable(leaked_file)
    if not candidates:
        return []
    with _connection(con) as con:
        known = {
            row[0]
            for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [source_parquet]).fetchall()
        }
        unknown = [c for c in identifier_columns if c not in known]
        if unknown or not identifier_columns:
            raise ValueError(f"not columns of the source data: {', '.join(unknown) or '(none given)'}")
        rows = _pseudonym_matches(
            con, leaked_file, reader, source_parquet, identifier_columns, candidates, batch
        )
    best: dict[int, tuple[int, str, int]] = {}
    for candidate, column, matches, tokens in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        best.setdefault(candidate, (matches, column, tokens))
    ranked = []
    for i, (license_id, _key) in enumerate(candidates):
        matches, column, tokens = best.get(i, (0, None, 0))
        ranked.append(
            {
                "license_id": license_id,
                "matches": matches,
                "column": column,
                "share": matches / tokens if tokens else 0.0,
            }
        )
    ranked.sort(key=lambda r: (-r["matches"], str(r["license_id"])))
    return ranked


# --- tracing by the rows themselves ----------------------------------------------------------
#
# Pseudonyms can be dropped or re-hashed; the rows cannot be changed without spoiling them.
# A record offer with a per-license sample delivers each license other rows, so the leaked rows
# themselves point at the license whose file holds them. Each candidate's delivery is rebuilt
# (its own plan, under its own key) and the leaked rows are counted against it as multisets of
# their non-identifier values. Decoys — the same plan under random keys, i.e. innocent licenses
# of the same terms — measure how often a file that did not leak holds as many of the rows:
# that share is the false-match rate reported with the best candidate. The best of n licenses
# is the best of n tries, so the bound is multiplied by n (Bonferroni): 20·n − 1 decoys let a
# file with no decoy as good reach 95% (measured: with one try's bound, 1 in 10 outsider leaks
# of 5 rows was pinned on one of six licenses; bench/leak_tracing.py).

DECOYS_PER_LICENSE = 20
MAX_DECOYS = 199
IDENTIFIED_CONFIDENCE = 0.95
IDENTIFIED_SHARE = 0.95


@dataclass(frozen=True)
class RowCandidate:
    """A file a license could have been given. `deliver(key)` returns the records plan
    (catalog.privacy.Plan) of that file under `key`; `identifiers` are its pseudonymised
    columns (left out of the comparison); `labels` map column names to the titles a header
    may use; `keyed` says whether the rows themselves depend on the key (a per-license sample)."""

    id: object
    deliver: Callable[[bytes], privacy.Plan]
    key: bytes
    identifiers: frozenset = frozenset()
    labels: dict = field(default_factory=dict)
    keyed: bool = True


def _norm(expr: str) -> str:
    """One text form for a value however a spreadsheet or reader wrote it: numbers and
    timestamps by value, text trimmed; NULL kept apart."""
    v = f"trim(CAST({expr} AS VARCHAR))"
    return (
        f"coalesce(CAST(TRY_CAST({v} AS DOUBLE) AS VARCHAR), CAST(TRY_CAST({v} AS TIMESTAMP) AS VARCHAR),"
        f" nullif({v}, ''), chr(29))"
    )


def _unneutralised(expr: str) -> str:
    """A leaked cell as text, without the apostrophe the writers put before a formula-like
    text (Parquet and JSON cells keep their types, so they are cast first)."""
    expr = f"CAST({expr} AS VARCHAR)"
    trigger = f"{expr} LIKE '''%' AND ascii(substr({expr}, 2)) IN (61, 43, 45, 64, 9, 13)"
    return f"CASE WHEN {trigger} THEN substr({expr}, 2) ELSE {expr} END"


def _header_key(name: str) -> str:
    return name.replace("\ufeff", "").strip().lstrip("'").strip().casefold()


def _mapping(header: list[str], columns: list[str], candidate: RowCandidate) -> list[tuple[str, str]]:
    """(leaked column, delivered column) pairs: by name or title, else by position when the file
    has every delivered column or every non-identifier one, in order."""
    wanted = {}
    for name in columns:
        if name in candidate.identifiers:
            continue
        wanted[_header_key(name)] = name
        if candidate.labels.get(name):
            wanted[_header_key(candidate.labels[name])] = name
    by_name = [(h, wanted[_header_key(h)]) for h in header if _header_key(h) in wanted]
    if by_name:
        return list({d: (h, d) for h, d in by_name}.values())
    plain = [c for c in columns if c not in candidate.identifiers]
    if len(header) == len(columns):
        return [(h, c) for h, c in zip(header, columns, strict=True) if c not in candidate.identifiers]
    if len(header) == len(plain):
        return list(zip(header, plain, strict=True))
    return []


def _leaked_rows(con, leaked_file: Path, headers: set[str]) -> tuple[list[str], int]:
    """Load the leaked file as text columns into __leak_rows; returns its header and row count.
    A CSV's first line is its header when it names a delivered column (by name or title)."""
    suffix = leaked_file.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        first = con.execute(
            "SELECT * FROM read_csv(?, all_varchar = true, header = false) LIMIT 1", [str(leaked_file)]
        ).fetchone()
        has_header = bool(first) and any(_header_key(str(v or "")) in headers for v in first)
        reader = f"read_csv(?, all_varchar = true, header = {'true' if has_header else 'false'})"
    else:
        reader = _READERS[suffix]
    con.execute(f"CREATE OR REPLACE TEMP TABLE __leak_rows AS SELECT * FROM {reader}", [str(leaked_file)])  # noqa: S608
    header = [row[0] for row in con.execute("DESCRIBE __leak_rows").fetchall()]
    (count,) = con.execute("SELECT count(*) FROM __leak_rows").fetchone()
    return header, count


def _contained(con, plan: privacy.Plan, mapping: list[tuple[str, str]]) -> int:
    """How many leaked rows (as a multiset) the plan's delivery holds."""
    leaked = " || chr(30) || ".join(_norm(_unneutralised(ident(h))) for h, _d in mapping)
    delivered = " || chr(30) || ".join(_norm(f"__d.{ident(d)}") for _h, d in mapping)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __leak_t AS SELECT {leaked} AS tup, count(*) AS n"  # noqa: S608
        " FROM __leak_rows GROUP BY ALL"
    )
    sql = (
        f"SELECT coalesce(sum(least(c.n, l.n)), 0) FROM (SELECT tup, count(*) AS n FROM"  # noqa: S608
        f" (SELECT {delivered} AS tup FROM ({plan.sql}) AS __d)"
        " WHERE tup IN (SELECT tup FROM __leak_t) GROUP BY tup) AS c JOIN __leak_t AS l USING (tup)"
    )
    (matched,) = con.execute(sql, plan.params).fetchone()
    return int(matched)


def _rank_by_rows(con, plans, header: list[str], rows: int) -> list[dict]:
    """One result per (candidate, plan), best first, with the rows of the file it holds."""
    ranked = []
    for candidate, plan in plans:
        mapping = _mapping(header, plan.columns, candidate)
        matched = _contained(con, plan, mapping) if mapping and rows else 0
        ranked.append(
            {
                "id": candidate.id,
                "rows": rows,
                "rows_matched": matched,
                "row_share": matched / rows if rows else 0.0,
                "columns": [d for _h, d in mapping],
                "identified": False,
                "confidence": None,
                "false_match_rate": None,
                "_candidate": candidate,
                "_mapping": mapping,
            }
        )
    ranked.sort(key=lambda r: (-r["rows_matched"], str(r["id"])))
    return ranked


def _weigh_against_decoys(con, ranked: list[dict], decoys: int | None) -> None:
    """Give the best of `ranked` its decoys, false-match rate, confidence and verdict (see
    trace_rows)."""
    import secrets

    best = ranked[0]
    candidate = best["_candidate"]
    tries = len({r["id"] for r in ranked})
    planned = decoys if decoys is not None else min(DECOYS_PER_LICENSE * tries - 1, MAX_DECOYS)
    as_good = runs = 0
    for _ in range(planned if candidate.keyed else 0):
        plan = candidate.deliver(secrets.token_bytes(32))
        as_good += _contained(con, plan, best["_mapping"]) >= best["rows_matched"]
        runs += 1
        if tries * (as_good + 1) / (planned + 1) > 1 - IDENTIFIED_CONFIDENCE:
            break  # cannot reach the confidence any more: innocent files are this alike
    rate = as_good / runs if runs else 1.0
    confidence = max(0.0, 1 - tries * (as_good + 1) / (runs + 1)) if runs else 0.0
    # Another license (not this license's extract of another version) as good?
    runner_up = max((r["rows_matched"] for r in ranked if r["id"] != best["id"]), default=-1)
    best.update(
        decoys=runs,
        decoys_as_good=as_good,
        false_match_rate=rate,
        confidence=confidence,
        identified=(
            best["row_share"] >= IDENTIFIED_SHARE
            and confidence >= IDENTIFIED_CONFIDENCE - 1e-9  # 1 - 6/120 is 0.95
            and best["rows_matched"] > runner_up
        ),
    )


def trace_rows(
    *, leaked_file: Path, candidates: list[RowCandidate], decoys: int | None = None, con=None
) -> list[dict]:
    """Rank `candidates` by the share of the leaked file's rows their deliveries hold.

    One dict per candidate, best first: `id`, `rows` (rows of the file), `rows_matched`,
    `row_share`, `columns` (the delivered columns compared; empty when none could be matched).
    The best candidate also gets `decoys` (innocent files of its terms under random keys),
    `decoys_as_good` (those holding at least as many rows), `false_match_rate` (their share),
    `confidence` (1 - n · (decoys_as_good + 1) / (decoys + 1) for n licenses, a Monte Carlo
    bound corrected for picking the best of n; `decoys` defaults to 20·n − 1, at most 199) and
    `identified`: it holds ≥ 95% of the rows, more than any other candidate, at ≥ 95%
    confidence. Raises ValueError for a file it cannot read."""
    leaked_file, _reader = _readable(leaked_file)
    if not candidates:
        return []
    with _connection(con) as con:
        plans = [(c, c.deliver(c.key)) for c in candidates]
        headers = {
            _header_key(x)
            for c, p in plans
            for name in p.columns
            if name not in c.identifiers
            for x in (name, c.labels.get(name) or name)
        }
        try:
            header, rows = _leaked_rows(con, leaked_file, headers)
            ranked = _rank_by_rows(con, plans, header, rows)
            if ranked[0]["rows_matched"]:
                _weigh_against_decoys(con, ranked, decoys)
        except duckdb.Error as exc:
            raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
        finally:
            con.execute("DROP TABLE IF EXISTS __leak_rows")
            con.execute("DROP TABLE IF EXISTS __leak_t")
    for row in ranked:
        row.pop("_candidate", None)
        row.pop("_mapping", None)
    return ranked

"""Which license did a leaked file come from?

Every license pseudonymises identifiers with its own HMAC key, so a leaked file's pseudonyms
name the license they were made under. `trace_leak` recomputes, in DuckDB, the HMAC of every
distinct raw identifier value in the source Parquet under every candidate key, joins those with
the 64-hex tokens found anywhere in the leaked file (whatever its columns are called now), and
ranks the candidates by how many pseudonyms match.
"""

from __future__ import annotations

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


def trace_leak(
    *,
    leaked_file: Path,
    source_parquet: str,
    identifier_columns: list[str],
    candidates: list[tuple[object, bytes]],
    con=None,
) -> list[dict]:
    """Rank `candidates` (license id, license key) by the pseudonyms of `leaked_file` (CSV,
    JSON Lines or Parquet) that their keys produce from `identifier_columns` of `source_parquet`.

    Returns one dict per candidate, best first: `license_id`, `matches` (distinct pseudonyms
    matched), `column` (the identifier column they came from; None without matches) and
    `share` (matches over the distinct 64-hex tokens in the file). Raises ValueError for a
    file it cannot read or identifier columns the source does not have.
    """
    leaked_file = Path(leaked_file)
    reader = _READERS.get(leaked_file.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot read {leaked_file.name}: give a CSV, JSON Lines or Parquet file")
    if not candidates:
        return []
    own = con is None
    if own:
        from marketplace.duckdb import connect

        con = connect()
    try:
        known = {
            row[0]
            for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [source_parquet]).fetchall()
        }
        unknown = [c for c in identifier_columns if c not in known]
        if unknown or not identifier_columns:
            raise ValueError(f"not columns of the source data: {', '.join(unknown) or '(none given)'}")
        keys, key_params = [], []
        for i, (_license, key) in enumerate(candidates):
            inner, outer = privacy.hmac_pads(key)
            keys.append(f"({i}, ?, ?)")
            key_params += [outer, inner]
        raw = " UNION ALL ".join(
            f"SELECT DISTINCT {literal(c)} AS column_name, CAST({ident(c)} AS VARCHAR) AS raw"  # noqa: S608
            f" FROM read_parquet(?) WHERE {ident(c)} IS NOT NULL"
            for c in identifier_columns
        )
        digest = privacy.hmac_sql("raw.raw", "keys.outer_pad", "keys.inner_pad")
        # Column names are checked against the source schema and quoted; values are bound.
        sql = (
            f"WITH tokens AS (SELECT DISTINCT lower(unnest(regexp_extract_all("  # noqa: S608
            f"concat_ws(' ', *COLUMNS(*)), '[0-9A-Fa-f]{{64}}'))) AS pseudonym FROM {reader}),"
            f" keys AS (SELECT * FROM (VALUES {', '.join(keys)}) AS k(candidate, outer_pad, inner_pad)),"
            f" raw AS ({raw}),"
            f" hashed AS (SELECT keys.candidate, raw.column_name, {digest} AS pseudonym"
            " FROM raw CROSS JOIN keys)"
            " SELECT hashed.candidate, hashed.column_name, count(*) AS matches,"
            " (SELECT count(*) FROM tokens) AS tokens"
            " FROM hashed JOIN tokens USING (pseudonym) GROUP BY ALL"
        )
        params = [str(leaked_file), *key_params, *([source_parquet] * len(identifier_columns))]
        try:
            rows = con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
    finally:
        if own:
            con.close()
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

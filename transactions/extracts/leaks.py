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
    leaked_file = Path(leaked_file)
    if leaked_file.suffix.lower() == ".xlsx":
        try:
            leaked_file = _xlsx_to_csv(leaked_file)
        except Exception as exc:  # a corrupt workbook: zipfile, XML or openpyxl errors
            raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
    reader = _READERS.get(leaked_file.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot read {leaked_file.name}: give a CSV, XLSX, JSON Lines or Parquet file")
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
        raw = " UNION ALL ".join(
            f"SELECT DISTINCT {literal(c)} AS column_name, CAST({ident(c)} AS VARCHAR) AS raw"  # noqa: S608
            f" FROM read_parquet(?) WHERE {ident(c)} IS NOT NULL"
            for c in identifier_columns
        )
        digest = privacy.hmac_sql("raw.raw", "keys.outer_pad", "keys.inner_pad")
        rows = []
        try:
            # The file's tokens and the source's distinct identifiers are read once; then each
            # batch of candidate keys is hashed against them.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE __leak_tokens AS"  # noqa: S608
                " SELECT DISTINCT lower(unnest(regexp_extract_all("
                f"concat_ws(' ', *COLUMNS(*)), '[0-9A-Fa-f]{{64}}'))) AS pseudonym FROM {reader}",
                [str(leaked_file)],
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __leak_raw AS {raw}",
                [source_parquet] * len(identifier_columns),
            )
            (tokens,) = con.execute("SELECT count(*) FROM __leak_tokens").fetchone()
            for start in range(0, len(candidates), max(1, int(batch))):
                keys, key_params = [], []
                for i, (_license, key) in enumerate(candidates[start : start + batch], start):
                    inner, outer = privacy.hmac_pads(key)
                    keys.append(f"({i}, ?, ?)")
                    key_params += [outer, inner]
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
                rows += con.execute(sql, key_params).fetchall()
        except duckdb.Error as exc:
            raise ValueError(f"cannot read {leaked_file.name}: {exc}") from exc
        finally:
            con.execute("DROP TABLE IF EXISTS __leak_tokens")
            con.execute("DROP TABLE IF EXISTS __leak_raw")
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

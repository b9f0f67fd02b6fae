"""transactions.extracts: the extract engine, checked end to end against hand-computed results
on 30 card transactions. Pure (no database): the engine knows nothing of Django."""

import csv
import io
import json
import os
import zipfile
import zlib
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import privacy
from catalog.policy import OfferPolicy
from catalog.privacy import Column, PlanError, pseudonym
from transactions import extracts
from transactions.extracts import (
    ExtractError,
    ExtractTooLarge,
    Recipe,
    build_manifest,
    build_recipe,
    datapackage,
    run_extract,
    trace_leak,
    write_bundle,
    writers,
)

KEY = b"license-7-key-0123456789abcdef!!"
FORMATS = ["csv", "csv_bom", "parquet", "jsonl", "xlsx"]

# (card_id, merchant_id, name, age_band, region, day, amount, memo)
# Cells by region x month, for an aggregate with k=5 and dominance 0.85 over merchants:
#   41110 2024-01  6 cards, SHOP-1 300 / SHOP-2 300            -> kept
#   41110 2024-02  5 rows but 4 cards                            -> k suppresses
#   41130 2024-01  6 cards, SHOP-3 900 of 1000 (0.9)            -> dominance suppresses at 0.85
#   (none) 2024-03 5 cards, SHOP-5 200 / SHOP-6 300             -> kept (NULL region is a cell)
#   41150 2024-02  8 cards, SHOP-7 200 / SHOP-8 200             -> kept
ROWS = [
    ("CARD-01", "SHOP-1", "김일", "20대", "41110", date(2024, 1, 1), 100, "커피"),
    ("CARD-02", "SHOP-1", "김이", "20대", "41110", date(2024, 1, 10), 100, "=1+1"),
    ("CARD-03", "SHOP-1", "김삼", "30대", "41110", date(2024, 1, 31), 100, "+82"),
    ("CARD-04", "SHOP-2", "김사", "30대", "41110", date(2024, 1, 15), 100, "-3"),
    ("CARD-05", "SHOP-2", "김오", "40대", "41110", date(2024, 1, 20), 100, "@SUM(A1)"),
    ("CARD-06", "SHOP-2", "김육", "40대", "41110", date(2024, 1, 31), 100, "\tindent"),
    ("CARD-01", "SHOP-1", "김일", "20대", "41110", date(2024, 2, 1), 200, "\rcr"),
    ("CARD-02", "SHOP-2", "김이", "20대", "41110", date(2024, 2, 2), 200, "점심"),
    ("CARD-03", "SHOP-1", "김삼", "30대", "41110", date(2024, 2, 15), 200, ""),
    ("CARD-04", "SHOP-2", "김사", "30대", "41110", date(2024, 2, 28), 200, "a,b"),
    ("CARD-04", "SHOP-1", "김사", "30대", "41110", date(2024, 2, 29), 200, 'say "hi"'),
    ("CARD-07", "SHOP-3", "이일", "50대", "41130", date(2024, 1, 3), 900, "line\nbreak"),
    ("CARD-08", "SHOP-4", "이이", "50대", "41130", date(2024, 1, 4), 20, None),
    ("CARD-09", "SHOP-4", "이삼", "60대", "41130", date(2024, 1, 5), 20, "x"),
    ("CARD-10", "SHOP-4", "이사", "60대", "41130", date(2024, 1, 6), 20, "x"),
    ("CARD-11", "SHOP-4", "이오", "60대", "41130", date(2024, 1, 7), 20, "x"),
    ("CARD-12", "SHOP-4", "이육", "60대", "41130", date(2024, 1, 8), 20, "x"),
    ("CARD-13", "SHOP-5", "박일", "20대", None, date(2024, 3, 1), 100, "y"),
    ("CARD-14", "SHOP-5", "박이", "20대", None, date(2024, 3, 2), 100, "y"),
    ("CARD-15", "SHOP-6", "박삼", "20대", None, date(2024, 3, 3), 100, "y"),
    ("CARD-16", "SHOP-6", "박사", "20대", None, date(2024, 3, 4), 100, "y"),
    ("CARD-17", "SHOP-6", "박오", "20대", None, date(2024, 3, 31), 100, "y"),
    ("CARD-18", "SHOP-7", "최일", "30대", "41150", date(2024, 2, 1), 50, "z"),
    ("CARD-19", "SHOP-7", "최이", "30대", "41150", date(2024, 2, 5), 50, "z"),
    ("CARD-20", "SHOP-7", "최삼", "30대", "41150", date(2024, 2, 10), 50, "z"),
    ("CARD-21", "SHOP-7", "최사", "30대", "41150", date(2024, 2, 11), 50, "z"),
    ("CARD-22", "SHOP-8", "최오", "40대", "41150", date(2024, 2, 12), 50, "z"),
    ("CARD-23", "SHOP-8", "최육", "40대", "41150", date(2024, 2, 13), 50, "z"),
    ("CARD-24", "SHOP-8", "최칠", "40대", "41150", date(2024, 2, 14), 50, "z"),
    ("CARD-25", "SHOP-8", "최팔", "40대", "41150", date(2024, 2, 29), 50, "z"),
]
NAMES = ["card_id", "merchant_id", "name", "age_band", "region", "day", "amount", "memo"]
SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("merchant_id", "string", "identifier"),
    Column("name", "string", "excluded"),
    Column("age_band", "string", "quasi_identifier"),
    Column("region", "string", "public"),
    Column("day", "date", "public"),
    Column("amount", "integer", "public"),
    Column("memo", "string", "public"),
]
RECORDS = {
    "kind": "records",
    "fields": ["card_id", "merchant_id", "age_band", "region", "day", "amount", "memo"],
    "region_field": "region",
    "date_field": "day",
    "quasi_identifiers_allowed": False,
}
AGGREGATE = {
    "kind": "aggregate",
    "fields": ["region", "day"],
    "dimensions": ["region", "day"],
    "measures": [{"field": "amount", "agg": "sum"}],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "region_field": "region",
    "date_field": "day",
    "k": 5,
    "dominance": 0.85,
    "date_granularity": "month",
}
RAW_IDENTIFIERS = sorted({r[0] for r in ROWS} | {r[1] for r in ROWS})
EXCLUDED_VALUES = sorted({r[2] for r in ROWS})
NEUTRALISED = {
    "=1+1": "'=1+1",
    "+82": "'+82",
    "-3": "'-3",
    "@SUM(A1)": "'@SUM(A1)",
    "\tindent": "'\tindent",
    "\rcr": "'\rcr",
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("source") / "cards.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (card_id VARCHAR, merchant_id VARCHAR, name VARCHAR, age_band VARCHAR,"
        " region VARCHAR, day DATE, amount BIGINT, memo VARCHAR)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    return str(path)


def recipe(source, *, offer=RECORDS, scope=None, key=KEY, format="csv"):
    return build_recipe(
        parquet=source,
        source_sha256="0" * 64,
        schema=SCHEMA,
        policy=OfferPolicy.from_values(offer),
        scope=scope or {},
        key=key,
        format=format,
        noise_seed="0" * 64,
    )


def build(source, tmp_path, name="out", **kwargs):
    r = recipe(source, **kwargs)
    suffix = extracts.FORMATS[r.format].suffix
    result = run_extract(
        r,
        out_path=tmp_path / "delivered" / f"{name}{suffix}",
        work_dir=tmp_path / "work",
        key=kwargs.get("key", KEY),
    )
    return r, result


def read_back(path: Path, fmt: str) -> tuple[list[str], list[tuple]]:
    """Header and rows of an extract, every value as the text a buyer would see."""
    if fmt in ("csv", "csv_bom"):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (fmt == "csv_bom")
        text = raw.decode("utf-8-sig")
        assert text.endswith("\r\n")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        return rows[0], [tuple(r) for r in rows[1:]]
    if fmt == "parquet":
        table = pq.read_table(path)
        rows = [tuple("" if v is None else str(v) for v in row.values()) for row in table.to_pylist()]
        return table.column_names, rows
    if fmt == "jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        header = list(lines[0]) if lines else []
        return header, [tuple("" if v is None else str(v) for v in d.values()) for d in lines]
    from openpyxl import load_workbook

    sheet = load_workbook(path).active
    values = [
        tuple(
            ""
            if c.value is None
            else c.value.date().isoformat()
            if isinstance(c.value, datetime)
            # XML parsers differ on a bare carriage return (lxml keeps it): read it as a line feed
            else str(c.value).replace("\r", "\n")
            for c in row
        )
        for row in sheet.iter_rows()
    ]
    return list(values[0]), values[1:]


# -- projection, filters, pseudonyms -------------------------------------------------------


def test_records_are_the_licensed_fields_filtered_with_inclusive_dates(source, tmp_path):
    scope = {
        "fields": ["card_id", "region", "day", "amount", "name"],
        "regions": ["41110", "41150"],
        "date_from": "2024-01-31",
        "date_to": "2024-02-01",
    }
    r, result = build(source, tmp_path, scope=scope)
    header, rows = read_back(result.path, "csv")
    assert header == r.columns == ["card_id", "region", "day", "amount"]  # name: excluded
    expected = [
        (pseudonym(KEY, card), region, day.isoformat(), str(amount))
        for card, _m, _n, _a, region, day, amount, _memo in ROWS
        if region in ("41110", "41150") and date(2024, 1, 31) <= day <= date(2024, 2, 1)
    ]
    assert [e[0] for e in expected] == [
        pseudonym(KEY, c) for c in ("CARD-03", "CARD-06", "CARD-01", "CARD-18")
    ]
    assert rows == expected and result.rows == 4


@pytest.mark.parametrize(
    ("scope", "expected_cards"),
    [
        ({"regions": ["41130"]}, {f"CARD-{i:02}" for i in range(7, 13)}),
        ({"date_from": "2024-03-01"}, {f"CARD-{i:02}" for i in range(13, 18)}),
        ({"date_to": "2024-01-03"}, {"CARD-01", "CARD-07"}),
        ({"regions": ["41150"], "date_from": "2024-02-29", "date_to": "2024-02-29"}, {"CARD-25"}),
    ],
)
def test_each_filter(source, tmp_path, scope, expected_cards):
    _r, result = build(source, tmp_path, scope={"fields": ["card_id"], **scope})
    _h, rows = read_back(result.path, "csv")
    assert {row[0] for row in rows} == {pseudonym(KEY, c) for c in expected_cards}


def test_pseudonyms_are_python_hmac_stable_within_a_key_unlinkable_across_keys(source, tmp_path):
    scope = {"fields": ["card_id", "merchant_id"]}
    _r, a = build(source, tmp_path, name="a", scope=scope)
    _r, again = build(source, tmp_path, name="again", scope=scope)
    _r, other = build(source, tmp_path, name="other", scope=scope, key=b"another license's key")
    rows_a, rows_again, rows_other = (read_back(x.path, "csv")[1] for x in (a, again, other))
    assert rows_a == rows_again == [(pseudonym(KEY, r[0]), pseudonym(KEY, r[1])) for r in ROWS]
    assert {v for row in rows_a for v in row}.isdisjoint({v for row in rows_other for v in row})
    assert len({row[0] for row in rows_a}) == 25  # one pseudonym per card


def test_excluded_and_withheld_fields_are_never_read(source, tmp_path):
    r = recipe(source, scope={"fields": NAMES})
    assert '"name"' not in r.sql and '"age_band"' not in r.sql  # not in SELECT, WHERE or anywhere
    assert r.columns == ["card_id", "merchant_id", "region", "day", "amount", "memo"]
    allowed = recipe(source, offer={**RECORDS, "quasi_identifiers_allowed": True}, scope={"fields": NAMES})
    assert "age_band" in allowed.columns and '"name"' not in allowed.sql
    with pytest.raises(PlanError):
        recipe(source, scope={"fields": ["name"]})


def test_hostile_scope_values_match_nothing(source, tmp_path):
    _r, result = build(source, tmp_path, scope={"fields": ["region"], "regions": ["'); DROP TABLE x; --"]})
    assert result.rows == 0 and read_back(result.path, "csv") == (["region"], [])


# -- aggregates ----------------------------------------------------------------------------


def test_aggregate_extract_delivers_the_protected_table(source, tmp_path):
    """Counted by card (no contributor column): 41110/2024-02 has 4 cards (< k = 5), 41130/2024-01
    fails the p% rule (CARD-07 spends 900 of 1000); secondary suppression then takes
    41110/2024-01 and 41150/2024-02, each the only other cell of its month. Only the NULL-region
    March cell is delivered, with cell-key noise."""
    _r, result = build(source, tmp_path, offer={**AGGREGATE, "dominance_field": ""})
    header, rows = read_back(result.path, "csv")
    assert header == ["region", "day", "records", "sum_amount"]
    [(region, month, records, total)] = rows
    assert (region, month) == ("", "2024-03-01")
    assert abs(int(records) - 5) <= 2 and abs(int(total) - 500) <= 50
    assert "card_id" not in header and all(c not in result.path.read_text() for c in RAW_IDENTIFIERS)


# -- formats -------------------------------------------------------------------------------


def expected_records(fmt):
    out = []
    for card, merchant, _n, _a, region, day, amount, memo in ROWS:
        memo = "" if memo is None else memo
        if fmt in ("csv", "csv_bom", "xlsx"):
            memo = NEUTRALISED.get(memo, memo)
        if fmt == "xlsx":  # XML reads a bare carriage return as a line feed
            memo = memo.replace("\r", "\n")
        out.append(
            (pseudonym(KEY, card), pseudonym(KEY, merchant), region or "", day.isoformat(), str(amount), memo)
        )
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_back(source, tmp_path, fmt):
    _r, result = build(source, tmp_path, format=fmt)
    header, rows = read_back(result.path, fmt)
    assert header == ["card_id", "merchant_id", "region", "day", "amount", "memo"]
    assert rows == expected_records(fmt)
    assert result.rows == 30 and result.bytes == result.path.stat().st_size
    if fmt == "parquet":
        meta = pq.ParquetFile(result.path).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"


def test_formula_cells_are_neutralised_in_csv_and_xlsx_only(source, tmp_path):
    _r, csv_result = build(source, tmp_path, scope={"fields": ["memo"]})
    memos = [row[0] if row else "" for row in read_back(csv_result.path, "csv")[1]]  # NULL: a blank line
    assert memos[1:7] == ["'=1+1", "'+82", "'-3", "'@SUM(A1)", "'\tindent", "'\rcr"]
    assert memos[0] == "커피" and memos[9] == "a,b" and memos[10] == 'say "hi"' and memos[11] == "line\nbreak"
    assert "CASE WHEN ascii(" in recipe(source, scope={"fields": ["memo"]}).sql  # in SQL, not a Python loop

    _r, xlsx = build(source, tmp_path, scope={"fields": ["memo", "amount"]}, format="xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx.path).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    # A bare carriage return reads back as a line feed or as itself, by XML parser (lxml keeps it).
    shown = [c.value.replace("\r", "\n") for c in cells[1:7]]
    assert shown == ["'=1+1", "'+82", "'-3", "'@SUM(A1)", "'\tindent", "'\ncr"]
    assert all(c.data_type != "f" for c in cells)  # no formula cell
    with zipfile.ZipFile(xlsx.path) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")
    assert sheet.cell(row=3, column=2).value == 100  # numbers stay numbers

    _r, jsonl = build(source, tmp_path, scope={"fields": ["memo"]}, format="jsonl")
    assert json.loads(jsonl.path.read_text().splitlines()[1]) == {"memo": "=1+1"}  # data, not a sheet


def test_header_names_are_neutralised_too(source, tmp_path):
    schema = [*SCHEMA, Column("=HYPERLINK()", "string", "public")]
    r = build_recipe(
        parquet=source,
        source_sha256="0",
        schema=schema,
        policy=OfferPolicy.from_values({**RECORDS, "fields": ["region"]}),
        scope={},
        key=KEY,
        format="csv",
    )
    assert r.columns == ["region"]
    assert writers.neutralise_text("=HYPERLINK()") == "'=HYPERLINK()"
    assert writers.neutralise_text("\x01=x", xlsx=True) == "'=x"


def test_xlsx_refuses_what_a_sheet_cannot_hold(source, tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 29)
    r = recipe(source, format="xlsx")
    with pytest.raises(ExtractTooLarge, match="choose CSV or Parquet"):
        run_extract(r, key=KEY, out_path=tmp_path / "x.xlsx", work_dir=tmp_path / "work")
    assert not (tmp_path / "x.xlsx").exists() and os.listdir(tmp_path / "work") == []
    monkeypatch.setattr(writers, "XLSX_MAX_COLUMNS", 3)
    with pytest.raises(ExtractTooLarge, match="choose CSV or Parquet"):
        recipe(source, format="xlsx")
    assert recipe(source, format="csv").columns  # other formats are not limited


def test_data_that_no_longer_fits_the_recipe_is_a_clear_error(source, tmp_path):
    import dataclasses

    older = tmp_path / "older.parquet"
    duckdb.connect().execute(f"COPY (SELECT region, day FROM '{source}') TO '{older}' (FORMAT parquet)")
    r = recipe(source, scope={"fields": ["region", "memo"]})
    moved = dataclasses.replace(r, params=[str(older) if p == source else p for p in r.params])
    with pytest.raises(ExtractError, match="does not match"):
        run_extract(moved, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
    assert not (tmp_path / "o.csv").exists() and os.listdir(tmp_path / "work") == []


def test_unknown_format(source):
    with pytest.raises(ExtractError, match="unknown format"):
        recipe(source, format="xls")


# -- rebuilds, progress, atomicity ---------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("offer", [RECORDS, AGGREGATE], ids=["records", "aggregate"])
def test_rebuild_from_the_stored_recipe_is_byte_identical(source, tmp_path, fmt, offer):
    first = recipe(source, offer=offer, format=fmt)
    stored = Recipe.from_dict(json.loads(json.dumps(first.to_dict())))
    assert stored == first
    one = run_extract(first, key=KEY, out_path=tmp_path / "one", work_dir=tmp_path / "work")
    con = duckdb.connect()
    con.execute("SET threads = 4")
    two = run_extract(stored, key=KEY, out_path=tmp_path / "two", work_dir=tmp_path / "work", con=con)
    assert (one.sha256, one.bytes, one.rows) == (two.sha256, two.bytes, two.rows)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()
    (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
    assert threads == 4  # a borrowed connection's settings are left as they were
    assert "params" not in first.summary()  # manifests never carry key material


GG_CODES = [str(41110 + 10 * k) for k in range(31)]


@pytest.fixture(scope="module")
def many_row_groups(tmp_path_factory):
    """400,000 transactions in 20 row groups; `amount` is the source row number."""
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT 'CARD-' || (i % 5000) AS card_id, 'SHOP-' || (i % 300) AS merchant_id, 'n' AS name,"
        " '20대' AS age_band, CAST(41110 + 10 * (hash(i) % 31) AS VARCHAR) AS region,"
        " DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day, i AS amount, 'm' AS memo"
        f" FROM range(400000) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 20000)"
    )
    return str(path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_filtered_extracts_keep_source_order_and_bytes_across_runs(many_row_groups, tmp_path, fmt):
    # An IN list of 12 regions is rewritten by DuckDB's in_clause optimizer into a hash join that
    # does not keep the file's order even with preserve_insertion_order (duckdb/duckdb#24398).
    # The recipe does not sort one file's rows (issue 18): the run turns that optimizer off.
    scope = {"fields": ["card_id", "region", "amount"], "regions": GG_CODES[:12]}
    r = recipe(many_row_groups, scope=scope, format=fmt)
    # text needs no sort; Parquet's row groups follow the writer's batches, which only a sort fixes
    assert ("ORDER BY" in r.sql) == (fmt == "parquet")
    digests = set()
    for threads in (2, 2, 4):
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        con.execute("SET disabled_optimizers = 'late_materialization'")
        out = tmp_path / f"o.{fmt}"
        result = run_extract(r, key=KEY, out_path=out, work_dir=tmp_path / "work", con=con)
        # a borrowed connection gets its own settings back
        assert con.execute("SELECT current_setting('disabled_optimizers')").fetchone() == (
            "late_materialization",
        )
        digests.add(result.sha256)
    assert len(digests) == 1
    amounts = [int(row[2]) for row in read_back(result.path, fmt)[1]]
    assert amounts == sorted(amounts) and len(amounts) == result.rows > 100_000


def test_records_over_a_glob_of_files_are_still_sorted_by_file_and_row(many_row_groups):
    r = recipe(str(Path(many_row_groups).parent / "*.parquet"), format="csv")
    assert r.sql.endswith('ORDER BY extract."__source_file", extract."__source_row"')


def test_progress_goes_from_0_to_100_and_only_up(many_row_groups, tmp_path):
    seen = []
    r = recipe(many_row_groups, format="parquet")
    result = run_extract(
        r, key=KEY, out_path=tmp_path / "p.parquet", work_dir=tmp_path / "work", progress=seen.append
    )
    assert result.rows == 400000
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(set(seen))
    xlsx_seen = []
    r = recipe(many_row_groups, offer={**AGGREGATE, "k": 3, "dominance_field": ""}, format="xlsx")
    run_extract(
        r, key=KEY, out_path=tmp_path / "a.xlsx", work_dir=tmp_path / "work", progress=xlsx_seen.append
    )
    assert xlsx_seen[0] == 0 and xlsx_seen[-1] == 100 and 50 in xlsx_seen
    assert xlsx_seen == sorted(set(xlsx_seen))


class Boom(Exception):
    pass


def fail_at(pct):
    def progress(p):
        if p >= pct:
            raise Boom

    return progress


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_build_leaves_nothing_behind(source, tmp_path, monkeypatch, fmt):
    out, work = tmp_path / "out" / "extract.bin", tmp_path / "work"
    r = recipe(source, format=fmt)
    # after the query, before the rename
    with pytest.raises(Boom):
        run_extract(r, key=KEY, out_path=out, work_dir=work, progress=fail_at(1))
    assert not out.exists() and os.listdir(work) == []
    # while checksumming, with an older delivery already in place: it stays as it was
    out.parent.mkdir(parents=True)
    out.write_bytes(b"previous delivery")

    def broken(path):
        raise OSError("disk full")

    monkeypatch.setattr(writers, "sha256_file", broken)
    with pytest.raises(OSError, match="disk full"):
        run_extract(r, key=KEY, out_path=out, work_dir=work)
    assert out.read_bytes() == b"previous delivery" and os.listdir(work) == []


def test_delivery_to_another_file_system_still_ends_in_one_rename(source, tmp_path, monkeypatch):
    import errno

    real_replace, calls = os.replace, []

    def cross_device(src, dst):
        calls.append(Path(src).parent)
        if Path(src).parent != Path(dst).parent:  # the work dir is "another file system"
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(writers.os, "replace", cross_device)
    _r, result = build(source, tmp_path)
    assert len(calls) == 2 and calls[1] == result.path.parent  # copied beside it, then renamed
    assert writers.sha256_file(result.path) == (result.bytes, result.sha256)
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["out.csv"]
    assert os.listdir(tmp_path / "work") == []


def test_a_failure_halfway_through_a_workbook_leaves_nothing_behind(source, tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "XLSX_BATCH", 5)
    out, work = tmp_path / "x.xlsx", tmp_path / "work"
    with pytest.raises(Boom):
        run_extract(recipe(source, format="xlsx"), key=KEY, out_path=out, work_dir=work, progress=fail_at(70))
    assert not out.exists() and os.listdir(work) == []


# -- bundle --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_bundle_holds_data_manifest_and_a_valid_datapackage(source, tmp_path, fmt):
    r, result = build(source, tmp_path, format=fmt)
    name = f"extract{extracts.FORMATS[fmt].suffix}"
    package = datapackage(
        data_name=name,
        columns=r.output_fields(),
        format=fmt,
        rows=result.rows,
        sha256=result.sha256,
        bytes=result.bytes,
        title="경기지역화폐 결제 내역",
        license_text="약관 v1",
    )
    manifest = build_manifest(
        license_id=7,
        organization="소상공인연합회",
        scope={"fields": []},
        terms_sha256="ab" * 32,
        dataset="gg-local-currency",
        version=3,
        data_name=name,
        rows=result.rows,
        sha256=result.sha256,
        bytes=result.bytes,
        built_at=datetime(2024, 5, 1, 9, 0),
        recipe=r,
    )
    out_zip = tmp_path / "bundles" / "7.zip"
    size, digest = write_bundle(
        data_path=result.path, data_name=name, manifest=manifest, out_zip=out_zip, datapackage=package
    )
    assert (size, digest) == writers.sha256_file(out_zip)
    assert [p.name for p in out_zip.parent.iterdir()] == ["7.zip"]  # no temporary left beside it
    with zipfile.ZipFile(out_zip) as z:
        assert z.namelist() == [name, "manifest.json", "datapackage.json"]
        info = z.getinfo(name)
        assert info.compress_type == (
            zipfile.ZIP_STORED if fmt in ("parquet", "xlsx") else zipfile.ZIP_DEFLATED
        )
        assert z.read(name) == result.path.read_bytes()
        stored = json.loads(z.read("manifest.json"))
        assert stored["file"] == {
            "name": name,
            "format": fmt,
            "rows": 30,
            "sha256": result.sha256,
            "bytes": result.bytes,
        }
        assert stored["license"]["id"] == 7 and stored["recipe"]["columns"] == r.columns
        assert "params" not in json.dumps(stored)
        assert not set(privacy.hmac_pads(KEY)) & set(json.dumps(stored).split('"'))  # no key pads
        z.extractall(tmp_path / "unzipped")
    resource = package["resources"][0]
    assert resource["hash"] == f"sha256:{result.sha256}" and resource["bytes"] == result.bytes
    assert [f["type"] for f in resource["schema"]["fields"]] == [
        "string",
        "string",
        "string",
        "date",
        "integer",
        "string",
    ]
    frictionless = pytest.importorskip("frictionless")
    skip = []
    if fmt == "parquet":
        pytest.importorskip("pandas")  # frictionless reads Parquet through pandas
        skip = ["byte-count", "hash-count"]  # it cannot count a Parquet file's bytes
    if fmt == "jsonl":
        pytest.importorskip("jsonlines")  # frictionless[json]
    report = frictionless.validate(str(tmp_path / "unzipped" / "datapackage.json"), skip_errors=skip)
    assert report.valid, report.flatten(["type", "message"])


def test_bundle_names_are_plain_file_names(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\r\n1\r\n")
    for bad in ("../x.csv", "a/b.csv", "manifest.json", ""):
        with pytest.raises(ValueError):
            write_bundle(data_path=data, data_name=bad, manifest={}, out_zip=tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


# -- leaks ---------------------------------------------------------------------------------

CANDIDATES = [(license_id, f"key of license {license_id}".encode()) for license_id in (11, 12, 13, 14, 15)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_leak_tracing_names_the_license(source, tmp_path, fmt):
    _r, result = build(
        source, tmp_path, scope={"fields": ["region", "card_id"]}, key=CANDIDATES[2][1], format=fmt
    )
    ranked = trace_leak(
        leaked_file=result.path,
        source_parquet=source,
        identifier_columns=["card_id", "merchant_id"],
        candidates=CANDIDATES,
    )
    assert ranked[0] == {"license_id": 13, "matches": 25, "column": "card_id", "share": 1.0}
    assert [r["matches"] for r in ranked[1:]] == [0, 0, 0, 0]


def test_leak_tracing_survives_renamed_columns_and_a_partial_copy(source, tmp_path):
    _r, result = build(source, tmp_path, scope={"fields": ["merchant_id", "amount"]}, key=CANDIDATES[4][1])
    _h, rows = read_back(result.path, "csv")
    leaked = tmp_path / "pasted.csv"
    leaked.write_text("가맹점;금액\n" + "\n".join(f"{m.upper()};{a}" for m, a in rows[:10]), encoding="utf-8")
    ranked = trace_leak(
        leaked_file=leaked,
        source_parquet=source,
        identifier_columns=["card_id", "merchant_id"],
        candidates=CANDIDATES,
    )
    assert (ranked[0]["license_id"], ranked[0]["column"]) == (15, "merchant_id")
    assert ranked[0]["matches"] == len({m for m, _a in rows[:10]})
    with pytest.raises(ValueError, match="not columns"):
        trace_leak(
            leaked_file=leaked, source_parquet=source, identifier_columns=["nope"], candidates=CANDIDATES
        )
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match="cannot read"):
        trace_leak(
            leaked_file=broken, source_parquet=source, identifier_columns=["card_id"], candidates=CANDIDATES
        )


# -- properties ----------------------------------------------------------------------------

field_sets = st.lists(st.sampled_from([*NAMES, "not_a_column"]), min_size=1, max_size=9, unique=True)
region_sets = st.lists(
    st.sampled_from(["41110", "41130", "41150", "99999", "'; --"]), max_size=4, unique=True
)
days = st.dates(min_value=date(2023, 12, 15), max_value=date(2024, 4, 15))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=field_sets,
    regions=region_sets,
    window=st.tuples(st.none() | days, st.none() | days),
    fmt=st.sampled_from(["csv", "jsonl", "parquet"]),
    quasi=st.booleans(),
)
def test_no_scope_leaks_an_identifier_or_an_unlicensed_field(
    source, tmp_path, fields, regions, window, fmt, quasi
):
    date_from, date_to = sorted(window, key=lambda d: d or date.min) if all(window) else window
    scope = {
        "fields": fields,
        "regions": regions,
        "date_from": date_from and date_from.isoformat(),
        "date_to": date_to and date_to.isoformat(),
    }
    offer = {**RECORDS, "quasi_identifiers_allowed": quasi}
    licensed = set(fields) & set(offer["fields"]) - ({"age_band"} if not quasi else set())
    try:
        r = recipe(source, offer=offer, scope=scope, format=fmt)
    except PlanError:
        assert not licensed
        return
    out = tmp_path / f"h.{fmt}"
    result = run_extract(r, key=KEY, out_path=out, work_dir=tmp_path / "work")
    header, rows = read_back(out, fmt) if result.rows else (r.columns, [])
    assert set(header) <= licensed and set(r.columns) == licensed
    values = {v for row in rows for v in row}
    assert values.isdisjoint(RAW_IDENTIFIERS) and values.isdisjoint(EXCLUDED_VALUES)
    if fmt != "parquet":  # compressed; its values were checked above
        text = out.read_text(encoding="utf-8")
        assert not any(raw in text for raw in RAW_IDENTIFIERS + EXCLUDED_VALUES)
    expected = sum(
        1
        for row in ROWS
        if (not regions or row[4] in regions)
        and (date_from is None or row[5] >= date_from)
        and (date_to is None or row[5] <= date_to)
    )
    assert result.rows == expected


def test_a_stored_recipe_holds_no_key_material_and_runs_only_with_its_key(source, tmp_path):
    r = recipe(source, scope={"fields": ["card_id", "amount"]})
    stored = json.dumps(r.to_dict())
    inner, outer = privacy.hmac_pads(KEY)
    assert inner not in stored and outer not in stored and KEY.hex() not in stored
    assert r.needs_key()
    with pytest.raises(ExtractError, match="license key"):
        run_extract(r, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
    result = run_extract(r, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
    first = next(csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text())))
    assert first["card_id"] == pseudonym(KEY, ROWS[0][0]) and result.rows == len(ROWS)


def test_leak_tracing_reads_xlsx_deliveries(source, tmp_path):
    """Finding: tracing refused XLSX, one of the delivery formats."""
    _r, result = build(
        source, tmp_path, scope={"fields": ["region", "card_id"]}, key=CANDIDATES[1][1], format="xlsx"
    )
    ranked = trace_leak(
        leaked_file=result.path, source_parquet=source, identifier_columns=["card_id"], candidates=CANDIDATES
    )
    assert ranked[0]["license_id"] == 12 and ranked[0]["matches"] == 25 and ranked[0]["share"] == 1.0


def test_leak_tracing_batches_candidate_keys(source, tmp_path):
    """Dozens of licenses are hashed a few keys at a time; the ranking is the same as in one go."""
    many = [(n, f"key {n}".encode()) for n in range(40)]
    _r, result = build(source, tmp_path, scope={"fields": ["card_id", "merchant_id"]}, key=many[33][1])
    args = dict(
        leaked_file=result.path,
        source_parquet=source,
        identifier_columns=["card_id", "merchant_id"],
        candidates=many,
    )
    batched, whole = trace_leak(**args, batch=3), trace_leak(**args, batch=100)
    assert batched == whole
    assert batched[0]["license_id"] == 33 and all(r["matches"] == 0 for r in batched[1:])


# -- speed paths (issue 18): same bytes, less work ----------------------------------------------


def _hand_recipe(sql: str, columns: list[str]) -> Recipe:
    return Recipe(
        sql=sql, params=[], columns=columns, format="csv_bom", source_sha256="0" * 64, engine_version="x"
    )


@pytest.mark.parametrize(
    ("sql", "columns", "expected"),
    [
        # the mark rides in the first header name: DuckDB writes it, nothing is copied
        ('SELECT 1 AS "a b", 2 AS "c"', ["a b", "c"], b"\xef\xbb\xbfa b,c\r\n1,2\r\n"),
        # a first name DuckDB quotes: the mark must still come before the quote
        ('SELECT 1 AS "a,b", 2 AS "c"', ["a,b", "c"], b'\xef\xbb\xbf"a,b",c\r\n1,2\r\n'),
        ('SELECT 1 AS "say ""hi""", 2 AS "c"', ['say "hi"', "c"], b'\xef\xbb\xbf"say ""hi""",c\r\n1,2\r\n'),
    ],
)
def test_csv_for_excel_is_the_byte_order_mark_then_the_plain_csv(
    tmp_path, monkeypatch, sql, columns, expected
):
    copies = []
    prepend = writers.prepend_bom
    monkeypatch.setattr(writers, "prepend_bom", lambda *a: copies.append(a) or prepend(*a))
    result = run_extract(_hand_recipe(sql, columns), out_path=tmp_path / "x.csv", work_dir=tmp_path / "w")
    assert (tmp_path / "x.csv").read_bytes() == expected
    assert result.rows == 1
    assert len(copies) == (0 if columns[0] == "a b" else 1)  # copied only when the name is quoted


def test_csv_for_excel_equals_the_mark_before_the_csv_of_the_same_records(source, tmp_path, monkeypatch):
    _r, plain = build(source, tmp_path, name="plain", format="csv")
    monkeypatch.setattr(writers, "prepend_bom", None)  # the records path never copies the file
    _r, marked = build(source, tmp_path, name="marked", format="csv_bom")
    assert marked.path.read_bytes() == b"\xef\xbb\xbf" + plain.path.read_bytes()


def test_bundle_deflates_text_fast_and_any_unzip_reads_it_back(tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(
        b"".join(
            b"41110,2024-03-%02d,%d,\xec\xbb\xa4\xed\x94\xbc\r\n" % (i % 28 + 1, i) for i in range(200_000)
        )
    )
    out_zip = tmp_path / "b.zip"
    write_bundle(data_path=data, data_name="data.csv", manifest={"x": 1}, out_zip=out_zip)
    with zipfile.ZipFile(out_zip) as z:
        info = z.getinfo("data.csv")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.compress_size < info.file_size / 3
        assert z.testzip() is None  # CRCs check out
        assert z.read("data.csv") == data.read_bytes()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_parallel_deflate_is_one_standard_stream_whatever_the_threads(threads):
    """Blocks deflated on several threads join into one valid raw deflate stream that any
    inflater reads back, in order. (Not the same bytes on every run: ISA-L's output for the same
    input differed once in CI — its hash tables are not cleared between calls — so the bundle's
    reproducible part is its data file and the checksum the manifest gives, not the zip's bytes.)"""
    data = b"".join(b"%d,\xec\xbb\xa4\xed\x94\xbc,%d\r\n" % (i % 97, i) for i in range(300_000))
    deflate = writers.ParallelDeflate(1, threads=threads, block=1 << 16)
    # fed in uneven pieces, as zipfile does
    out = b"".join(deflate.compress(data[i : i + 70_001]) for i in range(0, len(data), 70_001))
    out += deflate.flush()
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(out) == data
    assert inflater.eof and not inflater.unused_data  # one stream, ended by its last block
    assert len(out) < len(data) / 3


def test_a_suppressed_extract_of_one_file_keeps_source_order(many_row_groups, tmp_path):
    """Local suppression counts rows per group with window functions, which regroup the rows:
    the file is still in source order (sorted, as a rebuild needs the same bytes)."""
    offer = {**RECORDS, "quasi_identifiers_allowed": True, "treatments": {"suppress_k": 20}}
    r = recipe(many_row_groups, offer=offer, scope={"fields": ["region", "day"]}, format="csv")
    assert "ORDER BY" in r.sql
    result = run_extract(r, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
    expected = duckdb.execute(
        "SELECT region, CAST(day AS VARCHAR) FROM (SELECT region, day, file_row_number AS n,"
        " count(*) OVER (PARTITION BY region, day) AS c FROM read_parquet(?)) WHERE c >= 20 ORDER BY n",
        [many_row_groups],
    ).fetchall()
    rows = [tuple(row) for row in read_back(result.path, "csv")[1]]
    assert 0 < len(expected) < 400_000 and rows == expected


def test_a_sorted_extract_with_a_region_list_keeps_its_bytes_with_the_in_clause_optimizer_on(
    many_row_groups, tmp_path
):
    """A statement with an ORDER BY runs with DuckDB's in_clause optimizer on (off, it cost a
    treated 20 M-row extract a third of its time, issue 18): the region IN list then becomes a
    join, and the file is still the same bytes in source order whatever the thread count."""
    offer = {**RECORDS, "quasi_identifiers_allowed": True, "treatments": {"suppress_k": 20}}
    scope = {"fields": ["region", "day"], "regions": GG_CODES[:12]}
    r = recipe(many_row_groups, offer=offer, scope=scope, format="csv_bom")
    assert "ORDER BY" in r.sql and not r.scan_order
    digests = set()
    for threads in (2, 2, 4):
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        result = run_extract(r, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work", con=con)
        digests.add(result.sha256)
    assert len(digests) == 1
    expected = duckdb.execute(
        "SELECT region, CAST(day AS VARCHAR) FROM (SELECT region, day, file_row_number AS n,"
        " count(*) OVER (PARTITION BY region, day) AS c FROM read_parquet(?) WHERE region IN ?)"
        " WHERE c >= 20 ORDER BY n",
        [many_row_groups, GG_CODES[:12]],
    ).fetchall()
    rows = [tuple(row) for row in read_back(result.path, "csv_bom")[1]]
    assert 100_000 < len(expected) == result.rows and rows == expected


def test_a_recipe_stored_before_scan_order_was_recorded_still_keeps_the_scan_order(many_row_groups):
    """Recipes stored before `scan_order` existed were all run with the optimizer off; a
    rebuild of one must be too, or its rows could come in another order."""
    scope = {"fields": ["card_id", "region", "amount"], "regions": GG_CODES[:12]}
    unsorted = recipe(many_row_groups, scope=scope, format="csv")
    assert unsorted.scan_order and "ORDER BY" not in unsorted.sql
    stored = unsorted.to_dict()
    del stored["scan_order"]
    assert Recipe.from_dict(stored).scan_order
    assert not recipe(many_row_groups, scope=scope, format="parquet").scan_order  # sorted


def test_a_coarsened_extract_reads_its_file_straight_through(many_row_groups, tmp_path):
    """Treatments that only rewrite values need no sort; a date cut to the week stays a date."""
    treatments = {"time_unit": "week", "amount_fields": ["amount"], "amount_round": 10}
    offer = {**RECORDS, "treatments": treatments}
    r = recipe(many_row_groups, offer=offer, scope={"fields": ["region", "day", "amount"]}, format="csv")
    assert "ORDER BY" not in r.sql
    result = run_extract(r, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
    rows = read_back(result.path, "csv")[1]
    amounts = [int(row[2]) for row in rows]
    assert len(rows) == 400_000 and amounts == sorted(amounts) and all(a % 10 == 0 for a in amounts)
    assert {date.fromisoformat(row[1]).weekday() for row in rows} == {0}  # Mondays, no time of day


def test_a_treated_extract_of_partition_files_reads_the_data_not_the_directory_names(tmp_path):
    """Partition files live under `period=…/region=…/`: a column of the data named `period`
    or `region` is delivered with its own values, treated or not."""
    files = []
    for month, region in (("2024-01", "41110"), ("2024-02", "41130")):
        path = tmp_path / f"period={month}" / f"region={region}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        duckdb.execute(
            f"COPY (SELECT 'north' AS period, 'seoul' AS region, DATE '{month}-15' AS day) TO '{path}'"
        )
        files.append(str(path))
    schema = [
        Column("period", "string", "public"),
        Column("region", "string", "public"),
        Column("day", "date", "public"),
    ]
    for treatments in ({}, {"time_unit": "week"}):
        policy = OfferPolicy.from_values(
            {
                "kind": "records",
                "fields": ["period", "region", "day"],
                "date_field": "day",
                "treatments": treatments,
            }
        )
        r = build_recipe(
            parquet=files,
            source_sha256="0" * 64,
            schema=schema,
            policy=policy,
            scope={},
            key=KEY,
            format="csv",
        )
        result = run_extract(r, key=KEY, out_path=tmp_path / "o.csv", work_dir=tmp_path / "work")
        assert [tuple(row[:2]) for row in read_back(result.path, "csv")[1]] == [("north", "seoul")] * 2, (
            treatments
        )

"""The ingestion engine (catalog.ingestion), without Django: files in, Parquet and profiles out."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import re
import tempfile
import zlib
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.ingestion import (
    IngestionError,
    detect,
    ingest_file,
    preview_rows,
    profile_parquet,
    suggest_sensitivity,
)

REAL_KR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-kr"


def write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def rows_of(parquet_path: Path) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    return con.execute("SELECT * FROM read_parquet(?)", [str(parquet_path)]).fetchall()


def types_of(result) -> dict[str, str]:
    return {c["name"]: c["type"] for c in result.columns}


@pytest.fixture
def work(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


# --- 1. the kind of file comes from its content ---------------------------------------------


def test_kind_is_decided_by_content_not_extension(tmp_path, work):
    csv_named_parquet = write(tmp_path / "upload.parquet", "a,b\n1,x\n")
    assert ingest_file(csv_named_parquet, work).file_kind == "csv"

    parquet_named_csv = tmp_path / "upload.csv"
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{parquet_named_csv}' (FORMAT parquet)")
    result = ingest_file(parquet_named_csv, work)
    assert (result.file_kind, result.encoding, result.dialect) == ("parquet", None, {})

    gzip_named_txt = write(tmp_path / "upload.txt", gzip.compress(b"a,b\n1,x\n"))
    assert ingest_file(gzip_named_txt, work).file_kind == "csv.gz"


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(PNG, id="png"),
        pytest.param(random.Random(7).randbytes(4096), id="random-bytes"),
        pytest.param(b"a,b\n1,\x002\n", id="nul-in-text"),
        pytest.param(b"PK\x03\x04" + b"\x14" * 200, id="xlsx"),
        pytest.param(gzip.compress(PNG), id="gzipped-png"),
    ],
)
def test_binary_junk_is_refused(tmp_path, work, content):
    with pytest.raises(IngestionError, match="not a CSV, TSV or Parquet file"):
        ingest_file(write(tmp_path / "upload.csv", content), work)
    assert list(work.iterdir()) == []


def test_nul_byte_far_into_a_text_file_is_refused(tmp_path, work):
    content = b"a,b\n" + b"1,x\n" * 100_000 + b"2,\x00\n"
    with pytest.raises(IngestionError, match="not a CSV, TSV or Parquet file") as excinfo:
        ingest_file(write(tmp_path / "upload.csv", content), work)
    assert f"byte {len(content) - 2:,}" in excinfo.value.message


def test_empty_file_is_an_error_but_header_only_is_zero_rows(tmp_path, work):
    with pytest.raises(IngestionError, match=r"^The file is empty\.$"):
        ingest_file(write(tmp_path / "empty.csv", b""), work)
    with pytest.raises(IngestionError, match=r"^The file is empty\.$"):
        ingest_file(write(tmp_path / "empty.csv.gz", gzip.compress(b"")), work)

    result = ingest_file(write(tmp_path / "header.csv", "지역,금액\n"), work)
    assert result.row_count == 0
    assert [(c["name"], c["type"]) for c in result.columns] == [
        ("지역", "string"),
        ("금액", "string"),
    ]
    assert preview_rows(result.parquet_path) == (["지역", "금액"], [])


# --- 2. encodings ---------------------------------------------------------------------------

# 똠 and 믜 are in CP949's extension (UHC) but not in EUC-KR's KS X 1001 repertoire.
CP949_ONLY = ["똠방각하", "믜", "똠"]


def test_test_data_really_needs_cp949():
    for text in CP949_ONLY:
        with pytest.raises(UnicodeDecodeError):  # their CP949 bytes are outside EUC-KR's ranges
            text.encode("cp949").decode("euc-kr")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 7], ids=["1MiB-chunks", "7-byte-chunks"])
def test_encodings_round_trip_exactly(tmp_path, work, monkeypatch, encoding, chunk_bytes):
    # 7-byte chunks split multibyte characters across reads: the decoders must carry them over.
    monkeypatch.setattr(detect, "CHUNK_BYTES", chunk_bytes)
    text = "이름,설명\n" + "".join(f"{word},{word} 가맹점 (서울)\n" for word in CP949_ONLY)
    result = ingest_file(write(tmp_path / "upload.csv", text, encoding), work)

    assert result.encoding == encoding
    assert [c["name"] for c in result.columns] == ["이름", "설명"]
    assert rows_of(result.parquet_path) == [(w, f"{w} 가맹점 (서울)") for w in CP949_ONLY]


def _parquet_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "made.parquet"
    duckdb.execute(f"COPY (SELECT '수원시' AS 시군명, 1 AS 금액) TO '{path}' (FORMAT parquet)")
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["utf-8", "utf-8-sig", "cp949", "cp949-late", "gzip", "parquet"])
def test_the_checksum_is_of_the_upload_as_sent_taken_while_reading_it(tmp_path, work, monkeypatch, kind):
    """The sha256 recorded for an upload (manifests and recipes cite it) is of its bytes as sent,
    whichever pass read them: validating UTF-8, transcoding CP949 after a UTF-8 pass that stopped
    part way (cp949-late: ASCII for many chunks, Hangul at the end), decompressing gzip, or
    DuckDB alone (Parquet)."""
    monkeypatch.setattr(detect, "CHUNK_BYTES", 64)  # many chunks through the helper thread
    text = "지역,금액\n" + "".join(f"{w},{i}\n" for i, w in enumerate(CP949_ONLY * 20))
    data = {
        "utf-8": lambda: text.encode("utf-8"),
        "utf-8-sig": lambda: text.encode("utf-8-sig"),
        "cp949": lambda: text.encode("cp949"),
        "cp949-late": lambda: ("area,amount\n" + "x,1\n" * 500 + "똠얌,2\n").encode("cp949"),
        "gzip": lambda: gzip.compress(text.encode("cp949")),
        "parquet": lambda: _parquet_bytes(tmp_path),
    }[kind]()
    result = ingest_file(write(tmp_path / "upload.bin", data), work)
    assert result.source_sha256 == hashlib.sha256(data).hexdigest()
    assert result.encoding == {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "parquet": None}.get(kind, "cp949")
    assert [p.name for p in work.iterdir()] == ["data.parquet"]


@pytest.mark.parametrize("encoding", ["utf-8", "cp949"])
def test_bytes_invalid_in_utf8_and_cp949_name_the_offset_and_row(tmp_path, work, encoding):
    # A file in either encoding, damaged in its third line: the error points at the damage.
    good = "지역,금액\n서울,1\n".encode(encoding)
    with pytest.raises(IngestionError) as excinfo:
        ingest_file(write(tmp_path / "upload.csv", good + b"\xff\xfe,2\n"), work)
    offset = len(good)
    assert f"byte {offset:,} (line 3)" in excinfo.value.message
    assert "neither UTF-8 nor CP949" in excinfo.value.message
    assert excinfo.value.row == 2
    assert list(work.iterdir()) == []


# --- 3. gzip --------------------------------------------------------------------------------


def test_gzip_is_decompressed_as_csv(tmp_path, work):
    text = "시군명,금액\n가평군,100\n양주시,200\n"
    result = ingest_file(write(tmp_path / "u.gz", gzip.compress(text.encode("cp949"))), work)
    assert (result.file_kind, result.encoding, result.row_count) == ("csv.gz", "cp949", 2)
    assert rows_of(result.parquet_path) == [("가평군", 100), ("양주시", 200)]
    assert [p.name for p in work.iterdir()] == ["data.parquet"]


def test_gzip_bomb_stops_at_the_limit_and_leaves_nothing(tmp_path, work):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip container
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    assert len(bomb) < 100_000  # 64 MiB of zeros in well under 100 kB

    with pytest.raises(IngestionError, match="uncompressed size exceeds the limit of 10 MiB"):
        ingest_file(write(tmp_path / "bomb.gz", bomb), work, max_uncompressed_bytes=10 * 2**20)
    assert list(work.iterdir()) == []


def test_truncated_gzip_is_reported(tmp_path, work):
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 10_000)
    with pytest.raises(IngestionError, match="damaged or cut short"):
        ingest_file(write(tmp_path / "cut.gz", data[: len(data) // 2]), work)
    assert list(work.iterdir()) == []


# --- 4. dialect -----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"], ids=["comma", "tab", "semicolon", "pipe"])
def test_dialect_is_sniffed_with_quoted_delimiters_and_newlines(tmp_path, work, delimiter):
    d = delimiter
    text = (
        f"상호{d}주소{d}메모\n"
        f'가게{d}"서울 중구{d} 1층"{d}"첫 줄\n둘째 줄"\n'
        f'"따옴표 ""안"""{d}부산{d}평범\n'
        f"마지막{d}대구{d}끝\n"
    )
    result = ingest_file(write(tmp_path / "upload.txt", text), work)
    assert result.dialect == {"delimiter": d, "quote": '"', "escape": '"', "header": True}
    assert rows_of(result.parquet_path) == [
        ("가게", f"서울 중구{d} 1층", "첫 줄\n둘째 줄"),
        ('따옴표 "안"', "부산", "평범"),
        ("마지막", "대구", "끝"),
    ]


def test_crlf_line_endings(tmp_path, work):
    result = ingest_file(write(tmp_path / "u.csv", 'a,b\r\n1,"x\r\ny"\r\n2,z\r\n'), work)
    assert rows_of(result.parquet_path) == [(1, "x\r\ny"), (2, "z")]


# --- 5. ragged rows -------------------------------------------------------------------------


def ragged_file(path: Path, *, rows: int, bad_row: int, bad_fields: int) -> Path:
    """Nine columns; every 100th row has a quoted newline, so lines and rows differ."""
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(f"열{i}" for i in range(1, 10)) + "\n")
        for n in range(1, rows + 1):
            if n == bad_row:
                f.write(",".join([str(n)] * bad_fields) + "\n")
            elif n % 100 == 0:
                f.write(f'{n},"두 줄\n메모",' + ",".join(["x"] * 7) + "\n")
            else:
                f.write(",".join([str(n)] * 9) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad_row", "bad_fields"),
    [(3, 8), (18_204, 11), (18_204, 5), (29_000, 10)],
)
def test_ragged_row_is_reported_by_data_row_number(tmp_path, work, bad_row, bad_fields):
    path = ragged_file(tmp_path / "ragged.csv", rows=30_000, bad_row=bad_row, bad_fields=bad_fields)
    with pytest.raises(IngestionError) as excinfo:
        ingest_file(path, work)
    assert excinfo.value.message == f"Row {bad_row:,} has {bad_fields} fields; the header has 9."
    assert excinfo.value.row == bad_row
    assert list(work.iterdir()) == []


def test_unclosed_quote_is_reported_with_its_row(tmp_path, work):
    text = 'a,b\n1,x\n2,"never closed\n3,y\n'
    with pytest.raises(IngestionError, match="Row 2 has a quoted field that is not closed") as exc:
        ingest_file(write(tmp_path / "u.csv", text), work)
    assert exc.value.row == 2


def test_overlong_row_is_reported(tmp_path, work):
    text = "a,b\n1,2\n3," + "가" * 1_000_000 + "\n"  # 3 MB in one row
    with pytest.raises(IngestionError, match=r"^Row 2 is longer than 2,000,000 bytes") as exc:
        ingest_file(write(tmp_path / "u.csv", text), work)
    assert exc.value.row == 2


# --- 6. types and names ---------------------------------------------------------------------


def test_types_are_inferred_but_codes_stay_text_exactly_as_written(tmp_path, work):
    text = (
        "정수,실수,참거짓,날짜,일시,사업자번호,코드,하이픈,공백,섞임,빈열\n"
        "1,1.5,true,2024-01-31,2024-01-31 10:00:00,0123456789,01,123-45-67890,끝 공백  ,1,\n"
        "-20,0.25,FALSE,2024-02-29,2024-02-29T23:59:59,1234567890,2,220-81-62517,  앞 공백,x,\n"
        ",,,,,,,,,,\n"
        "300,3,true,2023-12-01,2023-12-01,0000000001,10,1-1,가,2,\n"
    )
    result = ingest_file(write(tmp_path / "types.csv", text), work)
    assert types_of(result) == {
        "정수": "integer",
        "실수": "number",
        "참거짓": "boolean",
        "날짜": "date",
        "일시": "datetime",
        "사업자번호": "string",
        "코드": "string",
        "하이픈": "string",
        "공백": "string",
        "섞임": "string",
        "빈열": "string",
    }
    assert [c["duckdb_type"] for c in result.columns[:5]] == [
        "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP",
    ]  # fmt: skip
    rows = rows_of(result.parquet_path)
    assert result.row_count == 3  # the all-empty record is not data (issue 17)
    assert rows[0][5:9] == ("0123456789", "01", "123-45-67890", "끝 공백  ")
    assert rows[1][8] == "  앞 공백"
    assert rows[2][5] == "0000000001"
    assert [r[0] for r in rows] == [1, -20, 300]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["007", "12"], "string"),  # a leading zero anywhere keeps the column text
        (["+5", "6"], "string"),
        (["1,234", "5"], "string"),  # thousands separators are not numbers
        (["1234567890123456789012", "1"], "string"),  # too long for BIGINT
        (["1234567890123456.5", "1"], "string"),  # more digits than a DOUBLE holds
        (["0", "-0.5", "10"], "number"),
        (["Y", "N"], "string"),  # only true/false are booleans
        (["21-Feb", "20-Dec"], "date"),  # Excel-written months ("21-Feb": Feb 2021, issue 17)
        (["2024-02-30"], "string"),  # not a real date
    ],
)
def test_value_shapes_decide_types(tmp_path, work, values, expected):
    text = "v\n" + "".join(f'"{v}"\n' for v in values)
    result = ingest_file(write(tmp_path / "v.csv", text), work)
    assert result.columns[0]["type"] == expected
    if expected == "string":
        assert [r[0] for r in rows_of(result.parquet_path)] == values


def test_header_names_are_kept_deduplicated_and_blanks_named(tmp_path, work):
    text = 'name,Name,,금액(천원),"a""b",x\'); DROP TABLE t; --,name\n1,2,3,4,5,6,7\n'
    result = ingest_file(write(tmp_path / "h.csv", text), work)
    assert [c["name"] for c in result.columns] == [
        "name", "Name_2", "column_3", "금액(천원)", 'a"b', "x'); DROP TABLE t; --", "name_3",
    ]  # fmt: skip
    assert [c["position"] for c in result.columns] == list(range(7))
    assert rows_of(result.parquet_path) == [tuple(range(1, 8))]


# --- 7. Parquet input -----------------------------------------------------------------------


def test_parquet_is_rewritten_as_zstd(tmp_path, work):
    src = tmp_path / "in.parquet"
    duckdb.sql(
        "COPY (SELECT i AS 번호, i * 1.5 AS 값, DATE '2024-01-01' + i::INT AS 날짜, "
        "'코드' || lpad(i::VARCHAR, 3, '0') AS 코드, i % 2 = 0 AS 짝수, "
        "TIME '10:00:00' AS 시각 FROM range(5) t(i)) "
        f"TO '{src}' (FORMAT parquet, COMPRESSION snappy)"
    )
    result = ingest_file(src, work)
    assert result.row_count == 5
    assert types_of(result) == {
        "번호": "integer", "값": "number", "날짜": "date", "코드": "string", "짝수": "boolean",
        "시각": "string",
    }  # fmt: skip
    meta = duckdb.sql(
        f"SELECT DISTINCT compression FROM parquet_metadata('{result.parquet_path}')"
    ).fetchall()
    assert meta == [("ZSTD",)]
    assert rows_of(result.parquet_path)[3][3:] == ("코드003", False, "10:00:00")


@pytest.mark.parametrize("expression", ["[1, 2] AS tags", "{'x': 1} AS point", "MAP {'k': 1} AS attrs"])
def test_nested_parquet_columns_are_refused_by_name(tmp_path, work, expression):
    src = tmp_path / "nested.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS id, {expression}) TO '{src}' (FORMAT parquet)")
    column = expression.rsplit(" ", 1)[1]
    with pytest.raises(IngestionError, match=f'Column "{column}" holds nested values') as excinfo:
        ingest_file(src, work)
    assert excinfo.value.column == column
    assert list(work.iterdir()) == []


def test_damaged_parquet_is_reported(tmp_path, work):
    good = tmp_path / "good.parquet"
    duckdb.sql(
        f"COPY (SELECT range AS i, 'v' || range AS s FROM range(100000)) TO '{good}' "
        "(FORMAT parquet, COMPRESSION snappy)"
    )
    data = good.read_bytes()
    damaged = data[:1000] + b"\x55" * 4000 + data[5000:]  # pages broken, footer intact
    headless = data[:4] + b"\xff" * 200 + data[204:]  # the first page's header unreadable
    for content in (b"PAR1" + b"\x01" * 100, data[: len(data) // 2], damaged, headless):
        with pytest.raises(IngestionError, match="Parquet file could not be read"):
            ingest_file(write(tmp_path / "bad.parquet", content), work)
        assert list(work.iterdir()) == []


# --- 8. progress ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "parquet"])
def test_progress_climbs_from_0_to_100(tmp_path, work, kind):
    csv_bytes = b"a,b\n" + b"1,x\n" * 50_000
    src = tmp_path / "upload"
    if kind == "csv":
        write(src, csv_bytes)
    elif kind == "csv.gz":
        write(src, gzip.compress(csv_bytes))
    else:
        duckdb.sql(f"COPY (SELECT 1 AS a) TO '{src}' (FORMAT parquet)")
    seen: list[int] = []
    ingest_file(src, work, progress=seen.append)
    assert seen[0] == 0 and seen[-1] == 100
    assert seen == sorted(set(seen))
    assert all(isinstance(p, int) for p in seen)
    assert len(seen) >= 3


def test_progress_moves_while_a_large_csv_is_converted(tmp_path, work):
    """The conversion is one statement over the whole file (minutes for a large upload): its
    progress is reported while it runs, not only when it ends (55% → 95%)."""
    src = tmp_path / "large.csv"
    duckdb.execute(
        "COPY (SELECT 'T' || lpad(CAST(i AS VARCHAR), 9, '0') AS 거래번호, i % 977 AS 금액, "
        "DATE '2024-01-01' + CAST(i % 180 AS INTEGER) AS 결제일 FROM range(3000000) t(i)) "
        f"TO '{src}' (FORMAT csv, HEADER true)"
    )
    seen: list[int] = []
    ingest_file(src, work, progress=seen.append)
    assert [p for p in seen if 55 < p < 95], seen


# --- 9. profile and preview -----------------------------------------------------------------


@pytest.fixture
def profiled(tmp_path, work):
    # 정수: 1..100 and four nulls; 지역: 3x서울 2x부산 1x대구; 날짜: 2024-01-01 .. 2024-01-21
    lines = ["정수,지역,날짜,점수"]
    regions = ["서울", "서울", "서울", "부산", "부산", "대구"]
    for n in range(1, 105):
        value = "" if n > 100 else str(n)
        region = regions[n % 6] if n <= 60 else ""
        day = f"2024-01-{min(n, 21):02d}" if n <= 21 else ""
        lines.append(f"{value},{region},{day},{n / 2}")
    result = ingest_file(write(tmp_path / "p.csv", "\n".join(lines) + "\n"), work)
    return result, profile_parquet(result.parquet_path, result.columns)


def test_profile_matches_known_data(profiled):
    _, profile = profiled
    json.dumps(profile, allow_nan=False)  # JSON-serialisable as it is

    integers = profile["정수"]
    assert (integers["null_count"], integers["min"], integers["max"]) == (4, 1, 100)
    assert 95 <= integers["distinct_estimate"] <= 105
    assert len(integers["top_values"]) == 10

    regions = profile["지역"]
    assert regions["null_count"] == 104 - 60
    assert regions["distinct_estimate"] == 3
    assert regions["top_values"] == [
        {"value": "서울", "count": 30},
        {"value": "부산", "count": 20},
        {"value": "대구", "count": 10},
    ]
    assert (regions["min"], regions["max"]) == (None, None)  # text has no meaningful range (issue 17)
    assert regions.get("histogram") is None
    dates = profile["날짜"]
    assert (dates["min"], dates["max"], dates["null_count"]) == ("2024-01-01", "2024-01-21", 83)
    assert dates["top_values"][0] == {"value": "2024-01-01", "count": 1}  # ties: lowest first
    assert regions["values"] == ["대구", "부산", "서울"]  # few values: every one, for scope checks
    assert integers["values"] == list(range(1, 101))
    assert "values" not in dates and "values" not in profile["점수"]  # dates and numbers: ranges


def test_columns_with_many_values_do_not_list_them(tmp_path, work):
    from catalog.ingestion.profile import VALUES_LISTED

    rows = "".join(f"C{n:05d},{n % 7}\n" for n in range(VALUES_LISTED * 2))
    result = ingest_file(write(tmp_path / "many.csv", "card,bucket\n" + rows), work)
    profile = profile_parquet(result.parquet_path, result.columns)
    assert "values" not in profile["card"]
    assert profile["bucket"]["values"] == list(range(7))


def test_histogram_has_twenty_equal_bins(profiled):
    _, profile = profiled
    histogram = profile["정수"]["histogram"]
    assert len(histogram) == 20
    assert [b["count"] for b in histogram] == [5] * 20  # 1..100 splits evenly
    assert histogram[0]["lower"] == 1 and histogram[-1]["upper"] == 100
    assert histogram[0]["upper"] == pytest.approx(1 + 99 / 20)

    days = profile["날짜"]["histogram"]
    assert len(days) == 20 and sum(b["count"] for b in days) == 21
    assert (days[0]["lower"], days[-1]["upper"]) == ("2024-01-01", "2024-01-21")
    assert days[-1]["count"] == 2  # the maximum closes the last bin

    scores = profile["점수"]["histogram"]
    assert sum(b["count"] for b in scores) == 104


def test_profile_of_single_value_and_all_null_columns(tmp_path, work):
    result = ingest_file(write(tmp_path / "c.csv", "same,nothing\n7,\n7,\n"), work)
    profile = profile_parquet(result.parquet_path, result.columns)
    assert profile["same"]["histogram"] == [{"lower": 7, "upper": 7, "count": 2}]
    assert profile["nothing"] == {
        "null_count": 2, "distinct_estimate": 0, "min": None, "max": None,
        "top_values": [], "histogram": None,
    }  # fmt: skip


def test_preview_keeps_file_order_and_is_json(profiled):
    result, _ = profiled
    names, rows = preview_rows(result.parquet_path, limit=3)
    assert names == ["정수", "지역", "날짜", "점수"]
    assert rows == [
        [1, "서울", "2024-01-01", 0.5],
        [2, "서울", "2024-01-02", 1.0],
        [3, "부산", "2024-01-03", 1.5],
    ]
    json.dumps(rows)


def test_a_caller_connection_is_reused_and_its_settings_restored(tmp_path, work):
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    result = ingest_file(write(tmp_path / "c.csv", "a\n1\n2\n"), work, con=con)
    preview_rows(result.parquet_path, con=con)
    profile_parquet(result.parquet_path, result.columns, con=con)
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone() == (False,)


# --- 10. sensitivity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("카드번호", "identifier"), ("card_no", "identifier"), ("cardId", "identifier"),
        ("사업자등록번호", "identifier"), ("사업자번호", "identifier"), ("BIZRNO", "identifier"),
        ("business_number", "identifier"), ("merchant_id", "identifier"),
        ("가맹점번호", "identifier"),
        ("주민등록번호", "excluded"), ("rrn", "excluded"), ("resident_no", "excluded"),
        ("전화번호", "excluded"), ("연락처", "excluded"), ("phone", "excluded"),
        ("tel", "excluded"), ("mobile_number", "excluded"),
        ("성명", "excluded"), ("이름", "excluded"), ("name", "excluded"),
        ("customer_name", "excluded"), ("대표자명", "excluded"),
        ("업체명", "public"), ("상호", "public"), ("가맹점명", "public"),
        ("merchant_name", "public"), ("company name", "public"), ("ENT_NM", "public"),
        ("주소", "excluded"), ("업체주소", "excluded"), ("address", "excluded"),
        ("소재지도로명주소", "excluded"), ("HDQTR_KOR_ADRS", "excluded"),
        ("홈페이지주소", "public"), ("HOMP_URL", "public"), ("홈페이지 담당자 전화", "excluded"),
        ("e-mail", "excluded"), ("card_holder_name", "excluded"),
        ("연령", "quasi_identifier"), ("나이", "quasi_identifier"), ("age", "quasi_identifier"),
        ("성별코드", "quasi_identifier"), ("sex", "quasi_identifier"),
        ("gender", "quasi_identifier"), ("행정동", "quasi_identifier"),
        ("dong", "quasi_identifier"),
        ("usage", "public"), ("hotel", "public"), ("총결제금액", "public"), ("시군명", "public"),
    ],
)  # fmt: skip
def test_sensitivity_from_names(name, expected):
    assert suggest_sensitivity(name, []) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["010-1234-5678", "010-9876-5432", ""], "excluded"),
        (["02-123-4567", "031-8008-1234"], "excluded"),
        (["900101-1234567", "851231-2345678"], "excluded"),
        (["220-81-62517", "101-86-12345"], "public"),  # business numbers are not phones
        (["서울", "부산"], "public"),
        (["010-1234-5678", "서울", "부산", "대구"], "public"),  # a stray match is not enough
    ],
)
def test_sensitivity_from_values(values, expected):
    assert suggest_sensitivity("비고", values) == expected


# --- 11. real Korean files ------------------------------------------------------------------

REAL_FILES = [
    ("gg_company_address_bizrno.csv", "utf-8", 37_861),
    ("gg_local_currency_issuance_usage_monthly_cp949.csv", "cp949", 806),  # one all-empty record
    ("gg_local_currency_spend_sigungu_gender_industry_2019.csv", "utf-8", 9_813),
    ("gwangju_sangsaeng_card_merchants_20240915_cp949.csv", "cp949", 59_334),
    ("gwangju_sangsaeng_card_fuel_stations_subset_utf8bom.csv", "utf-8-sig", 127),
    ("national_traditional_market_standard_cp949.csv", "cp949", 1_388),
]


@pytest.mark.parametrize(("filename", "encoding", "rows"), REAL_FILES, ids=[f[0] for f in REAL_FILES])
def test_real_files_ingest_exactly(work, filename, encoding, rows):
    src = REAL_KR / filename
    result = ingest_file(src, work)
    assert (result.encoding, result.row_count, result.source_bytes) == (
        encoding, rows, src.stat().st_size,
    )  # fmt: skip
    assert result.parquet_bytes == result.parquet_path.stat().st_size > 0

    # Every cell against Python's RFC 4180 reader: text exact, numbers equal, "" as NULL.
    with src.open(encoding=encoding, newline="") as f:
        expected = list(csv.reader(f))
    assert [c["name"] for c in result.columns] == expected[0]
    converters = {"integer": int, "number": float, "string": str}
    records = [r for r in expected[1:] if any(r)]  # a record of empty fields is not data
    for got, want in zip(rows_of(result.parquet_path), records, strict=True):
        for value, text, column in zip(got, want, result.columns, strict=True):
            if text == "":
                assert value is None
            elif column["type"] == "date" and re.fullmatch(r"[0-9]{2}-[A-Z][a-z]{2}", text):
                assert value == datetime.strptime(text, "%y-%b").date()  # "21-Feb": Feb 2021
            elif column["type"] in converters:
                assert value == converters[column["type"]](text)
            else:
                assert value.isoformat() == text


def test_real_file_details(work):
    companies = ingest_file(REAL_KR / "gg_company_address_bizrno.csv", work)
    assert types_of(companies)["BIZRNO"] == "string"
    rows = rows_of(companies.parquet_path)
    assert rows[0][:2] == ("  12986551", "윈스")
    assert rows[1][:3] == (
        "0000000001",
        "경기도아동복지협회",
        "경기 수원시 장안구 팔달로 294 (영화동, 명문빌딩)",
    )
    assert len(rows) - len(set(rows)) == 15  # duplicate rows are data

    monthly = ingest_file(REAL_KR / "gg_local_currency_issuance_usage_monthly_cp949.csv", work)
    assert types_of(monthly)["기준년월"] == "date"  # "21-Feb" months (issue 17)
    assert types_of(monthly)["월별카드충전액(천원)"] == "integer"
    profile = profile_parquet(monthly.parquet_path, monthly.columns)
    assert profile["월별모바일충전액(천원)"]["null_count"] > 0
    assert profile["시군명"]["null_count"] == 0  # the all-empty record is not data
    assert profile["기준년월"]["min"] == "2019-01-01"


# --- 12. nothing half-made ------------------------------------------------------------------


def test_failure_keeps_other_files_and_a_previous_result(tmp_path, work):
    first = ingest_file(write(tmp_path / "ok.csv", "a\n1\n"), work)
    (work / "unrelated.txt").write_text("keep me")
    with pytest.raises(IngestionError):
        ingest_file(ragged_file(tmp_path / "bad.csv", rows=10, bad_row=5, bad_fields=3), work)
    assert sorted(p.name for p in work.iterdir()) == ["data.parquet", "unrelated.txt"]
    assert rows_of(first.parquet_path) == [(1,)]


def test_success_leaves_only_the_parquet_file(tmp_path, work):
    text = "이름,값\n똠,1\n".encode("cp949")
    ingest_file(write(tmp_path / "u.gz", gzip.compress(text)), work)
    assert [p.name for p in work.iterdir()] == ["data.parquet"]


# --- round trip of arbitrary text -------------------------------------------------------------

_cell = st.text(alphabet=st.sampled_from(list("가나똠믜 abc019,\"'\n")), max_size=12).map(
    lambda s: "값" + s
)  # a leading Hangul keeps every column text, and never empty


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=st.integers(min_value=2, max_value=4).flatmap(
        lambda width: st.lists(st.lists(_cell, min_size=width, max_size=width), max_size=6)
    ),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp949"]),
)
def test_any_text_table_written_by_a_csv_writer_round_trips(table, encoding):
    width = len(table[0]) if table else 2
    header = [f"열{i}" for i in range(1, width + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "upload.csv"
        with src.open("w", encoding=encoding, newline="") as f:
            csv.writer(f).writerows([header, *table])
        result = ingest_file(src, Path(tmp) / "work")
        assert [c["name"] for c in result.columns] == header
        assert rows_of(result.parquet_path) == [tuple(row) for row in table]


def test_overlong_last_row_is_reported_not_dropped(tmp_path, work):
    # DuckDB's reader silently drops an over-long final line; the streaming pass must catch it.
    text = "a,b\n1,2\n" + "x" * 3_000_000 + ",1\n"
    with pytest.raises(IngestionError, match=r"^Row 2 is longer than 2,000,000 bytes") as exc:
        ingest_file(write(tmp_path / "u.csv", text), work)
    assert exc.value.row == 2


def test_overlong_row_in_cp949_is_measured_after_transcoding(tmp_path, work):
    path = tmp_path / "k.csv"
    path.write_bytes(
        ("a,b\n1,똠\n2," + "똠" * 700_000 + "\n").encode("cp949")
    )  # 1.4 MB as CP949, 2.1 MB as UTF-8
    with pytest.raises(IngestionError, match=r"^Row 2 is longer"):
        ingest_file(path, work)


def test_a_header_of_100000_columns_is_refused_quickly(tmp_path, work):
    names = ",".join(f"c{i}" for i in range(100_000))
    with pytest.raises(IngestionError, match=r"The header has 100,000 columns; the limit is 2,000"):
        ingest_file(write(tmp_path / "wide.csv", names + "\n" + ",".join("1" * 100_000) + "\n"), work)
    assert list(work.iterdir()) == []


# --- read once (issue 18): the sample's types are checked while converting ---------------------


def test_a_value_past_the_sample_that_breaks_its_type_makes_the_column_text(tmp_path, work, monkeypatch):
    from catalog.ingestion import convert

    monkeypatch.setattr(convert, "SAMPLE_ROWS", 100)
    lines = ["n,d,late,when"] + [f"{i},2024-01-{i % 28 + 1:02d},,x" for i in range(300)]
    lines[250] = "12a,2024-01-01,,x"  # past the sample: n is not an integer after all
    lines[280] = "7,2024-01-02,42,x"  # late is empty in the sample and an integer later
    result = ingest_file(write(tmp_path / "t.csv", "\n".join(lines) + "\n"), work)
    assert types_of(result) == {"n": "string", "d": "date", "late": "integer", "when": "string"}
    rows = rows_of(result.parquet_path)
    assert result.row_count == len(rows) == 300
    assert rows[249][0] == "12a" and rows[0][0] == "0" and rows[279][2] == 42


def test_types_that_hold_throughout_are_decided_in_one_read(tmp_path, work, monkeypatch):
    from catalog.ingestion import convert

    counted = []
    monkeypatch.setattr(
        convert, "_count_passing", lambda *a: counted.append(a) or (_ for _ in ()).throw(AssertionError)
    )
    lines = ["n,x,b"] + [f"{i},{i / 4},{'true' if i % 2 else 'false'}" for i in range(20_000)]
    result = ingest_file(write(tmp_path / "t.csv", "\n".join(lines) + "\n"), work)
    assert types_of(result) == {"n": "integer", "x": "number", "b": "boolean"}
    assert result.row_count == 20_000 and not counted
    assert rows_of(result.parquet_path)[19_999] == (19_999, 4999.75, True)

"""Regenerate the hostile-input corpus in this directory: `python tests/data/hostile/make_corpus.py`.

Every file is written deterministically (fixed seeds, gzip without a timestamp), so running it
again gives the same bytes and `git status` stays clean unless the recipe changed. The large
inputs (a 50 MB line, a 100,000-column header) are committed gzip-compressed; the tests expand
them before uploading. MANIFEST.json says what each file is and what the product must answer.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent

WIDE_COLUMNS = 100_000
LONG_LINE_BYTES = 50 * 10**6
BOMB_BYTES = 128 * 2**20  # what bomb.csv.gz expands to; the test lowers the limit below it
OVERSIZE_JSON_BYTES = 6 * 2**20  # above DATA_UPLOAD_MAX_MEMORY_SIZE (5 MiB)
DEEP_JSON_DEPTH = 100_000

# Byte sequences that are not UTF-8: a lone continuation byte, bytes that never occur, a cut
# two-byte and three-byte sequence, an overlong "/", an encoded surrogate (CESU-8), a code point
# above U+10FFFF, and CP949 Hangul ("한") where UTF-8 is expected.
INVALID_UTF8 = [
    b"\x80",
    b"\xff\xfe",
    b"\xc3(",
    b"\xe2\x82(",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    "한".encode("cp949"),
]


def gz(data: bytes) -> bytes:
    """Deterministic gzip (no file name, mtime 0)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def gz_repeated(chunk: bytes, total: int) -> bytes:
    """gzip of `chunk` repeated up to `total` bytes, streamed (never `total` bytes in memory)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        block = chunk * max(1, (1 << 20) // len(chunk))
        written = 0
        while written < total:
            piece = block[: total - written]
            f.write(piece)
            written += len(piece)
    return out.getvalue()


def parquet_bytes(select: str) -> bytes:
    con = duckdb.connect()
    with_path = HERE / ".make_corpus.parquet"
    try:
        con.execute(f"COPY ({select}) TO '{with_path}' (FORMAT parquet, COMPRESSION zstd)")
        return with_path.read_bytes()
    finally:
        with_path.unlink(missing_ok=True)
        con.close()


def build() -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    # --- uploads: CSV and text --------------------------------------------------------------
    files["ragged.csv"] = "지역,금액,건수\n수원시,1000,3\n성남시,2000\n용인시,3000,5\n".encode()
    files["mixed_encoding.csv"] = (
        "지역,상호,금액\n수원시,행궁동 카페,1000\n".encode() + "성남시,모란시장 떡집,2000\n".encode("cp949")
    )
    files["invalid_bytes.csv"] = b"region,amount\nsuwon,1000\n\xff\xfe\xfa,3\n"
    files["utf16.csv"] = "지역,금액\n수원시,1000\n".encode("utf-16")
    files["nul_byte.csv"] = b"region,amount\nsuwon,1000\nseong\x00nam,2000\n"
    files["unclosed_quote.csv"] = b'region,memo\nsuwon,"ok"\nseongnam,"never closed\nyongin,fine\n'
    files["empty.csv"] = b""
    rng = random.Random(20240601)
    junk = bytearray(rng.randbytes(4096))
    junk[:4] = b"\x7fJNK"  # no known magic number: the NUL bytes further on give it away
    junk[100] = 0
    files["junk.bin"] = bytes(junk)
    files["formula_cells.csv"] = (
        "지역,메모,수식\n"
        "수원시,=cmd|' /C calc'!A0,=1+2\n"
        '성남시,+82-10-1234-5678,"=HYPERLINK(""http://evil.example"",""클릭"")"\n'
        "용인시,-2+3,@SUM(A1:A9)\n"
        '고양시,"\tTAB=1+1",보통 텍스트\n'
    ).encode()

    # --- uploads: content that does not match the name ----------------------------------------
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("xl/workbook.xml", date_time=(2000, 1, 1, 0, 0, 0))
        z.writestr(info, "<workbook/>")
    files["content_mismatch.csv"] = archive.getvalue()
    files["png_named.csv"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    files["parquet_named.csv"] = parquet_bytes(
        "SELECT * FROM (VALUES ('41110', '수원시', 1000), ('41130', '성남시', 2000)) t(code, name, amount)"
    )

    # --- uploads: Parquet ---------------------------------------------------------------------
    files["nested.parquet"] = parquet_bytes(
        "SELECT 1 AS id, [1, 2] AS tags, {'a': 1, 'b': '둘'} AS info, MAP {'k': 'v'} AS attrs"
    )
    whole = parquet_bytes("SELECT range AS id, 'x' || range AS name FROM range(1000)")
    files["damaged.parquet"] = whole[: len(whole) // 2]

    # --- uploads: gzip ------------------------------------------------------------------------
    csv_gz = gz("지역,금액\n".encode() + "수원시,1000\n".encode() * 5000)
    files["truncated.csv.gz"] = csv_gz[: len(csv_gz) // 2]
    files["bomb.csv.gz"] = gz_repeated(b"0,0\n", BOMB_BYTES)
    header = ",".join(f"c{i}" for i in range(WIDE_COLUMNS)) + "\n"
    files["wide_header.csv.gz"] = gz((header + ",".join("1" * WIDE_COLUMNS) + "\n").encode())
    files["long_line.csv.gz"] = gz_repeated(b"a", LONG_LINE_BYTES)

    # --- file names -------------------------------------------------------------------------
    names = [
        {"name": "../../../etc/passwd", "shown": "passwd"},
        {"name": "..\\..\\windows\\win.ini", "shown": "win.ini"},
        {"name": "/abs/olute.csv", "shown": "olute.csv"},
        {"name": "a\u0000b.csv", "shown": "ab.csv"},
        {"name": "카드 결제 내역.csv", "shown": "카드 결제 내역.csv"},
        {"name": "결제 🙂🚀.csv", "shown": "결제 🙂🚀.csv"},
        {"name": "tab\there\u0007bell.csv", "shown": "tabherebell.csv"},
        {"name": "\u202egnp.csv", "shown": "gnp.csv"},
        {"name": "....csv", "shown": "....csv"},
        {"name": "x" * 300 + ".csv", "shown": "x" * 251 + ".csv"},
    ]
    files["names.json"] = dump(names)

    # --- access-request scopes that look like SQL ---------------------------------------------
    scopes = [
        {"id": "field-or-true", "scope": {"fields": ["amount' OR '1'='1"]}, "expect": "fields"},
        {
            "id": "field-drop-table",
            "scope": {"fields": ['amount"; DROP TABLE catalog_dataset; --']},
            "expect": "fields",
        },
        {"id": "field-star", "scope": {"fields": ["*"]}, "expect": "fields"},
        {"id": "field-subquery", "scope": {"fields": ["(SELECT 1)"]}, "expect": "fields"},
        {"id": "date-injection", "scope": {"date_from": "2024-01-01' OR 1=1 --"}, "expect": "date_from"},
        {"id": "date-function", "scope": {"date_to": "now()"}, "expect": "date_to"},
        {"id": "region-or-true", "scope": {"regions": ["41110' OR '1'='1"]}, "expect": "regions"},
        {
            "id": "region-union",
            "scope": {"regions": ["x' UNION SELECT card_id FROM t --"]},
            "expect": "regions",
        },
        {"id": "region-glob", "scope": {"regions": ["%"]}, "expect": "regions"},
        {"id": "region-not-a-string", "scope": {"regions": [{"$ne": ""}]}, "expect": "regions"},
    ]
    files["sql_scope.json"] = dump(scopes)

    # --- JSON bodies ----------------------------------------------------------------------------
    files["deep.json"] = b"[" * DEEP_JSON_DEPTH + b"]" * DEEP_JSON_DEPTH
    filler = "가" * (OVERSIZE_JSON_BYTES // 3 + 1)
    files["oversize.json.gz"] = gz(json.dumps({"title": filler}, ensure_ascii=False).encode())
    files["invalid_utf8_body.json"] = b'{"title": "ok\xff\xfe", "email": "\xc3(@example.kr"}'
    files["invalid_utf8_sequences.bin"] = b"\n".join(INVALID_UTF8) + b"\n"
    return files


def dump(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode()


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"{len(data):>9,}  {name}")


if __name__ == "__main__":
    main()

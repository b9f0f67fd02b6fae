"""Output formats, formula neutralisation and atomic, checksummed files.

CSV, JSON Lines and Parquet are written by DuckDB's `COPY`; XLSX is streamed from a staged
Parquet file into openpyxl's write-only mode in batches, so memory stays bounded. Everything is
written under a private directory in the work dir and only `publish` moves a finished, fsynced
file to where a reader could see it.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import errno
import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from catalog.ingestion.sql import literal

try:  # ISA-L's deflate: the same format as zlib's, several times faster at the lowest levels
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - isal is a requirement; zlib gives the same format
    fast_zlib = None

CHUNK = 1 << 20
DEFLATE_THREADS = 2  # the workers' cores (DUCKDB_THREADS); the statement is done by then
BOM = "\ufeff".encode()

# OWASP "CSV injection": a cell starting with one of these is read as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_CODEPOINTS = ", ".join(str(ord(c)) for c in sorted(FORMULA_TRIGGERS))
# Control characters XML 1.0 (and so XLSX) cannot hold; openpyxl refuses them.
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"

XLSX_MAX_ROWS = 1_048_575  # 1,048,576 sheet rows, one of them the header
XLSX_MAX_COLUMNS = 16_384
XLSX_BATCH = 10_000
# Zip entries and workbook properties carry this time, so the same rows give the same bytes.
FIXED_TIME = datetime.datetime(2000, 1, 1)


class ExtractError(Exception):
    """An extract could not be built; the message tells a person what to do."""


class ExtractTooLarge(ExtractError):
    """The result does not fit the chosen format (XLSX sheet limits)."""


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    mediatype: str
    frictionless_format: str
    neutralise_formulas: bool  # spreadsheets open it: text cells must not start like formulas


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", ".csv", "text/csv", "csv", True),
        Format("csv_bom", ".csv", "text/csv", "csv", True),
        Format("parquet", ".parquet", "application/vnd.apache.parquet", "parquet", False),
        Format("jsonl", ".jsonl", "application/jsonl", "jsonl", False),
        Format(
            "xlsx", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", True
        ),
    )
}

COPY_OPTIONS = {
    # RFC 4180: comma, double quotes doubled inside quoted fields, CRLF, a header row.
    "csv": "FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\r\n', NULL ''",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "jsonl": "FORMAT json, ARRAY false",
}


def neutralise_sql(expr: str, *, xlsx: bool = False) -> str:
    """`expr` (a text column) with a leading `'` when it starts like a formula. For XLSX the
    control characters a workbook cannot hold are dropped first, so none can uncover a trigger."""
    if xlsx:
        expr = f"regexp_replace({expr}, '{_XML_ILLEGAL}', '', 'g')"
    return f"CASE WHEN ascii({expr}) IN ({_TRIGGER_CODEPOINTS}) THEN '''' || {expr} ELSE {expr} END"


def neutralise_text(value: str, *, xlsx: bool = False) -> str:
    """The same rule in Python, for header names."""
    if xlsx:
        value = "".join(c for c in value if c in "\t\n\r" or ord(c) >= 0x20)
    return "'" + value if value[:1] in FORMULA_TRIGGERS else value


def require_openpyxl() -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:  # pragma: no cover - openpyxl is a requirement
        raise ExtractError("XLSX output needs openpyxl; choose CSV or Parquet.") from exc


# -- files ---------------------------------------------------------------------------------


@contextlib.contextmanager
def private_dir(work_dir: Path, prefix: str) -> Iterator[Path]:
    """A fresh directory under `work_dir`, removed with everything in it on the way out."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[int, str]:
    """(bytes, sha256 hex) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def publish(tmp: Path, out_path: Path) -> None:
    """Move a finished, fsynced file to `out_path` in one step. Across file systems the file is
    first copied next to `out_path` (and fsynced), so the final step is still a rename."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out_path)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        fd, near = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
        os.close(fd)
        try:
            shutil.copyfile(tmp, near)
            fsync(Path(near))
            os.replace(near, out_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(near)
            raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        fsync(out_path.parent)


# -- formats -------------------------------------------------------------------------------

Execute = Callable[[str, list, float, float], list]


def copy_to(execute: Execute, fmt: str, sql: str, params: list, tmp: Path, lo: float, hi: float) -> int:
    """`COPY (sql) TO tmp` in one of DuckDB's formats; the number of rows written."""
    options = COPY_OPTIONS["csv" if fmt == "csv_bom" else fmt]
    statement = f"COPY ({sql}) TO {literal(tmp)} ({options})"
    ((rows,),) = execute(statement, params, lo, hi)
    return int(rows)


def prepend_bom(body: Path, out: Path) -> None:
    """`out` = UTF-8 byte order mark + `body` (DuckDB cannot put one before a CSV header)."""
    with open(body, "rb") as src, open(out, "wb") as dst:
        dst.write(BOM)
        shutil.copyfileobj(src, dst, CHUNK)
    body.unlink()


# Characters that make DuckDB quote a header name (with COPY_OPTIONS["csv"]).
_CSV_QUOTED = (",", '"', "\r", "\n")


def bom_in_header(first_column: str) -> bool:
    """Whether the byte order mark can travel as the first header name's first character, so
    DuckDB's `COPY` writes it as the file's first bytes and nothing has to be copied: only when
    that name is written unquoted (a quoted one would put `"` before the mark)."""
    return bool(first_column) and not any(c in first_column for c in _CSV_QUOTED)


def starts_with_bom(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(BOM)) == BOM


class ParallelDeflate:
    """A raw deflate compressor (the `compress`/`flush` of `zlib.compressobj(level, DEFLATED,
    -15)`) that deflates blocks of `block` input bytes on `threads` threads, the way pigz does:
    every block but the last ends with a sync flush (byte-aligned, not final), so the blocks
    joined are one valid deflate stream, in input order whatever the threads' timing. (ISA-L's
    bytes for the same input are not guaranteed equal run to run — seen once in CI — so what a
    rebuild reproduces is the data file and its checksum, not the zip's bytes.) Both ISA-L and
    zlib release the GIL while they compress; at most `2 * threads` blocks are in flight, so
    memory stays bounded."""

    def __init__(self, level: int = 1, *, threads: int = 2, block: int = 8 << 20):
        self._zlib = fast_zlib or zlib
        self._level = min(level, 3) if fast_zlib is not None else level
        self._block = block
        self._buffer = bytearray()
        self._pending: collections.deque = collections.deque()
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="deflate")
        self._threads = max(1, threads)

    def _deflate(self, data: bytes, last: bool) -> bytes:
        z = self._zlib
        compressor = z.compressobj(self._level, z.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(z.Z_FINISH if last else z.Z_SYNC_FLUSH)

    def _ready(self, wait_for: int) -> bytes:
        """Compressed blocks, in order, that are done (waiting while more than `wait_for` are
        in flight)."""
        out = []
        while self._pending and (len(self._pending) > wait_for or self._pending[0].done()):
            out.append(self._pending.popleft().result())
        return b"".join(out)

    def compress(self, data) -> bytes:
        self._buffer += data
        while len(self._buffer) > self._block:  # keep a tail: the last block must end the stream
            block = bytes(self._buffer[: self._block])
            del self._buffer[: self._block]
            self._pending.append(self._pool.submit(self._deflate, block, False))
        return self._ready(2 * self._threads)

    def flush(self, mode=None) -> bytes:
        try:
            self._pending.append(self._pool.submit(self._deflate, bytes(self._buffer), True))
            self._buffer.clear()
            return self._ready(0)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class FixedTimeZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry FIXED_TIME, whatever the clock or the files' mtimes."""

    def _info(self, arcname: str, compress_type=None) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME.timetuple()[:6])
        info.compress_type = self.compression if compress_type is None else compress_type
        info.external_attr = 0o644 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = self._info(zinfo_or_arcname, compress_type)
        return super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        """Stream `filename` into the archive in chunks (never whole in memory)."""
        info = self._info(str(arcname or os.path.basename(filename)), compress_type)
        # open() leaves a ZipInfo's level as it is (None: zlib's default, 6), so set it here.
        info._compresslevel = self.compresslevel if compresslevel is None else compresslevel
        with open(filename, "rb") as src, self.open(info, "w", force_zip64=True) as dst:
            if info.compress_type == zipfile.ZIP_DEFLATED:
                # zipfile's entry writer compresses through `_compressor` (a raw deflate
                # stream); ISA-L on two threads writes the same format in a fraction of the time.
                level = 1 if info._compresslevel is None else info._compresslevel
                # Closing the entry (on an error too) flushes it, which stops its threads.
                dst._compressor = ParallelDeflate(level, threads=DEFLATE_THREADS)
            shutil.copyfileobj(src, dst, CHUNK)


def write_xlsx(
    staged_parquet: Path, columns: list[str], out: Path, *, rows: int, progress: Callable[[float], None]
) -> None:
    """Stream a staged Parquet file into a one-sheet workbook (openpyxl write-only mode: rows
    are written as they come, in batches of XLSX_BATCH; openpyxl spools the sheet XML to a
    temporary file). Same rows, same bytes. XML reads a bare carriage return in a cell back as
    a line feed; everything else round-trips."""
    import pyarrow.parquet as pq
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = FIXED_TIME
    workbook.properties.creator = "Jangteo"
    sheet = workbook.create_sheet("data")
    # Write-only sheets leave out <dimension>; without it readers cut rows short at a trailing
    # empty cell. The size is known from the staged file, so declare it.
    size = f"A1:{get_column_letter(max(1, len(columns)))}{rows + 1}"
    sheet.calculate_dimension = lambda: size
    parquet = pq.ParquetFile(staged_parquet)
    try:
        sheet.append([neutralise_text(c, xlsx=True) for c in columns])
        done = 0
        for batch in parquet.iter_batches(batch_size=XLSX_BATCH):
            for row in zip(*(col.to_pylist() for col in batch.columns)):
                sheet.append(row)
            done += batch.num_rows
            progress(done / rows if rows else 1.0)
    except BaseException:
        with contextlib.suppress(Exception):  # finish openpyxl's sheet stream while its file is open
            sheet.close()
        raise
    finally:
        parquet.close()
    # ExcelWriter directly, not Workbook.save: save stamps the clock into docProps/core.xml.
    with FixedTimeZip(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()

"""What kind of file an upload is, and turning it into UTF-8 CSV text on disk.

Everything here streams in fixed-size byte chunks: memory use does not depend on the file size.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import iconv
from .errors import IngestionError
from .errors import message_template as _t

CHUNK_BYTES = 1 << 20
# DuckDB's CSV reader refuses longer lines, but a too-long LAST line it drops without a word
# (duckdb 2.0), so the streaming pass that validates the text measures lines itself.
MAX_LINE_BYTES = 2_000_000
SAMPLE_BYTES = 64 * 1024

PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8

NOT_TABULAR = "This is not a CSV, TSV or Parquet file"  # kept in every message below

# Formats people upload by mistake, recognised by their first bytes, with what to do instead.
_KNOWN_BINARY = [
    (
        b"PK\x03\x04",
        _t(
            "This is not a CSV, TSV or Parquet file: it looks like an Excel workbook or a ZIP archive. "
            "Save the sheet as CSV UTF-8 and upload it again."
        ),
    ),
    (
        b"\xd0\xcf\x11\xe0",
        _t(
            "This is not a CSV, TSV or Parquet file: it looks like an old Excel (.xls) workbook. "
            "Save the sheet as CSV UTF-8 and upload it again."
        ),
    ),
    (
        b"\xff\xfe",
        _t(
            "This is not a CSV, TSV or Parquet file: it is UTF-16 text. "
            "Save it as CSV UTF-8 and upload it again."
        ),
    ),
    (
        b"\xfe\xff",
        _t(
            "This is not a CSV, TSV or Parquet file: it is UTF-16 text. "
            "Save it as CSV UTF-8 and upload it again."
        ),
    ),
    (
        b"%PDF",
        _t(
            "This is not a CSV, TSV or Parquet file: it is a PDF document. "
            "Upload the data as CSV, TSV or Parquet."
        ),
    ),
    (
        b"\x89PNG",
        _t(
            "This is not a CSV, TSV or Parquet file: it is a PNG image. "
            "Upload the data as CSV, TSV or Parquet."
        ),
    ),
]

Fraction = Callable[[float], None]


def file_kind(path: Path) -> str:
    """Decide "parquet", "csv.gz" or "csv" from the first bytes, whatever the file is called."""
    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        raise IngestionError(_t("The file is empty."))
    if head == PARQUET_MAGIC:
        return "parquet"
    if head[:2] == GZIP_MAGIC:
        return "csv.gz"
    return "csv"


def check_text_sample(path: Path) -> None:
    """Refuse files whose first bytes show they are not text (images, workbooks, archives…)."""
    with path.open("rb") as f:
        head = f.read(SAMPLE_BYTES)
    if not head:
        raise IngestionError(_t("The file is empty."))
    for magic, advice in _KNOWN_BINARY:
        if head.startswith(magic):
            raise IngestionError(advice)
    if b"\x00" in head:
        raise _nul_error(head.index(b"\x00"))


def _nul_error(offset: int) -> IngestionError:
    return IngestionError(
        _t(
            "This is not a CSV, TSV or Parquet file: it contains binary data (a NUL byte at byte "
            "%(offset)s). Upload the data as CSV, TSV or Parquet."
        ),
        offset=offset,
    )


class Digest:
    """The sha256 of an upload, taken by the pass that reads it whole anyway (validating,
    transcoding or decompressing it) instead of a read of its own. Each chunk is hashed on a
    helper thread while the pass goes on with the next (hashlib lets go of the GIL on large
    buffers). The upload is read once instead of twice (issue 18); at 5 M rows in the page
    cache the difference in time was within the noise (README, Benchmarks)."""

    def __init__(self, *, active: bool = True):
        self._hash = hashlib.sha256()
        self._active = active  # an inactive digest takes nothing (no checksum was asked for)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ingest-sha256") if active else None
        self._pending: Future | None = None

    def update(self, chunk: bytes) -> None:
        if not self._active:
            return
        self._wait()  # one chunk in flight: the hash sees the chunks in order, memory stays flat
        self._pending = self._pool.submit(self._hash.update, chunk)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def hexdigest(self) -> str | None:
        self._wait()
        return self._hash.hexdigest() if self._active else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file that no pass of ingestion reads whole (a Parquet upload or
    partition file, a file in storage)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _Hashed:
    """A binary file whose reads feed `digest` (what GzipFile reads of the compressed file)."""

    def __init__(self, raw, digest: Digest):
        self._raw, self._digest = raw, digest

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._digest.update(data)
        return data


def gunzip(src: Path, dest: Path, *, limit: int, on_fraction: Fraction, digest: Digest) -> None:
    """Decompress ``src`` into ``dest``, stopping as soon as the output would exceed ``limit``;
    ``digest`` takes ``src``'s bytes (a sha256 of the compressed file as uploaded).

    Progress follows the compressed bytes read, the only size known in advance.
    """
    total = max(src.stat().st_size, 1)
    written = 0
    with src.open("rb") as raw, gzip.GzipFile(fileobj=_Hashed(raw, digest)) as gz, dest.open("wb") as out:
        while True:
            try:
                # At most CHUNK_BYTES of output, however little input that takes.
                chunk = gz.read(CHUNK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise IngestionError(
                    _t("The gzip file is damaged or cut short; compress the CSV again and upload it.")
                ) from exc
            if not chunk:
                break
            written += len(chunk)
            if written > limit:
                raise IngestionError(
                    _t(
                        "The uncompressed size exceeds the limit of %(limit)s; "
                        "split the data into smaller files."
                    ),
                    limit=_human_bytes(limit),
                )
            out.write(chunk)
            on_fraction(raw.tell() / total)
        while digest_rest := raw.read(CHUNK_BYTES):  # bytes past the gzip stream (none, usually)
            digest.update(digest_rest)
    if written == 0:
        raise IngestionError(_t("The file is empty."))


def to_utf8(
    src: Path, dest: Path, *, on_fraction: Fraction, checksum: bool = False, shape: bool = False
) -> tuple[Path, str, str | None, TextShape | None]:
    """Return a UTF-8 version of the text file ``src``, the encoding it was written in, with
    ``checksum`` the sha256 of ``src`` taken by the same pass (else None), and with ``shape``
    the UTF-8 text's line breaks and quotes, counted by that pass too (else None: the counts
    cost about 0.3 s a 400 MiB file, for Spark's reading only).

    UTF-8 (with or without BOM) is validated in one streaming pass and used in place. Anything
    else is tried as CP949, the superset of EUC-KR that Korean Excel writes, and transcoded into
    ``dest``. Decoders are incremental, so a multibyte character split across two chunks is fine.
    """
    with src.open("rb") as f:
        has_bom = f.read(len(UTF8_BOM)) == UTF8_BOM
    with Digest(active=checksum) as digest:
        lines = _LineLengths(shape=shape)
        utf8_error = _first_invalid_utf8(
            src, on_fraction=lambda x: on_fraction(x / 2), digest=digest, lines=lines
        )
        if utf8_error is None:
            on_fraction(1.0)
            return src, "utf-8-sig" if has_bom else "utf-8", digest.hexdigest(), lines.shape()
    with Digest(active=checksum) as digest:  # the UTF-8 pass stopped part way: this one reads all
        lines = _LineLengths(shape=shape)
        cp949_error = _transcode(
            src, dest, "cp949", on_fraction=lambda x: on_fraction(0.5 + x / 2), digest=digest, lines=lines
        )
        if cp949_error is None:
            return dest, "cp949", digest.hexdigest(), lines.shape()
    # Point at the bad bytes of whichever reading got further: a UTF-8 file with one damaged
    # byte fails as CP949 at its first Hangul, which would be the wrong place to send someone.
    raise _undecodable(src, max(utf8_error, cp949_error))


@dataclass(frozen=True)
class TextShape:
    """What one pass over a UTF-8 text saw of its line breaks and quotes (counted in C by
    bytes.count, so it costs next to nothing beside the pass itself)."""

    line_feeds: int  # "\n"
    carriage_returns: int  # "\r", each with or without a "\n" after it
    crlf: int  # "\r\n" pairs
    double_quotes: int  # '"'
    ends_with_line_feed: bool

    @property
    def lines(self) -> int:
        """Physical lines, split at "\n" only (a last line without a line break counts)."""
        return self.line_feeds + (0 if self.ends_with_line_feed else 1)


class _LineLengths:
    """Fails on the first physical line longer than MAX_LINE_BYTES, fed chunk by chunk.

    Chunks are at most CHUNK_BYTES (< MAX_LINE_BYTES), so a line wholly inside one chunk is
    short enough; only a line running across chunk boundaries needs counting."""

    def __init__(self, *, shape: bool = False):
        self.counting = shape  # also count carriage returns and quotes (for TextShape)
        self.run = 0  # bytes since the last line break
        self.lines = 0  # line breaks seen
        self.carriage_returns = 0
        self.crlf = 0
        self.double_quotes = 0
        self.last = b""  # the last byte fed

    def shape(self) -> TextShape | None:
        if not self.counting:
            return None
        return TextShape(self.lines, self.carriage_returns, self.crlf, self.double_quotes, self.last == b"\n")

    def _count(self, chunk: bytes) -> None:
        if not chunk or not self.counting:
            return
        returns = chunk.count(b"\r")
        if returns or self.last == b"\r":  # most text has none: skip the slower pair count
            self.carriage_returns += returns
            self.crlf += chunk.count(b"\r\n") + (self.last == b"\r" and chunk[:1] == b"\n")
        self.double_quotes += chunk.count(b'"')
        self.last = chunk[-1:]

    def feed(self, chunk: bytes) -> None:
        self._count(chunk)
        first = chunk.find(b"\n")
        if first < 0:
            self.run += len(chunk)
        else:
            self.run += first
        if self.run > MAX_LINE_BYTES:
            if self.lines:
                raise IngestionError(
                    _t(
                        "Row %(n)s is longer than %(limit)s bytes (line %(line)s); a line break "
                        "or a closing quote is probably missing there."
                    ),
                    row=self.lines,
                    n=self.lines,
                    limit=MAX_LINE_BYTES,
                    line=self.lines + 1,
                )
            raise IngestionError(
                _t(
                    "The header is longer than %(limit)s bytes (line %(line)s); a line break "
                    "or a closing quote is probably missing there."
                ),
                limit=MAX_LINE_BYTES,
                line=1,
            )
        if first >= 0:
            self.lines += chunk.count(b"\n")
            self.run = len(chunk) - chunk.rindex(b"\n") - 1


def _first_invalid_utf8(
    path: Path, *, on_fraction: Fraction, digest: Digest, lines: _LineLengths
) -> int | None:
    """The byte offset of the first invalid UTF-8 sequence, or None when all of it is valid;
    `lines` checks the line lengths and counts line breaks and quotes as the pass reads."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    total = max(path.stat().st_size, 1)
    offset = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(CHUNK_BYTES)
            digest.update(chunk)
            lines.feed(chunk)
            if b"\x00" in chunk:
                raise _nul_error(offset + chunk.index(b"\x00"))
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes the decoder still held from the last chunk.
                return offset - pending + exc.start
            if not chunk:
                return None
            offset += len(chunk)
            on_fraction(offset / total)


def _transcode(
    src: Path,
    dest: Path,
    encoding: str,
    *,
    on_fraction: Fraction,
    digest: Digest,
    lines: _LineLengths | None = None,
) -> int | None:
    """Write ``src`` as UTF-8 into ``dest``; the offset of the first undecodable byte, if any.

    Through the C library's iconv where it has the encoding (bytes to bytes, about twice as fast
    as decoding to ``str`` and encoding again), else through Python's codec; same bytes out.
    `lines` checks the line lengths and counts line breaks and quotes of the UTF-8 written."""
    lines = _LineLengths() if lines is None else lines
    total = max(src.stat().st_size, 1)
    offset = 0
    with iconv.converter_to_utf8(encoding) as converter, src.open("rb") as fin, dest.open("wb") as fout:
        while True:
            chunk = fin.read(CHUNK_BYTES)
            digest.update(chunk)
            if b"\x00" in chunk:
                raise _nul_error(offset + chunk.index(b"\x00"))
            try:
                encoded = converter.convert(chunk, final=not chunk)
            except iconv.Undecodable as exc:
                return exc.offset
            lines.feed(encoded)
            fout.write(encoded)
            if not chunk:
                return None
            offset += len(chunk)
            on_fraction(offset / total)


def _undecodable(path: Path, offset: int) -> IngestionError:
    line = _line_at(path, offset)
    return IngestionError(
        f"The file is neither UTF-8 nor CP949 (EUC-KR) text: the bytes at byte {offset:,} "
        f"(line {line:,}) cannot be read. Save it as CSV UTF-8 and upload it again.",
        # Counted in physical lines: exact unless a quoted field above spans several lines.
        row=line - 1 if line > 1 else None,
    )


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte ``offset``, counted in one streaming pass (error path)."""
    newlines = 0
    remaining = offset
    with path.open("rb") as f:
        while remaining > 0 and (chunk := f.read(min(CHUNK_BYTES, remaining))):
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
    return newlines + 1


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{f'{size:,.1f}'.removesuffix('.0')} {unit}"

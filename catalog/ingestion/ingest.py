"""``ingest_file``: an uploaded file in, one zstd Parquet file and its schema out."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from marketplace.duckdb import connect

from . import convert, detect
from .errors import IngestionError
from .errors import message_template as _t

OUTPUT_NAME = "data.parquet"
# Wider tables are almost always a wrong delimiter or a pivoted export; they also make every
# per-column query in ingestion and profiling slow.
MAX_COLUMNS = 2000


@dataclass
class IngestResult:
    parquet_path: Path  # zstd-compressed Parquet inside work_dir
    file_kind: str  # "csv" | "csv.gz" | "parquet"
    encoding: str | None  # "utf-8" | "utf-8-sig" | "cp949"; None for Parquet
    dialect: dict  # {"delimiter", "quote", "escape", "header"}; {} for Parquet
    row_count: int
    source_bytes: int
    parquet_bytes: int
    columns: list[dict]  # [{"position", "name", "type", "duckdb_type"}]
    source_sha256: str = ""  # of the file as given, taken by the pass that read it whole


class _Progress:
    """Forwards whole percentages to the caller, never repeating or going backwards."""

    def __init__(self, callback: Callable[[int], None]):
        self._callback = callback
        self._last = -1

    def __call__(self, pct: float) -> None:
        pct = max(0, min(100, int(pct)))
        if pct > self._last:
            self._last = pct
            self._callback(pct)

    def span(self, start: int, end: int) -> Callable[[float], None]:
        """A callback taking a fraction of one stage, mapped onto start..end percent."""
        return lambda fraction: self(start + (end - start) * fraction)


@dataclass(frozen=True)
class Text:
    """A CSV upload made ready for conversion: valid UTF-8 at `path` (the upload itself, or its
    transcoded or decompressed copy in the work directory), with what the checks found."""

    path: Path
    kind: str  # "csv" | "csv.gz"
    encoding: str  # of the upload: "utf-8" | "utf-8-sig" | "cp949"
    dialect: dict
    names: list[str]  # the table's column names, in the file's order
    source_sha256: str  # of the file as given
    source_bytes: int  # of the file as given
    shape: detect.TextShape | None  # line breaks and quotes of the text at `path`, when counted


def _prepared_text(con, src, kind, prefix, report, max_uncompressed_bytes, counted) -> Text:
    """A CSV (gzip'd or not) checked and transcoded to UTF-8 (into the work files at `prefix`),
    its dialect and header read; with `counted`, its line breaks and quotes counted."""
    decompressed, transcoded, _ = _scratch(prefix)
    text_path = src
    text_start = 0
    source_sha256 = None
    if kind == "csv.gz":
        with detect.Digest() as digest:
            detect.gunzip(
                src, decompressed, limit=max_uncompressed_bytes, on_fraction=report.span(0, 30), digest=digest
            )
            source_sha256 = digest.hexdigest()
        text_path, text_start = decompressed, 30
    detect.check_text_sample(text_path)
    csv_path, encoding, text_sha256, shape = detect.to_utf8(
        text_path,
        transcoded,
        on_fraction=report.span(text_start, 50),
        checksum=source_sha256 is None,
        shape=counted,
    )
    dialect = convert.sniff_dialect(con, csv_path)
    names = convert.unique_names(convert.read_header(csv_path, dialect))
    if len(names) > MAX_COLUMNS:
        raise IngestionError(
            _t(
                "The header has %(n)s columns; the limit is %(limit)s. "
                "Check the delimiter, or split the table."
            ),
            n=len(names),
            limit=MAX_COLUMNS,
        )
    report(55)
    sha256 = source_sha256 or text_sha256
    return Text(csv_path, kind, encoding, dialect, names, sha256, src.stat().st_size, shape)


def _text_to_parquet(con, text: Text, partial, report):
    """The prepared CSV written as Parquet at `partial`: (encoding, dialect, row count, types,
    the sha256 of the upload)."""
    row_count, types = convert.csv_to_parquet(
        con, text.path, partial, dialect=text.dialect, names=text.names, on_fraction=report.span(55, 95)
    )
    return text.encoding, text.dialect, row_count, types, text.source_sha256


def _parquet_to_parquet(con, src: Path, partial: Path, report: _Progress):
    """A Parquet upload rewritten at `partial`: (encoding, dialect, row count, types, the sha256
    of `src`, hashed apart: only DuckDB reads the file)."""
    row_count, types = convert.parquet_to_parquet(con, src, partial, report.span(0, 90))
    return None, {}, row_count, types, detect.sha256_file(src)


def ingest_file(
    src: Path,
    work_dir: Path,
    *,
    max_uncompressed_bytes: int = 10 * 2**30,
    progress: Callable[[int], None] = lambda pct: None,
    con=None,
    convert_text: Callable[[Text, Callable[[float], None]], object | None] | None = None,
):
    """Convert ``src`` (CSV, TSV, gzip'd CSV or Parquet) into ``work_dir / "data.parquet"``.

    The kind of file is decided by its content, never its name. Data never passes through
    Python memory: text is validated and transcoded in byte chunks, everything else is DuckDB
    (its progress through the conversion reported as it runs; measured on ``con`` from now).
    ``source_sha256`` is taken by the pass that reads the text whole, not by a read of its own.
    Raises ``IngestionError`` with an actionable message for bad input; whatever happens, the
    only file this call leaves in ``work_dir`` is the finished Parquet file, which appears
    atomically at the end.

    ``convert_text(text, on_fraction)``, when given, is offered a CSV once it is checked and
    readable as UTF-8 (a `Text`); whatever it returns other than None is returned instead of
    the `IngestResult` (another engine converted it; ``on_fraction`` maps onto the conversion's
    share of the progress), and None lets DuckDB convert it as usual.
    """
    src, work_dir = Path(src), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    report = _Progress(progress)
    report(0)
    prefix = work_dir / f".ingest-{uuid.uuid4().hex[:12]}"
    partial, final = _scratch(prefix)[2], work_dir / OUTPUT_NAME
    kind = detect.file_kind(src)
    own_connection = con is None
    con = con or connect()
    try:
        if kind == "parquet":
            encoding, dialect, row_count, types, source_sha256 = _parquet_to_parquet(
                con, src, partial, report
            )
        else:
            counted = convert_text is not None
            text = _prepared_text(con, src, kind, prefix, report, max_uncompressed_bytes, counted)
            converted = convert_text(text, report.span(55, 95)) if convert_text else None
            if converted is not None:
                report(100)
                return converted
            encoding, dialect, row_count, types, source_sha256 = _text_to_parquet(con, text, partial, report)
        columns = convert.output_columns(con, partial, types)
        os.replace(partial, final)
    finally:
        for path in _scratch(prefix):
            path.unlink(missing_ok=True)
        if own_connection:
            con.close()
    report(100)
    sizes = {"source_bytes": src.stat().st_size, "parquet_bytes": final.stat().st_size}
    return IngestResult(
        final, kind, encoding, dialect, row_count, **sizes, columns=columns, source_sha256=source_sha256
    )


def _scratch(prefix: Path) -> tuple[Path, Path, Path]:
    """The work files of one ingestion: the decompressed text, the transcoded text, the Parquet
    file being written."""
    return tuple(Path(f"{prefix}{end}") for end in (".csv", ".utf8.csv", ".parquet.part"))

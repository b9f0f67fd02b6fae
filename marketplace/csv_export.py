"""The one CSV writer for every export (audit trail, statistics, invoices, anything added later).

Spreadsheets read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula (OWASP "CSV injection"). Every text cell is neutralised the way extracts are
(transactions/extracts/writers.py): a leading `'` makes it plain text. Numbers stay numbers, so a
negative amount is not turned into text. Files are UTF-8 with a BOM, for Excel."""

from __future__ import annotations

import codecs
import csv
import datetime
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    return "'" + value if value[:1] in FORMULA_TRIGGERS else value


def cell(value):
    """A value as a CSV cell: text neutralised, times in the local zone, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return neutralise(str(value))


class _Echo:
    def write(self, value):
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """The BOM and header, then one line per row, every cell through `cell`."""
    writer = csv.writer(_Echo())
    yield codecs.BOM_UTF8.decode("utf-8") + writer.writerow([cell(h) for h in header])
    for row in rows:
        yield writer.writerow([cell(v) for v in row])


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    """A streamed CSV download named `<filename>-<local time>.csv` (rows are read lazily)."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response

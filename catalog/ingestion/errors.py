"""The one error the ingestion engine raises."""

from __future__ import annotations


class IngestionError(Exception):
    """A file could not be ingested, with a sentence a person can act on.

    ``row`` is the 1-based data row (the header is not counted) and ``column`` the column name,
    when the problem is in one place.
    """

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

"""The one error the ingestion engine raises."""

from __future__ import annotations


def message_template(text: str) -> str:
    """Marks an English message template for translation (it is translated where it is shown,
    in the reader's language, so the engine stays free of Django's active language)."""
    return text


class IngestionError(Exception):
    """A file could not be ingested, with a sentence a person can act on.

    ``template`` is an English sentence with ``%(name)s`` placeholders filled from ``params``
    (``message`` is the English text); pages translate the template and fill it again.
    ``row`` is the 1-based data row (the header is not counted) and ``column`` the column name,
    when the problem is in one place.
    """

    def __init__(self, template: str, *, row: int | None = None, column: str | None = None, **params: object):
        self.template = template
        self.params = {k: (f"{v:,}" if isinstance(v, int) else str(v)) for k, v in params.items()}
        self.message = template % self.params if params else template
        super().__init__(self.message)
        self.row = row
        self.column = column

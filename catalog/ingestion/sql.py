"""Quoting for the few values that must be spliced into SQL text.

DuckDB cannot bind parameters in every position we need (COPY targets, table-function options),
so paths, dialect characters and column names are quoted here, in one place.
"""

from __future__ import annotations

import contextlib
import os


def literal(value: str | os.PathLike) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def insertion_order_preserved(con):
    """Keep rows in file order for one statement, then restore the connection's setting.

    The factory turns preservation off for speed; a converted dataset and its preview must keep
    the uploaded order.
    """
    (previous,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = true")
    try:
        yield con
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")

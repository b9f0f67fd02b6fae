"""The one place DuckDB connections are made.

Every connection gets a memory limit, a thread count and a spill directory, so worker memory
stays bounded whatever the size of the data (DESIGN.md, performance rules).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb


def _setting(name: str, default):
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # settings not configured (plain scripts, benchmarks)
        return default


def connect(
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | os.PathLike | None = None,
    database: str = ":memory:",
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with bounded memory and a spill directory."""
    memory_limit = memory_limit or _setting("DUCKDB_MEMORY_LIMIT", "1GB")
    threads = threads or _setting("DUCKDB_THREADS", 2)
    temp_directory = Path(temp_directory or _setting("DUCKDB_TEMP_DIR", "var/tmp/duckdb"))
    temp_directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database)
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET temp_directory = ?", [str(temp_directory)])
    con.execute("SET preserve_insertion_order = false")
    # Only files we hand over are read: no extensions fetched from the network.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    return con


_reader: duckdb.DuckDBPyConnection | None = None
_reader_pid: int | None = None
_reader_lock = threading.Lock()


def reader() -> duckdb.DuckDBPyConnection:
    """A cursor on one in-memory database kept by this process, for short read-only queries of
    files (previews). Opening a database costs some 15 ms of CPU, a cursor next to nothing.
    The caller closes the cursor. Nothing may be created through it (tables, views, macros,
    settings): every cursor of the process shares the database's catalog and memory limit.
    A forked child (a Celery worker process) opens its own."""
    global _reader, _reader_pid
    with _reader_lock:
        if _reader is None or _reader_pid != os.getpid():
            _reader, _reader_pid = connect(), os.getpid()
        return _reader.cursor()

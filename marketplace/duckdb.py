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


def execute_reporting(con, sql: str, params: list, report, *, poll_seconds: float = 0.1) -> list:
    """Run one statement on a helper thread and return its rows, while this thread polls
    `con.query_progress()` and calls `report(fraction)` with 0 ≤ fraction ≤ 1 as it grows (the
    connection needs `enable_progress_bar`; without it nothing is reported until the end).
    `report` runs on the caller's thread, so it may use the caller's database connection, and
    may raise to stop: the statement is interrupted and the exception propagates."""
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["rows"] = con.execute(sql, params).fetchall()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="duckdb-statement", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(poll_seconds)
            pct = con.query_progress()
            if pct is not None and pct >= 0:
                report(min(pct, 100.0) / 100.0)
    except BaseException:
        con.interrupt()
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    report(1.0)
    return outcome["rows"]


# What `con.query_progress()` needs: progress measured from a statement's start, nothing printed.
PROGRESS_SETTINGS = {
    "enable_progress_bar": "true",
    "enable_progress_bar_print": "false",
    "progress_bar_time": "0",
}


def report_progress(con) -> None:
    """Have `con` measure its statements' progress for `execute_reporting`."""
    for name, value in PROGRESS_SETTINGS.items():
        con.execute(f"SET {name} = {value}")

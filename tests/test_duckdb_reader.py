"""marketplace.duckdb.reader(): cursors on one database per process, bounded like connect()."""

import os
import threading

import duckdb

from marketplace import duckdb as jangteo_duckdb


def test_reader_cursors_share_one_bounded_database_and_work_from_threads(tmp_path):
    path = tmp_path / "t.parquet"
    duckdb.sql(f"COPY (SELECT range AS n FROM range(1000)) TO '{path}' (FORMAT parquet)")
    setting = "SELECT current_setting('memory_limit'), current_setting('threads')"
    first, own = jangteo_duckdb.reader(), jangteo_duckdb.connect()
    assert first.execute(setting).fetchone() == own.execute(setting).fetchone()  # bounded alike
    first.close(), own.close()

    results, failures = [], []

    def read():
        try:
            cursor = jangteo_duckdb.reader()
            try:
                results.append(
                    cursor.execute("SELECT sum(n) FROM read_parquet(?)", [str(path)]).fetchone()[0]
                )
            finally:
                cursor.close()
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and results == [sum(range(1000))] * 8
    assert jangteo_duckdb._reader_pid == os.getpid()


def test_a_forked_process_opens_its_own_database():
    jangteo_duckdb.reader().close()
    parent = jangteo_duckdb._reader
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new database, and it works
        try:
            cursor = jangteo_duckdb.reader()
            ok = cursor.execute("SELECT 42").fetchone()[0] == 42 and jangteo_duckdb._reader is not parent
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"

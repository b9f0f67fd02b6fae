"""Scale benchmark (issue 16): partitioned tables, pruned extracts and appends.

    .venv/bin/python bench/scale.py [--big 20000000] [--small 2000000] [--months 12]

Card payments over the 31 시·군 of Gyeonggi-do are written as a partitioned version (one zstd
Parquet file per month and 시·군, `catalog.ingestion.partition`): the small table holds `--small`
rows over `--months` months (2024), the big one `--big` rows at the same monthly volume, so over
`months × big / small` months ending with the same year (a longer history, as a platform that
keeps every month has). Then, on each table:

- a scoped records extract (one month, five 시·군; identifiers pseudonymized with HMAC, CSV
  out) through the real recipe and runner (`transactions.extracts.engine`), over the files
  that `catalog.ingestion.partition.prune` chooses from the recorded statistics: the target is
  big ≤ 1.3 × small (the cost follows the scope, not the table);
- the same extract over every file of the big table (what an unpartitioned table costs);
- appending one month: the time and the bytes written, against the whole table's bytes and
  against writing the whole table again;
- one upload of `--small` rows ingested (converted, cut into partition files, profiled) on
  DuckDB and, with SPARK_REMOTE set, on Spark (`catalog.spark_ingestion`), as a Parquet file,
  as the same rows in CSV and in CSV with every field quoted (Spark's path then has DuckDB count
  the records first): both engines timed, and the files and profiles checked to be the same.

Every step runs in its own process, so its peak memory (ru_maxrss) is its own. The defaults
suit a 2-core machine; the issue's 200 M vs 20 M is `--big 200000000
--small 20000000`. Prints one JSON line per step and a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "var" / "bench" / "scale"
REGIONS = [
    "41110", "41130", "41150", "41170", "41190", "41210", "41220", "41250", "41270", "41280",
    "41290", "41310", "41360", "41370", "41390", "41410", "41430", "41450", "41460", "41461",
    "41463", "41465", "41480", "41500", "41550", "41570", "41590", "41610", "41630", "41650",
    "41670",
]  # fmt: skip
SCOPE_MONTH = 6
SCOPE_REGIONS = REGIONS[:5]
FIELDS = ["transaction_id", "sigungu_code", "industry", "card_id", "merchant_id", "amount", "approved_on"]


def _connect():
    sys.path.insert(0, str(REPO))
    from marketplace.duckdb import connect

    return connect(memory_limit="1GB", threads=2, temp_directory=WORK / "spill")


def _source_sql(rows: int, months: int, first_month: int = 1, offset: int = 0) -> str:
    """`rows` card payments spread evenly over `months` months from 2024-`first_month`."""
    return f"""
      SELECT 'T' || lpad(CAST(i + {offset} AS VARCHAR), 11, '0') AS transaction_id,
             {REGIONS!r}[1 + CAST(hash(i + {offset}, 1) % 31 AS INTEGER)] AS sigungu_code,
             (['한식 음식점','카페','편의점','미용실','약국','학원'])[1 + CAST(hash(i + {offset}, 2) % 6 AS INTEGER)] AS industry,
             'C' || lpad(CAST(hash(i + {offset}, 3) % 5000000 AS VARCHAR), 8, '0') AS card_id,
             'M' || lpad(CAST(hash(i + {offset}, 4) % 200000 AS VARCHAR), 7, '0') AS merchant_id,
             CAST(1000 + hash(i + {offset}, 5) % 90000 AS BIGINT) AS amount,
             CAST(DATE '2024-01-01' + INTERVAL ({first_month - 1} + (i * {months}) // {rows}) MONTH
                  + INTERVAL (CAST(hash(i + {offset}, 6) % 28 AS INTEGER)) DAY AS DATE) AS approved_on
      FROM range({rows}) t(i)
    """


COLUMNS = [
    {"name": "transaction_id", "type": "string"},
    {"name": "sigungu_code", "type": "string"},
    {"name": "industry", "type": "string"},
    {"name": "card_id", "type": "string"},
    {"name": "merchant_id", "type": "string"},
    {"name": "amount", "type": "integer"},
    {"name": "approved_on", "type": "date"},
]


def _write_table(rows: int, months: int, out: Path, *, first_month: int = 1, offset: int = 0) -> dict:
    """Generate the rows as one Parquet file (not timed: the upload), partition it as ingestion
    does and move the files into the table's tree under `out` (timed: what ingestion costs)."""
    from catalog.ingestion.partition import partition_parquet

    con = _connect()
    scratch = out.parent / f".{out.name}-source.parquet"
    staging = out.parent / f".{out.name}-staging"
    shutil.rmtree(staging, ignore_errors=True)
    con.execute(
        f"COPY ({_source_sql(rows, months, first_month, offset)}) TO '{scratch}' (FORMAT parquet, COMPRESSION zstd)"
    )
    started = time.perf_counter()
    parts = partition_parquet(
        con, scratch, staging, columns=COLUMNS, period_column="approved_on", region_column="sigungu_code"
    )
    manifest = []
    for p in parts:  # storing: a rename into the table's tree (store_file on one disk)
        target = out / p.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p.path, target)
        manifest.append(
            [
                str(target),
                p.date_min.isoformat(),
                p.date_max.isoformat(),
                p.region_min,
                p.region_max,
                p.rows,
                p.bytes,
            ]
        )
    seconds = time.perf_counter() - started
    con.close()
    scratch.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    return {
        "seconds": seconds,
        "files": len(parts),
        "bytes": sum(p.bytes for p in parts),
        "manifest": manifest,
    }


def case_generate(rows: int, months: int, name: str, first_month: int, chunk: int) -> dict:
    """Write the table a year (`chunk` months) at a time, as a center loading its history would:
    one upload's partitions are open at once, not the whole history's."""
    out = WORK / name
    shutil.rmtree(out, ignore_errors=True)
    result = {"seconds": 0.0, "files": 0, "bytes": 0, "manifest": []}
    per_month = rows // months
    for start in range(0, months, chunk):
        n = min(chunk, months - start)
        part = _write_table(per_month * n, n, out, first_month=first_month + start, offset=per_month * start)
        for key in ("seconds", "files", "bytes", "manifest"):
            result[key] += part[key]
    (WORK / f"{name}.manifest.json").write_text(json.dumps(result["manifest"]))
    return {
        "step": f"write {name}",
        "rows": rows,
        "files": result["files"],
        "bytes": result["bytes"],
        "bytes_per_row": round(result["bytes"] / rows, 2),
        "seconds": round(result["seconds"], 2),
        "rows_per_second": round(rows / result["seconds"]),
    }


def _manifest(name: str) -> list[tuple]:
    from datetime import date

    return [
        (path, date.fromisoformat(lo), date.fromisoformat(hi), rlo, rhi, rows, size)
        for path, lo, hi, rlo, rhi, rows, size in json.loads((WORK / f"{name}.manifest.json").read_text())
    ]


def _recipe(files: list[str], scope: dict, key: bytes, on_spark: bool):
    """The records recipe the product builds for `scope` (CSV, HMAC pseudonyms), its scan on
    Spark when `on_spark`."""
    from catalog import privacy
    from catalog.policy import OfferPolicy
    from transactions.extracts import engine

    policy = OfferPolicy.from_values(
        {"kind": "records", "fields": FIELDS, "region_field": "sigungu_code", "date_field": "approved_on"}
    )
    schema = [
        privacy.Column(
            c["name"], c["type"], "identifier" if c["name"] in ("card_id", "merchant_id") else "public"
        )
        for c in COLUMNS
    ]
    if on_spark:  # catalog.spark reads SPARK_REMOTE from Django's settings
        from django.conf import settings

        if not settings.configured:
            settings.configure(SPARK_REMOTE=os.environ["SPARK_REMOTE"])
    return engine.build_recipe(
        parquet=files,
        source_sha256="bench",
        schema=schema,
        policy=policy,
        scope=scope,
        key=key,
        format="csv",
        spark_files=files if on_spark else None,
    )


def case_extract(name: str, pruned: bool, on_spark: bool = False) -> dict:
    from datetime import date

    from catalog.ingestion.partition import prune
    from transactions.extracts import engine

    files = _manifest(name)
    scope = {
        "fields": FIELDS,
        "regions": SCOPE_REGIONS,
        "date_from": f"2024-{SCOPE_MONTH:02d}-01",
        "date_to": f"2024-{SCOPE_MONTH:02d}-28",
    }
    started = time.perf_counter()
    chosen = (
        prune(
            files,
            date_from=date.fromisoformat(scope["date_from"]),
            date_to=date.fromisoformat(scope["date_to"]),
            regions=SCOPE_REGIONS,
        )
        if pruned
        else files
    )
    key = b"bench-license-key-0123456789abcd"
    recipe = _recipe([f[0] for f in chosen], scope, key, on_spark)
    out = WORK / f"extract-{name}-{'pruned' if pruned else 'all'}.csv"
    result = engine.run_extract(recipe, out_path=out, work_dir=WORK, key=key, con=_connect())
    seconds = time.perf_counter() - started
    out.unlink()
    return {
        "step": f"extract {name} ({'pruned' if pruned else 'every file'}){' on Spark' if on_spark else ''}",
        "files_read": len(chosen),
        "files_total": len(files),
        "bytes_read": sum(f[6] for f in chosen),
        "rows_out": result.rows,
        "seconds": round(seconds, 3),
    }


def case_append(name: str, rows_per_month: int, months: int) -> dict:
    """Append one month to the table `name`: only that month's files are written; nothing
    already there is touched (checked by size and modification time)."""
    out = WORK / name
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in out.rglob("*.parquet")}
    result = _write_table(rows_per_month, 1, out, first_month=months + 1, offset=10**10)
    touched = sum(
        1 for p, (size, mtime) in before.items() if (p.stat().st_size, p.stat().st_mtime_ns) != (size, mtime)
    )
    table_bytes = sum(size for size, _ in before.values())
    return {
        "step": f"append one month to {name}",
        "rows": rows_per_month,
        "files_written": result["files"],
        "bytes_written": result["bytes"],
        "table_bytes": table_bytes,
        "share_of_table_written": round(result["bytes"] / table_bytes, 4),
        "existing_files_touched": touched,
        "seconds": round(result["seconds"], 2),
    }


PARTITIONING = {"period_column": "approved_on", "unit": "month", "region_column": "sigungu_code"}


def case_ingest(rows: int, engine: str, kind: str = "parquet") -> dict:
    """One upload of `rows` rows (a Parquet file, or the same rows as CSV, or as CSV with every
    field quoted: `kind`; written before, not timed) converted, cut into partition files and profiled, as the ingestion task
    does: on DuckDB (`ingest_file`, `partition_parquet`, `profile_parquet`) or on Spark
    (`catalog.spark_ingestion.ingest`, and `ingest_text` for CSV after the worker's text pass)."""
    import hashlib

    from catalog.ingestion import ingest_file, partition, profile_parquet

    source = WORK / f"upload-{rows}.{kind}"
    out = WORK / f"ingest-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = _connect()
    started = time.perf_counter()
    if engine == "duckdb":
        result = ingest_file(source, out, con=con)
        parts = partition.partition_parquet(
            con, result.parquet_path, out / "parts", columns=result.columns, **PARTITIONING
        )
        profiles = profile_parquet(result.parquet_path, result.columns, con=con)
    else:
        from django.conf import settings

        settings.configure(
            SPARK_REMOTE=os.environ["SPARK_REMOTE"], SPARK_MIN_SCAN_BYTES=0, SPARK_CONNECT_RETRIES=5
        )
        from catalog import spark_ingestion

        _time_worker_pass(spark_ingestion)
        if kind.endswith("csv"):
            on_spark = ingest_file(
                source,
                out,
                con=con,
                convert_text=lambda text, f: spark_ingestion.ingest_text(con, text, out, PARTITIONING, f),
            )
        else:
            on_spark = spark_ingestion.ingest(con, source, out, PARTITIONING, lambda f: None)
        if not isinstance(on_spark, spark_ingestion.Ingested):
            raise SystemExit("Spark did not ingest the upload (see the log for why)")
        result, parts, profiles = on_spark
    seconds = time.perf_counter() - started
    con.close()
    files = sorted((p.period, p.region, p.rows, str(p.date_min), str(p.date_max)) for p in parts)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "step": f"ingest one {kind} upload on {engine}",
        "rows": result.row_count,
        "seconds": round(seconds, 2),
        "files": len(parts),
        "rows_per_second": round(result.row_count / seconds),
        "files_digest": hashlib.sha256(repr(files).encode()).hexdigest()[:16],
        "profile_digest": hashlib.sha256(json.dumps(profiles, sort_keys=True).encode()).hexdigest()[:16],
        **({"worker_pass_seconds": round(WORKER_PASS[0], 2)} if engine == "spark" else {}),
    }


WORKER_PASS = [0.0]


def _time_worker_pass(spark_ingestion) -> None:
    """Time what stays on the worker when Spark ingests (the written files' statistics and
    checksums, the profile, the upload's checksum) into WORKER_PASS."""

    def timed(fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                WORKER_PASS[0] += time.perf_counter() - started

        return wrapper

    spark_ingestion.profile_files = timed(spark_ingestion.profile_files)
    spark_ingestion.partition.describe_parts = timed(spark_ingestion.partition.describe_parts)
    spark_ingestion.detect.sha256_file = timed(spark_ingestion.detect.sha256_file)


def _ingestions(rows: int) -> dict:
    """One upload ingested on DuckDB and, with SPARK_REMOTE set, on Spark, as Parquet, CSV and
    quoted CSV: the same partition files (keys, rows, date ranges) and profiles are checked, and
    both engines are timed."""
    source = WORK / f"upload-{rows}.parquet"
    if not source.exists():
        con = _connect()
        con.execute(f"COPY ({_source_sql(rows, 12)}) TO '{source}' (FORMAT parquet, COMPRESSION zstd)")
        con.close()
    if not os.environ.get("SPARK_REMOTE"):
        run_case(["ingest", str(rows), "duckdb", "parquet"])
        print(json.dumps({"step": "ingest on Spark", "skipped": "SPARK_REMOTE is not set"}))
        return {}
    for text, quoting in (
        (WORK / f"upload-{rows}.csv", ""),
        (WORK / f"upload-{rows}.quoted.csv", ", FORCE_QUOTE *"),
    ):
        if not text.exists():
            con = _connect()
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{source}')) TO '{text}' (FORMAT csv, HEADER{quoting})"
            )
            con.close()
    ratios = {}
    for kind in ("parquet", "csv", "quoted.csv"):
        on_duckdb = run_case(["ingest", str(rows), "duckdb", kind])
        on_spark = run_case(["ingest", str(rows), "spark", kind])
        same = all(on_spark[k] == on_duckdb[k] for k in ("rows", "files_digest", "profile_digest"))
        if not same:
            raise SystemExit(
                f"Spark's ingestion of the {kind} upload differs from DuckDB's (files or profiles)"
            )
        ratios[f"ingest_{kind.replace('.', '_')}_spark_over_duckdb"] = round(
            on_spark["seconds"] / on_duckdb["seconds"], 2
        )
    return {**ratios, "same": True}


def run_case(args: list[str]) -> dict:
    """Run one case in a child process; its peak RSS is the child's own."""
    proc = subprocess.run(
        [sys.executable, __file__, "--case", *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {args} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return result


def _spark_extracts() -> dict:
    """The big table's extracts with their scan on Spark Connect (SPARK_REMOTE), or {}."""
    if not os.environ.get("SPARK_REMOTE"):
        print(json.dumps({"step": "extract on Spark", "skipped": "SPARK_REMOTE is not set"}))
        return {}
    run_case(["extract", "small", "pruned", "spark"])  # warm the server's code paths once
    return {
        "pruned": run_case(["extract", "big", "pruned", "spark"]),
        "every": run_case(["extract", "big", "all", "spark"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big", type=int, default=20_000_000)
    parser.add_argument("--small", type=int, default=2_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.case:
        sys.path.insert(0, str(REPO))
        kind, *rest = args.case
        if kind == "generate":
            result = case_generate(int(rest[0]), int(rest[1]), rest[2], int(rest[3]), int(rest[4]))
        elif kind == "ingest":
            result = case_ingest(int(rest[0]), *rest[1:])
        elif kind == "extract":
            result = case_extract(rest[0], rest[1] == "pruned", on_spark=rest[2:] == ["spark"])
        else:
            result = case_append(rest[0], int(rest[1]), int(rest[2]))
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(result, ensure_ascii=False))
        return

    big_months = args.months * args.big // args.small
    first = 1 - (big_months - args.months)  # the big table's history ends where the small one's does
    chunk = str(args.months)
    big = run_case(["generate", str(args.big), str(big_months), "big", str(first), chunk])
    small = run_case(["generate", str(args.small), str(args.months), "small", "1", chunk])
    run_case(["extract", "small", "pruned"])  # warm the code paths once
    on_small = run_case(["extract", "small", "pruned"])
    on_big = run_case(["extract", "big", "pruned"])
    every = run_case(["extract", "big", "all"])
    spark = _spark_extracts()
    append = run_case(["append", "big", str(args.small // args.months), str(args.months)])
    summary = {
        "step": "summary",
        "sizes": {
            "big": args.big,
            "small": args.small,
            "big_months": big_months,
            "small_months": args.months,
            "regions": len(REGIONS),
        },
        "scoped_extract_big_over_small": round(on_big["seconds"] / on_small["seconds"], 2),
        "target": "≤ 1.3",
        "pruning_speedup_on_big": round(every["seconds"] / on_big["seconds"], 1),
        "bytes_per_row": big["bytes_per_row"],
        "write_rows_per_second": big["rows_per_second"],
        "append_share_of_table_written": append["share_of_table_written"],
        "append_seconds_vs_rewrite": round(append["seconds"] / big["seconds"], 3),
        "existing_files_touched_by_append": append["existing_files_touched"],
        "small_bytes_per_row": small["bytes_per_row"],
    }
    if spark:
        summary["spark_over_duckdb_pruned"] = round(spark["pruned"]["seconds"] / on_big["seconds"], 2)
        summary["spark_over_duckdb_every_file"] = round(spark["every"]["seconds"] / every["seconds"], 2)
    summary.update(_ingestions(args.small))  # after the extracts: it reuses no table of theirs
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()

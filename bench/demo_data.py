"""Benchmark the synthetic Gyeonggi data generator (demo/generator.py).

    .venv/bin/python bench/demo_data.py [--rows 1000000 20000000] [--threads 2] [--memory-limit 1GB]

For each row count, each case runs in its own subprocess (so peak RSS is the case's own, read
from ru_maxrss):

  generator  demo_data.generate_card_transactions: helper block file, one COPY with progress
             polling, atomic rename, sha256 of the file
  raw        the same SELECT as one bare DuckDB COPY on the same connection settings, without
             insertion order (the ceiling)
  pandas     a straightforward numpy/pandas generator of the same columns, in memory, written with
             pyarrow (zstd): the floor; only up to --pandas-max-rows, as it holds everything in RAM

and prints seconds, rows/s, CPU seconds, peak RSS, file size, the load average around the case
(other work on the machine skews wall time; CPU seconds much less) and the ratios generator/raw and
generator/pandas in rows per second. Target: 20M card transactions well under 120 s on 2 cores,
peak RSS under 1.5 GiB with DuckDB's memory_limit at 1GB.
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
sys.path.insert(0, str(REPO))

CASES = ("generator", "raw", "pandas")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _connect(args, work: Path):
    from marketplace import duckdb as jangteo_duckdb

    return jangteo_duckdb.connect(
        memory_limit=args.memory_limit, threads=args.threads, temp_directory=work / "spill"
    )


def case_generator(args, work: Path, out: Path) -> dict:
    from demo import generator as demo_data

    con = _connect(args, work)
    steps: list[int] = []
    summary = demo_data.generate_card_transactions(
        out, rows=args.rows, seed=args.seed, progress=steps.append, con=con
    )
    con.close()
    return {"rows": summary["rows"], "progress_steps": len(steps)}


def case_raw(args, work: Path, out: Path) -> dict:
    from demo import generator as demo_data

    build, blocks = demo_data.card_transactions_query(rows=args.rows, seed=args.seed)
    con = _connect(args, work)
    helper = work / "raw-blocks.parquet"
    con.execute(f"COPY ({blocks}) TO '{helper}' (FORMAT parquet, ROW_GROUP_SIZE 2048)")
    source = f"(SELECT unnest(range(lo, hi)) AS i, lo, hi, t0 FROM read_parquet('{helper}'))"
    rows = con.execute(f"COPY ({build(source)}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)").fetchone()[0]
    con.close()
    return {"rows": rows}


def _zipf(u, sizes, s):
    import numpy as np

    a = (sizes + 1.0) ** (1.0 - s) - 1.0
    return np.minimum(
        np.maximum(np.floor((1.0 + u * a) ** (1.0 / (1.0 - s))).astype(np.int64) - 1, 0), sizes - 1
    )


def _times(rng, n: int):
    """n payment times over 2024, sorted, by the generator's day and hour weights."""
    from datetime import date

    import numpy as np
    import pandas as pd

    from demo import generator as dd

    day_weights, day_kinds = dd._transaction_days(date(2024, 1, 1), 12)
    hours = np.array(dd._WEEKDAY_HOURS + dd._WEEKEND_HOURS).reshape(2, 24)
    slot_w = (np.array(day_weights)[:, None] * hours[np.array(day_kinds)]).ravel()
    slot = np.sort(rng.choice(len(slot_w), size=n, p=slot_w / slot_w.sum()))
    start = pd.Timestamp(date(2024, 1, 1))
    return start + pd.to_timedelta(slot * 3600 + (rng.random(n) * 3600).astype(np.int64), unit="s")


def _frame(rng, n: int, approved, amount, d: dict, regions, flat):
    """The payments as a pandas frame (text columns as categoricals); the channel is drawn here."""
    import numpy as np
    import pandas as pd

    from demo import generator as dd

    def category(codes, labels):
        return pd.Categorical(np.asarray(labels, dtype=object)[codes])

    frame = pd.DataFrame(
        {
            "transaction_id": "T" + pd.Series(10**10 + np.arange(1, n + 1)).astype(str),
            "approved_at": approved,
            "sigungu_code": category(d["r"], [g.code for g in regions]),
            "sigungu_name": category(d["r"], [g.name for g in regions]),
            "dong": category(d["dong"], flat),
            "merchant_id": "M" + pd.Series(10**7 + d["m"] + 1).astype(str),
            "industry": category(d["ind"], [i.name for i in dd.INDUSTRIES]),
            "card_id": "C" + pd.Series(10**9 + d["c"] + 1).astype(str),
            "amount": amount.astype(np.int64),
            "age_band": category(d["age"], [a for a, _ in dd._AGE_BANDS]),
            "sex": category(d["sex"], [s for s, _ in dd._SEXES]),
            "channel": category(
                rng.choice(3, size=n, p=[w for _, w in dd._CHANNELS]), [c for c, _ in dd._CHANNELS]
            ),
        }
    )
    return frame


def case_pandas(args, work: Path, out: Path) -> dict:
    """The same columns the straightforward way: numpy draws, pandas frame, pyarrow writer."""

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from demo import generator as dd

    n, rng = args.rows, np.random.default_rng(args.seed)
    regions = dd.load_regions()
    pops = np.array([g.population for g in regions], dtype=float)
    merchants, cards = dd.default_merchants(n), dd.default_cards(n)
    m_sizes = np.array(dd._apportion(merchants, list(pops.astype(int))))
    m_starts = np.concatenate([[0], np.cumsum(m_sizes)[:-1]])
    c_sizes = np.array(dd._apportion(cards, list(pops.astype(int))))
    c_starts = np.concatenate([[0], np.cumsum(c_sizes)[:-1]])
    weights = np.array([i.weight for i in dd.INDUSTRIES], dtype=float)
    m_industry = rng.choice(len(weights), size=merchants, p=weights / weights.sum())
    flat, offsets, counts = dd._dong_tables()
    m_region = np.repeat(np.arange(len(regions)), m_sizes)
    m_dong = np.array(offsets)[m_region] + (rng.random(merchants) ** 2 * np.array(counts)[m_region]).astype(
        int
    )
    c_age = rng.choice(6, size=cards, p=[w for _, w in dd._AGE_BANDS])
    c_sex = rng.choice(2, size=cards, p=[w for _, w in dd._SEXES])

    r = rng.choice(len(regions), size=n, p=pops / pops.sum())
    m = m_starts[r] + _zipf(rng.random(n), m_sizes[r], dd._MERCHANT_ZIPF)
    home = np.where(
        rng.random(n) < dd._CARD_HOME_SHARE, r, rng.choice(len(regions), size=n, p=pops / pops.sum())
    )
    c = c_starts[home] + _zipf(rng.random(n), c_sizes[home], dd._CARD_ZIPF)
    approved = _times(rng, n)
    ind = m_industry[m]
    medians = np.array([i.median for i in dd.INDUSTRIES], dtype=float)
    sigmas = np.array([i.sigma for i in dd.INDUSTRIES])
    units = np.array([i.unit for i in dd.INDUSTRIES])
    amount = (
        np.maximum(1, np.round(medians[ind] * np.exp(sigmas[ind] * rng.standard_normal(n)) / units[ind]))
        * units[ind]
    )

    columns = {"r": r, "m": m, "c": c, "ind": ind, "dong": m_dong[m], "age": c_age[c], "sex": c_sex[c]}
    frame = _frame(rng, n, approved, amount, columns, regions, flat)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out, compression="zstd")
    return {"rows": len(frame)}


def run_child(args) -> None:
    work = Path(args.work)
    out = work / f"{args.case}.parquet"
    before = _cpu_seconds()
    start = time.perf_counter()
    extra = {"generator": case_generator, "raw": case_raw, "pandas": case_pandas}[args.case](args, work, out)
    seconds = time.perf_counter() - start
    result = {
        "case": args.case,
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "file_mib": out.stat().st_size / 2**20,
        **extra,
    }
    out.unlink()
    print(json.dumps(result))


def run_case(args, case: str, rows: int, work: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        case,
        "--rows",
        str(rows),
        "--work",
        str(work),
        "--threads",
        str(args.threads),
        "--memory-limit",
        args.memory_limit,
        "--seed",
        str(args.seed),
    ]
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{case} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = (load_before + os.getloadavg()[0]) / 2
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pandas-max-rows", type=int, default=2_000_000)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--work", default=str(REPO / "var" / "bench" / "demo_data"))
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.case, args.rows = args.child, args.rows[0]
        run_child(args)
        return

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(
        f"demo_data benchmark: threads={args.threads} memory_limit={args.memory_limit} cpus={os.cpu_count()}"
    )
    header = f"{'rows':>11} {'case':<10} {'seconds':>8} {'rows/s':>11} {'cpu s':>7} {'peak RSS':>9} {'file':>8} {'load':>5}"
    try:
        for rows in args.rows:
            print(header)
            results = {}
            for case in args.cases:
                if case == "pandas" and rows > args.pandas_max_rows:
                    print(f"{rows:>11,} {case:<10} skipped (> --pandas-max-rows {args.pandas_max_rows:,})")
                    continue
                r = results[case] = run_case(args, case, rows, work)
                print(
                    f"{rows:>11,} {case:<10} {r['seconds']:>8.1f} {rows / r['seconds']:>11,.0f} {r['cpu_seconds']:>7.1f}"
                    f" {r['peak_rss_mib']:>5.0f} MiB {r['file_mib']:>4.0f} MiB {r['load']:>5.1f}",
                    flush=True,
                )
            if "generator" in results:
                for base in ("raw", "pandas"):
                    if base in results:
                        ratio = results[base]["seconds"] / results["generator"]["seconds"]
                        print(f"{'':>11} generator / {base}: {ratio:.2f} x in rows/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

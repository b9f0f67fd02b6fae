"""The re-identification risk report of the demo's record offer over generated card payments.

    .venv/bin/python bench/risk.py [--rows 2000000]

Three timings in one run, each in its own process (peak RSS from ru_maxrss), on the same
Parquet file and DuckDB settings the service uses (`marketplace.duckdb.reader`):

  treated copy   the offer's treated rows (a license's whole planned output) into a temp table:
                 the unit every measure starts from
  separately     `risk.assess` then `risk.linkage`, each materialising its own copies (three
                 treated copies: the report's, then both licenses' for the linkage), the form
                 before the report and the linkage shared the first copy
  report         `risk.assess_policy`, what the service runs (two treated copies)
  on Spark       `catalog.spark.risk_report`, the same report with the copies and measures run
                 by the Spark Connect server at SPARK_REMOTE (only when it is set; its peak RSS
                 is the client's, the server's memory is its own); checked to be the same report

Prints each time and its ratio to one treated copy, and the rows per second of the report, from
which the inline limit of `RISK_INLINE_MAX_ROWS` (README) was chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import extract_task  # noqa: E402  (the card source and its sensitivities)

CASES = ("treated-copy", "separately", "report")
SPARK_CASE = "on-spark"


def _setup(parquet: Path):
    os.environ.update(DEBUG="1", DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL="WARNING")
    os.environ.setdefault("JANGTEO_VAR_DIR", str(extract_task.WORK / "var"))
    import django

    django.setup()
    from catalog import privacy
    from catalog.policy import OfferPolicy
    from marketplace.duckdb import reader

    schema = [privacy.Column(*column) for column in extract_task._columns(parquet)]
    return reader(), schema, OfferPolicy.from_values(extract_task._record_offer()).normalized()


def case(which: str, parquet: Path) -> dict:
    from catalog import risk

    con, schema, policy = _setup(parquet)
    started = time.perf_counter()
    if which == "report":
        report = risk.assess_policy(con, parquet=str(parquet), schema=schema, policy=policy).to_dict()
    elif which == SPARK_CASE:  # catalog.spark reads SPARK_REMOTE from Django's settings (environment)
        from catalog import spark

        report = spark.risk_report(str(parquet), schema, policy).to_dict()
    else:
        first, second = risk.assessment_plans(str(parquet), schema, policy)
        if which == "treated-copy":
            con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM ({first.sql})", first.params)
            report = {"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}
        else:
            report = _separately(con, first, second, risk.roles(first, schema, policy)).to_dict()
    return {"seconds": time.perf_counter() - started, "rows": report["rows"], "report": report}


def _separately(con, first, second, roles):
    """The report and the linkage each from their own copies (what assess_policy did before)."""
    from catalog import risk

    report = risk.assess(
        con,
        sql=first.sql,
        params=first.params,
        quasi_identifiers=roles.quasi_identifiers,
        subject=roles.subject,
        day=roles.day,
        place=roles.place,
    )
    linked = risk.linkage(
        con,
        first=(first.sql, first.params),
        second=(second.sql, second.params),
        subject=roles.subject,
        columns=roles.quasi_identifiers,
    )
    return risk.RiskReport(**{**report.to_dict(), "linkage": linked["share"]})


def run(which: str, parquet: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--case", which, str(parquet)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{which} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        which, parquet = args.case
        result = case(which, Path(parquet))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    parquet = extract_task.source(args.rows)
    print(f"risk report benchmark: {args.rows:,} source rows, the demo's record offer")
    cases = CASES + ((SPARK_CASE,) if os.environ.get("SPARK_REMOTE") else ())
    if not os.environ.get("SPARK_REMOTE"):
        print("  (on Spark: skipped, SPARK_REMOTE is not set)")
    results = {which: run(which, parquet) for which in cases}
    unit = results["treated-copy"]["seconds"]
    print(f"  {'case':<14}{'seconds':>9}{'÷ copy':>9}{'rows/s':>12}{'peak RSS':>10}")
    for which, result in results.items():
        print(
            f"  {which:<14}{result['seconds']:>9.2f}{result['seconds'] / unit:>8.2f}×"
            f"{args.rows / result['seconds']:>12,.0f}{result['peak_rss_mib']:>9,.0f}M"
        )
    same = all(
        results[which]["report"] == results["report"]["report"] for which in results if which != CASES[0]
    )
    print(f"  every form gives the same report: {'yes' if same else 'NO'}")
    if not same:
        for which, result in results.items():
            differs = {k: v for k, v in result["report"].items() if results["report"]["report"].get(k) != v}
            if which not in (CASES[0], "report") and differs:
                print(
                    f"  {which} differs from report in {differs}; report: "
                    f"{ {k: results['report']['report'][k] for k in differs} }"
                )
        raise SystemExit(1)


if __name__ == "__main__":
    main()

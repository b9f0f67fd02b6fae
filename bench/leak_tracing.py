"""Leak tracing by rows (issue 14, item 7): how often it names the right license, and how often
it names a license that did not leak the file (the false-match rate), measured in one run.

Generates the demo's card payments, and delivers the demo record offer to six licenses through
the real extract engine, in two variants: the demo's default treatments (week, rounded and
top-coded amounts, k = 5 local suppression, trajectory suppression, weekly pseudonyms, a 50%
per-license sample) and the sample alone (rows as distinctive as the data). Each trial posts a
file with the pseudonym column dropped: some rows of one license's file (an insider leak), or of
a file made under a key no candidate holds (an outsider: any license named is a false match).
Prints, per variant and leak size, the share of insider leaks identified (to the right license)
and the share of outsider leaks pinned on a license.

Usage: python bench/leak_tracing.py [--rows 50000] [--trials 5] [--sizes 10,100,0] (0 = whole file)
                                    [--variants demo,sample]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

TYPES = {"TIMESTAMP": "datetime", "BIGINT": "integer", "DOUBLE": "number", "DATE": "date"}
LICENSES = 6


def _setup() -> None:
    import os

    # The engine reads no database; Django is set up only for settings and gettext.
    os.environ.update(DEBUG="1", DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL="WARNING")
    os.environ.setdefault("JANGTEO_VAR_DIR", tempfile.mkdtemp(prefix="leak-bench-var-"))
    django.setup()


def _source(work: Path, rows: int):
    """Generated card payments and their schema with the demo's sensitivities."""
    from catalog import privacy
    from demo import generator, specs

    source = work / "cards.parquet"
    generator.generate_card_transactions(source, rows=rows, seed=42)
    sensitivities = specs.CARD_PAYMENTS["sensitivities"]
    described = duckdb.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()
    schema = [
        privacy.Column(n, TYPES.get(t, "string"), sensitivities.get(n, "public")) for n, t, *_ in described
    ]
    return source, schema


def _variants(chosen: str) -> dict:
    from catalog.policy import OfferPolicy
    from demo import specs

    spec = specs.CARD_PAYMENTS["offers"]["records"]
    variants = {
        "demo": ("demo treatments", OfferPolicy.from_values(spec)),
        "sample": ("sample only", OfferPolicy.from_values({**spec, "treatments": {"sample_percent": 50}})),
    }
    return dict(variants[v] for v in chosen.split(","))


def _poster(work: Path, source: Path, schema, identifiers, rnd: random.Random):
    """posted(policy, key, rows, tag): the file a license of `key` got, cut to `rows` random rows
    (all when 0) without its pseudonyms, as CSV: what a leaker would post."""
    from transactions.extracts import build_recipe, run_extract

    def posted(policy, key, rows, tag):
        recipe = build_recipe(
            parquet=str(source),
            source_sha256="x",
            schema=schema,
            policy=policy,
            scope={},
            key=key,
            format="parquet",
        )
        full = work / f"{tag}.parquet"
        run_extract(recipe, out_path=full, work_dir=work / "run", key=key)
        keep = ", ".join(f'"{c}"' for c in recipe.columns if c not in identifiers)
        out = work / f"{tag}.csv"
        sample = f" USING SAMPLE {rows} ROWS (reservoir, {rnd.randrange(10**6)})" if rows else ""
        duckdb.execute(f"COPY (SELECT {keep} FROM read_parquet('{full}'){sample}) TO '{out}' (HEADER)")
        return out

    return posted


def main() -> None:
    _setup()
    from catalog import privacy
    from transactions.extracts import RowCandidate, trace_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,0")
    parser.add_argument(
        "--variants", default="demo,sample", help="demo (default treatments), sample (sample alone)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="leak-bench-"))
    source, schema = _source(work, args.rows)
    identifiers = frozenset(c.name for c in schema if c.sensitivity == "identifier")
    rnd = random.Random(7)
    posted = _poster(work, source, schema, identifiers, rnd)
    print(f"{args.rows:,} generated payments, {LICENSES} licenses, {args.trials} trials per cell")
    print(f"{'variant':<16} {'leak rows':>9} {'identified':>11} {'false match':>12} {'s/trace':>8}")
    for name, policy in _variants(args.variants).items():

        def deliver(key, policy=policy):
            return privacy.plan(parquet=str(source), schema=schema, policy=policy, scope={}, key=key)

        keys = [f"bench license {i}".encode() for i in range(LICENSES)]
        candidates = [
            RowCandidate(
                id=i, deliver=deliver, key=k, identifiers=identifiers, keyed=policy.treatments.samples
            )
            for i, k in enumerate(keys)
        ]
        for size in sizes:
            hits = false = 0
            started = time.perf_counter()
            for trial in range(args.trials):
                who = rnd.randrange(LICENSES)
                leaked = posted(policy, keys[who], size, f"in-{trial}")
                ranked = trace_rows(leaked_file=leaked, candidates=candidates)
                hits += ranked[0]["identified"] and ranked[0]["id"] == who
                leaked = posted(policy, f"outsider {trial} {size}".encode(), size, f"out-{trial}")
                ranked = trace_rows(leaked_file=leaked, candidates=candidates)
                false += any(r["identified"] for r in ranked)
            per = (time.perf_counter() - started) / (2 * args.trials)
            label = str(size) if size else "whole file"
            print(
                f"{name:<16} {label:>9} {hits / args.trials:>10.0%} {false / args.trials:>11.0%} {per:>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Aggregate privacy (issue 13): what the protection costs and what it leaves, in one run.

Generates card payments shaped like the demo economy (31 시·군, 10 industries, 7 age bands, 12
months; cards living in one 시·군 with heavy-tailed activity; merchants per 시·군 and industry) and
releases the demo's monthly offer (시·군 × 업종 × 연령대 × month, k = 5 cards, p = 10%, c = 0.85
over merchants and cards) two ways:

  old plan   the previous engine: one GROUP BY, k distinct cards, the largest merchant's share
  protected  catalog.privacy.protected_cells: k, p% and (2, c) over merchants and cards,
             secondary suppression, cell-key noise

and prints the time of each and their ratio, the cells published and suppressed (primary and
secondary), and the utility of the protected release: mean relative error of published sums
and counts against the truth on cells with at least 100 cards (target < 1%), and on all
published cells. Usage: python bench/privacy.py [--rows 2000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog import privacy
from catalog.policy import Column, OfferPolicy

SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("merchant_id", "string", "identifier"),
    Column("sigungu_code", "string", "public"),
    Column("industry", "string", "public"),
    Column("age_band", "string", "quasi_identifier"),
    Column("approved_at", "datetime", "public"),
    Column("amount", "integer", "public"),
]
POLICY = OfferPolicy.from_values(
    {
        "kind": "aggregate",
        "dimensions": ["sigungu_code", "industry", "age_band", "approved_at"],
        "measures": [{"field": "amount", "agg": "sum"}],
        "subject_field": "card_id",
        "dominance_field": "merchant_id",
        "region_field": "sigungu_code",
        "date_field": "approved_at",
        "k": 5,
        "p_percent": 10,
        "dominance": "0.85",
        "date_granularity": "month",
    }
)
DIMS = "sigungu_code, industry, age_band, approved_at"


def generate(path: Path, rows: int) -> None:
    cards = max(1000, rows // 40)
    duckdb.execute(
        f"""COPY (
        WITH t AS (SELECT i, CAST(hash(i) % 2147483647 AS BIGINT) AS h FROM range({rows}) r(i)),
        c AS (SELECT i, h, CAST(pow((h % 100000) / 100000.0, 2.5) * {cards} AS BIGINT) AS card FROM t)
        SELECT 'C' || card::VARCHAR AS card_id,
               'M' || (hash(card, 1) % 1000)::VARCHAR || '-'
                   || ((h // 7) % 10)::VARCHAR || '-' || ((h // 70) % 25)::VARCHAR AS merchant_id,
               (41110 + CAST(pow((hash(card, 1) % 1000) / 1000.0, 2) * 31 AS BIGINT) * 10)::VARCHAR AS sigungu_code,
               'I' || CAST(pow(((h // 7) % 1000) / 1000.0, 2) * 10 AS BIGINT)::VARCHAR AS industry,
               (['10대', '20대', '30대', '40대', '50대', '60대', '70대+'])[1 + CAST(hash(card, 2) % 7 AS BIGINT)]
                   AS age_band,
               TIMESTAMP '2024-01-01' + INTERVAL ((h // 1000) % 366) DAY AS approved_at,
               (1000 + (h // 13) % 200 * 250 + CASE WHEN h % 97 = 0 THEN 500000 ELSE 0 END)::BIGINT AS amount
        FROM c) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"""
    )


def old_plan(con, src: str) -> None:
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE old AS
        WITH base AS (SELECT sigungu_code, industry, age_band,
                             CAST(date_trunc('month', approved_at) AS DATE) AS approved_at,
                             card_id, merchant_id, amount FROM read_parquet('{src}')),
        cells AS (SELECT {DIMS}, count(*) AS records, sum(amount) AS sum_amount,
                         count(DISTINCT card_id) AS subjects FROM base GROUP BY ALL),
        shares AS (SELECT {DIMS}, max(abs(t)) / sum(abs(t)) AS top FROM
                   (SELECT {DIMS}, merchant_id, sum(amount) AS t FROM base GROUP BY ALL) GROUP BY ALL)
        SELECT {DIMS}, records, sum_amount FROM cells JOIN shares USING ({DIMS})
        WHERE subjects >= 5 AND top <= 0.85"""
    )


def protect(con, src: Path, seed: str) -> tuple[float, str, int]:
    """Build the protected table under `seed`: the seconds it took, its name, and how many cells
    primary suppression (k, p%, dominance) withheld, counted before secondary suppression."""
    released = privacy.released_table(parquet=str(src), schema=SCHEMA, policy=POLICY, noise_seed=seed)
    secondary = next(i for i, step in enumerate(released.setup) if step.get("repeat"))
    started = time.perf_counter()
    privacy.run_setup(con, released.setup[:secondary])
    primary = con.execute(f'SELECT count(*) FILTER (WHERE __sup) FROM "{released.table}__cells"').fetchone()[
        0
    ]
    privacy.run_setup(con, released.setup[secondary:])
    return time.perf_counter() - started, released.table, primary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "cards.parquet"
        started = time.perf_counter()
        generate(src, args.rows)
        print(f"generated {args.rows:,} payments in {time.perf_counter() - started:.1f} s")
        con = duckdb.connect()
        con.execute(f"SET temp_directory = '{tmp}/spill'")

        started = time.perf_counter()
        old_plan(con, str(src))
        old_s = time.perf_counter() - started
        keyed_s, _table, _primary = protect(con, src, privacy.KEYED_NOISE + "bench")
        new_s, table, primary = protect(con, src, "bench")

        (cells, suppressed) = con.execute(
            f'SELECT count(*), count(*) FILTER (WHERE suppressed) FROM "{table}"'
        ).fetchone()
        (old_published,) = con.execute("SELECT count(*) FROM old").fetchone()
        truth = f"""SELECT sigungu_code, industry, age_band, CAST(date_trunc('month', approved_at) AS DATE) AS approved_at,
                           count(*) AS records, sum(amount) AS total, count(DISTINCT card_id) AS cards
                    FROM read_parquet('{src}') GROUP BY ALL"""
        utility = con.execute(
            f"""WITH truth AS ({truth})
            SELECT avg(abs(r.sum_amount - t.total) / t.total) FILTER (WHERE t.cards >= 100),
                   avg(abs(r.records - t.records) / t.records) FILTER (WHERE t.cards >= 100),
                   count(*) FILTER (WHERE t.cards >= 100),
                   avg(abs(r.sum_amount - t.total) / t.total),
                   count(*) FILTER (WHERE t.cards >= 100 AND r.suppressed)
            FROM "{table}" r JOIN truth t USING ({DIMS})
            WHERE NOT r.suppressed OR t.cards >= 100"""
        ).fetchone()
        sum_err, count_err, big, all_err, big_suppressed = utility
        print(f"old plan: {old_s:.2f} s, {old_published:,} of {cells:,} cells published")
        print(
            f"protected: {new_s:.2f} s ({new_s / old_s:.2f}x the old plan), {cells - suppressed:,} published, "
            f"{primary:,} suppressed by k/p%/dominance, {suppressed - primary:,} by secondary suppression"
        )
        print(
            f"protected with a keyed seed (HMAC record keys, as new datasets have): {keyed_s:.2f} s"
            f" ({keyed_s / new_s:.2f}x DuckDB's hash() record keys)"
        )
        verdict = "met" if sum_err is not None and sum_err < 0.01 else "NOT MET"
        print(
            f"utility on {big:,} cells with >= 100 cards: mean relative error of sums {100 * (sum_err or 0):.3f}%, "
            f"of counts {100 * (count_err or 0):.3f}% (target < 1%: {verdict}); {big_suppressed:,} of them suppressed"
        )
        print(f"mean relative error of sums over every published cell: {100 * (all_err or 0):.3f}%")


if __name__ == "__main__":
    main()

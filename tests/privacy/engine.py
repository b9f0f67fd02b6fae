"""Helpers for the privacy attack suites: small card-transaction Parquet files and a runner that
executes a plan (setup statements included) the way the extract engine does."""

from __future__ import annotations

from datetime import date

import duckdb

from catalog import privacy
from catalog.policy import Column, OfferPolicy

SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("merchant_id", "string", "identifier"),
    Column("name", "string", "excluded"),
    Column("age_band", "string", "quasi_identifier"),
    Column("region", "string", "public"),
    Column("dong", "string", "public"),
    Column("day", "date", "public"),
    Column("amount", "integer", "public"),
    Column("rate", "number", "public"),
]
COLUMNS = [c.name for c in SCHEMA]

AGG_VALUES = {
    "kind": "aggregate",
    "dimensions": ["region", "day"],
    "measures": [{"field": "amount", "agg": "sum"}],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "region_field": "region",
    "date_field": "day",
    "k": 3,
    "p_percent": 10,
    "dominance": "0.85",
    "date_granularity": "month",
}


def policy(**changes) -> OfferPolicy:
    return OfferPolicy.from_values({**AGG_VALUES, **changes})


def row(card, merchant, amount, *, region="41110", day=date(2024, 1, 5), age="20대", dong="D1", rate=0.5):
    return (card, merchant, "홍길동", age, region, dong, day, amount, rate)


def write_parquet(path, rows) -> str:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (card_id VARCHAR, merchant_id VARCHAR, name VARCHAR, age_band VARCHAR,"
        " region VARCHAR, dong VARCHAR, day DATE, amount BIGINT, rate DOUBLE)"
    )
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return str(path)


def run(plan: privacy.Plan, con=None) -> list[tuple]:
    own = con is None
    con = con or duckdb.connect()
    try:
        privacy.run_setup(con, plan.setup)
        return con.execute(plan.sql, plan.params).fetchall()
    finally:
        if own:
            con.close()


def release(parquet, pol: OfferPolicy, scope=None, seed="seed") -> list[tuple]:
    return run(
        privacy.plan(parquet=parquet, schema=SCHEMA, policy=pol, scope=scope or {}, key=b"", noise_seed=seed)
    )


def all_cells(parquet, pol: OfferPolicy, seed="seed") -> list[dict]:
    """Every cell of the protected table, suppressed ones included, as dicts."""
    con = duckdb.connect()
    try:
        released = privacy.protected_cells(con, parquet=parquet, schema=SCHEMA, policy=pol, noise_seed=seed)
        cur = con.execute(f'SELECT * FROM "{released.table}"')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()

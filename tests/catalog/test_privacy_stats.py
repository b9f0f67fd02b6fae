"""An aggregate's per-cell statistics (catalog.privacy.stats_select) count each cell's distinct
subjects and contributors and XOR its distinct record keys exactly as DISTINCT aggregates over
the records do, including records without a subject or a contributor, subjects in several
cells and several records of one subject in a cell."""

from __future__ import annotations

import random

import duckdb
import pytest

from catalog import privacy
from catalog.policy import OfferPolicy

SCHEMA = [
    privacy.Column("card", "string", "identifier"),
    privacy.Column("merchant", "string", "identifier"),
    privacy.Column("area", "string", "public"),
    privacy.Column("month", "date", "public"),
    privacy.Column("amount", "integer", "public"),
]


def _records(path, rows: int = 3000) -> str:
    rng = random.Random(16)
    values = []
    for _ in range(rows):
        card = "NULL" if rng.random() < 0.1 else f"'C{rng.randrange(400)}'"
        merchant = "NULL" if rng.random() < 0.1 else f"'M{rng.randrange(30)}'"
        area = rng.choice(["수원시", "성남시", "부천시"])
        values.append(
            f"({card}, {merchant}, '{area}', DATE '2024-0{rng.randrange(1, 4)}-15', {rng.randrange(1, 90000)})"
        )
    duckdb.execute(
        f"COPY (SELECT * FROM (VALUES {', '.join(values)}) t(card, merchant, area, month, amount)) TO '{path}'"
    )
    return str(path)


def _policy(dominance: bool, contributor: bool) -> OfferPolicy:
    return OfferPolicy.from_values(
        {
            "kind": "aggregate",
            "dimensions": ["area", "month"],
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card",
            "dominance_field": "merchant" if contributor else "",
            "dominance": "0.85" if dominance else None,
            "k": 3,
            "date_field": "month",
            "date_granularity": "month",
        }
    )


@pytest.mark.parametrize("seed", ["", privacy.KEYED_NOISE + "e" * 58])
@pytest.mark.parametrize(("dominance", "contributor"), [(True, True), (True, False), (False, False)])
def test_cell_counts_and_keys_equal_distinct_aggregates_over_the_records(
    tmp_path, seed, dominance, contributor
):
    parquet = _records(tmp_path / "cards.parquet")
    shape = privacy._aggregate_shape({c.name: c for c in SCHEMA}, _policy(dominance, contributor))
    d = privacy.Dialect()
    (base,), params = d.positional([privacy.base_select(parquet, shape, seed, d)])
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE records AS {base}", params)
    assert con.execute("SELECT count(*) FILTER (WHERE __s IS NULL) FROM records").fetchone()[0] > 100

    stats = privacy.stats_select(shape, "records", d, keyed=seed.startswith(privacy.KEYED_NOISE))
    got = con.execute(
        f"SELECT __d0, __d1, __records, __subjects, __contributors, CAST(__ck AS UBIGINT) FROM ({stats}) ORDER BY ALL"
    ).fetchall()
    expected = con.execute(
        "SELECT __d0, __d1, count(*), count(DISTINCT __s), count(DISTINCT __c), bit_xor(DISTINCT __rk)"
        " FROM records GROUP BY __d0, __d1 ORDER BY ALL"
    ).fetchall()
    assert len(got) == 9
    assert got == expected

"""No released cell breaks the privacy rules: on the synthetic economy (demo.generator),
every cell the engine shows has at least k distinct cards and passes the p% and (2, c)
dominance rules over merchants and over cards, counted again here independently of the engine;
its noisy figures stay within the noise's bounds; every suppressed cell carries no figure; no
line of the table holds a single suppressed cell (secondary suppression); and every cell of the
full table is listed."""

from pathlib import Path

import duckdb
import pytest

from catalog import privacy
from demo import generator as demo_data
from insights import engine

SENSITIVITY = {
    "transaction_id": "identifier",
    "card_id": "identifier",
    "merchant_id": "identifier",
    "age_band": "quasi_identifier",
    "sex": "quasi_identifier",
    "dong": "quasi_identifier",
}
TYPES = {
    "VARCHAR": "string",
    "BIGINT": "integer",
    "TIMESTAMP": "datetime",
    "DATE": "date",
    "INTEGER": "integer",
}
K, P, DOMINANCE = 5, 0.10, 0.85
# derived dimensions as plain SQL, written independently of insights.engine
EXPRESSIONS = {
    "sigungu_code": "sigungu_code",
    "industry": "industry",
    "age_band": "age_band",
    "sex": "sex",
    "month": "strftime(approved_at, '%Y-%m')",
    "weekday": "isodow(approved_at)",
    "hour": "hour(approved_at)",
}
TABLES = [
    [("sigungu_code", ""), ("industry", "")],
    [("sigungu_code", ""), ("industry", ""), ("month", "month")],
    [("sigungu_code", ""), ("industry", ""), ("hour", "hour")],
    [("sigungu_code", ""), ("age_band", ""), ("sex", "")],
    [("weekday", "weekday"), ("hour", "hour")],
]


@pytest.fixture(scope="module")
def economy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("economy") / "cards.parquet"
    demo_data.generate_card_transactions(path, rows=40_000, seed=11)
    return path


def _schema(path: Path) -> list[privacy.Column]:
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    return [privacy.Column(n, TYPES.get(t, "string"), SENSITIVITY.get(n, "public")) for n, t, *_ in described]


@pytest.mark.parametrize("table", TABLES, ids=["+".join(n for n, _t in t) for t in TABLES])
def test_no_released_cell_breaks_k_or_dominance(economy, table):
    dims = [
        {"name": name, "field": "approved_at" if transform else name, "transform": transform}
        for name, transform in table
    ]
    result = engine.release_cells(
        parquet=str(economy),
        schema=_schema(economy),
        definition={
            "dimensions": dims,
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card_id",
            "dominance_field": "merchant_id",
            "k": K,
            "p_percent": round(P * 100),
            "dominance": DOMINANCE,
        },
        noise_seed="test-seed",
    )
    names = [n for n, _t in table]
    keys = ", ".join(f"{EXPRESSIONS[n]} AS {n}" for n in names)
    group = ", ".join(names)

    def top_two(key: str) -> str:
        return (
            f"(SELECT {group}, max(net, 2) AS top, sum(net) AS total FROM (SELECT {group}, {key},"
            f" abs(sum(amount)) AS net FROM base GROUP BY ALL) GROUP BY ALL)"
        )

    truth = {
        tuple(row[: len(names)]): row[len(names) :]
        for row in duckdb.sql(
            f"""WITH base AS (SELECT {keys}, card_id, merchant_id, amount FROM read_parquet('{economy}'))
            SELECT c.*, m.top, m.total, s.top, s.total FROM
                (SELECT {group}, count(DISTINCT card_id), count(*), sum(amount) FROM base GROUP BY ALL) c
                JOIN {top_two("merchant_id")} m USING ({group})
                JOIN {top_two("card_id")} s USING ({group})"""
        ).fetchall()
    }
    assert {tuple(c.dims[n] for n in names) for c in result.cells} == set(truth)
    shown = [c for c in result.cells if not c.suppressed]
    assert shown and any(c.suppressed for c in result.cells)
    for cell in result.cells:
        cards, records, amount, m_top, m_total, s_top, s_total = truth[tuple(cell.dims[n] for n in names)]
        if cell.suppressed:
            assert cell.values is None and not cell.noisy
            continue
        assert cards >= K, cell
        for top, total in ((m_top, m_total), (s_top, s_total)):
            x1, x2 = top[0], (top[1] if len(top) > 1 else 0)
            assert total - x1 - x2 >= P * x1, cell  # p% rule
            assert x1 + x2 <= DOMINANCE * total, cell  # (2, c) dominance
        assert cell.noisy
        assert abs(cell.values["records"] - records) <= 2
        assert abs(cell.values["sum_amount"] - amount) <= 0.2 * s_top[0] + 1

    # secondary suppression: no line (all dimensions fixed but one) of two or more cells has a
    # single suppressed cell. (A line of ONE cell, e.g. a 시·군 × age band where only women paid,
    # cannot be protected inside that line; reported to the engine's owner.)
    for i in range(len(names)):
        lines = {}
        for cell in result.cells:
            key = tuple(cell.dims[n] for j, n in enumerate(names) if j != i)
            lines.setdefault(key, []).append(cell.suppressed)
        assert all(sum(flags) != 1 for flags in lines.values() if len(flags) > 1), names[i]

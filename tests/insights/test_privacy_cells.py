"""No released cell breaks the privacy rules: on the synthetic economy (marketplace.demo_data),
every cell the engine shows has at least k distinct cards and no merchant above the dominance
share of its amount, counted again here independently of the engine; every suppressed cell
carries no figure; and every cell of the full table is listed."""

from pathlib import Path

import duckdb
import pytest

from catalog import privacy
from insights import engine
from marketplace import demo_data

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
K, DOMINANCE = 5, 0.85
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
            "dominance": DOMINANCE,
        },
    )
    names = [n for n, _t in table]
    keys = ", ".join(f"{EXPRESSIONS[n]} AS {n}" for n in names)
    group = ", ".join(names)
    truth = {
        tuple(row[: len(names)]): row[len(names) :]
        for row in duckdb.sql(
            f"""WITH base AS (SELECT {keys}, card_id, merchant_id, amount FROM read_parquet('{economy}')),
                per_merchant AS (SELECT {group}, merchant_id, sum(amount) AS total FROM base GROUP BY ALL)
            SELECT c.*, m.top / nullif(m.total, 0) FROM
                (SELECT {group}, count(DISTINCT card_id), count(*), sum(amount) FROM base GROUP BY ALL) c
                JOIN (SELECT {group}, max(abs(total)) AS top, sum(abs(total)) AS total FROM per_merchant GROUP BY ALL) m
                USING ({group})"""
        ).fetchall()
    }
    assert {tuple(c.dims[n] for n in names) for c in result.cells} == set(truth)
    shown = [c for c in result.cells if not c.suppressed]
    assert shown and any(c.suppressed for c in result.cells)
    for cell in result.cells:
        cards, records, amount, top_share = truth[tuple(cell.dims[n] for n in names)]
        if cell.suppressed:
            assert cell.values is None
            assert cards < K or top_share > DOMINANCE
            continue
        assert cards >= K, cell
        assert top_share <= DOMINANCE, cell
        assert cell.values == {"records": records, "sum_amount": amount}

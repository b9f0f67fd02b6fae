"""catalog.privacy: the one SELECT a preview or an extract runs, checked against hand-computed
results on small Parquet files. Pure (no database)."""

import hashlib
import hmac
from datetime import date

import duckdb
import pytest

from catalog import privacy
from catalog.privacy import Column, PlanError

KEY = b"license-key-0001-0001-0001-0001!"

SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("merchant_id", "string", "identifier"),
    Column("name", "string", "excluded"),
    Column("age_band", "string", "quasi_identifier"),
    Column("region", "string", "public"),
    Column("day", "date", "public"),
    Column("amount", "integer", "public"),
    Column("rate", "number", "public"),
    Column("secret_note", "string", "unknown-sensitivity"),
]


def write_parquet(path, rows):
    """rows: (card_id, merchant_id, name, age_band, region, day, amount, rate, secret_note)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (card_id VARCHAR, merchant_id VARCHAR, name VARCHAR, age_band VARCHAR,"
        " region VARCHAR, day DATE, amount BIGINT, rate DOUBLE, secret_note VARCHAR)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return str(path)


def run(p: privacy.Plan):
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    try:
        return con.execute(p.sql, p.params).fetchall()
    finally:
        con.close()


@pytest.fixture
def small(tmp_path):
    rows = [
        ("C1", "M1", "홍길동", "20대", "41110", date(2024, 1, 31), 100, 0.1, "s"),
        ("C2", "M1", "김철수", "30대", "41110", date(2024, 2, 1), 200, 0.2, "s"),
        ("C3", "M2", "이영희", "40대", "41130", date(2024, 2, 29), 300, 0.3, "s"),
        ("C4", "M2", "박민수", "50대", "41130", date(2024, 3, 1), 400, 0.4, "s"),
    ]
    return write_parquet(tmp_path / "small.parquet", rows)


RECORDS = {
    "kind": "records",
    "fields": ["card_id", "name", "age_band", "region", "day", "amount", "secret_note"],
    "region_field": "region",
    "date_field": "day",
}


# -- HMAC ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"k", KEY, b"x" * 64, b"y" * 65, bytes(range(200))])
@pytest.mark.parametrize("value", ["C1", "카드-0001", "", 12345])
def test_hmac_in_sql_is_rfc_2104_hmac_sha256(key, value):
    inner, outer = privacy.hmac_pads(key)
    con = duckdb.connect()
    (got,) = con.execute(f"SELECT {privacy.hmac_sql('?')}", [outer, inner, value]).fetchone()
    assert got == hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
    assert got == privacy.pseudonym(key, value)
    (null,) = con.execute(f"SELECT {privacy.hmac_sql('CAST(NULL AS VARCHAR)')}", [outer, inner]).fetchone()
    assert null is None


# -- records -------------------------------------------------------------------------------


def test_records_projection_is_scope_within_offer_and_sensitivity(small):
    p = privacy.plan(
        parquet=small,
        schema=SCHEMA,
        offer=RECORDS,
        scope={"fields": ["amount", "card_id", "merchant_id", "name", "age_band", "secret_note", "nope"]},
        key=KEY,
    )
    # merchant_id is not offered; name excluded; age_band withheld (offer does not allow quasi);
    # secret_note has an unknown sensitivity (fail closed); "nope" is not in the schema.
    assert p.columns == ["amount", "card_id"]
    assert p.types == ["integer", "string"]
    for never in ("name", "secret_note", "merchant_id", "age_band"):
        assert f'"{never}"' not in p.sql
    rows = run(p)
    assert rows == [
        (a, privacy.pseudonym(KEY, c)) for c, a in (("C1", 100), ("C2", 200), ("C3", 300), ("C4", 400))
    ]


def test_quasi_identifiers_only_where_the_offer_allows(small):
    allowed = privacy.plan(
        parquet=small,
        schema=SCHEMA,
        offer={**RECORDS, "quasi_identifiers_allowed": True},
        scope={"fields": ["age_band"]},
        key=KEY,
    )
    assert allowed.columns == ["age_band"] and allowed.text_columns == ["age_band"]
    with pytest.raises(PlanError):
        privacy.plan(parquet=small, schema=SCHEMA, offer=RECORDS, scope={"fields": ["age_band"]}, key=KEY)


def test_filters_are_bound_and_dates_inclusive(small):
    scope = {
        "fields": ["card_id", "day"],
        "regions": ["41130"],
        "date_from": "2024-02-29",
        "date_to": "2024-03-01",
    }
    p = privacy.plan(parquet=small, schema=SCHEMA, offer=RECORDS, scope=scope, key=KEY)
    assert "41130" not in p.sql and "2024" not in p.sql
    assert [r[1] for r in run(p)] == [date(2024, 2, 29), date(2024, 3, 1)]
    one_day = {"fields": ["day"], "date_from": "2024-02-01", "date_to": "2024-02-01"}
    assert run(privacy.plan(parquet=small, schema=SCHEMA, offer=RECORDS, scope=one_day, key=KEY)) == [
        (date(2024, 2, 1),)
    ]


def test_hostile_scope_values_are_just_values(small):
    scope = {"fields": ["region"], "regions": ["'); DROP TABLE x; --", '" OR 1=1 --']}
    p = privacy.plan(parquet=small, schema=SCHEMA, offer=RECORDS, scope=scope, key=KEY)
    assert "DROP" not in p.sql
    assert run(p) == []
    with pytest.raises(PlanError, match="date_from"):
        privacy.plan(
            parquet=small, schema=SCHEMA, offer=RECORDS, scope={"date_from": "2024-01-01'; --"}, key=KEY
        )
    hostile_name = Column('a"; DROP TABLE t; --', "string", "public")
    p = privacy.plan(
        parquet=small,
        schema=[*SCHEMA, hostile_name],
        offer={**RECORDS, "fields": [hostile_name.name]},
        scope={},
        key=KEY,
    )
    assert p.sql.startswith('SELECT "a""; DROP TABLE t; --" FROM')


def test_filters_never_read_excluded_or_identifier_columns(small):
    for field in ("name", "card_id"):
        with pytest.raises(PlanError):
            privacy.plan(
                parquet=small,
                schema=SCHEMA,
                offer={**RECORDS, "region_field": field},
                scope={"regions": ["x"]},
                key=KEY,
            )


def test_preview_limit(small):
    p = privacy.plan(parquet=small, schema=SCHEMA, offer=RECORDS, scope={}, key=KEY, limit=2)
    assert p.sql.endswith("LIMIT 2") and len(run(p)) == 2


# -- aggregates ----------------------------------------------------------------------------

AGG = {
    "kind": "aggregate",
    "dimensions": ["region", "day"],
    "measures": [{"field": "amount", "agg": "sum"}, {"field": "rate", "agg": "avg"}],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "region_field": "region",
    "date_field": "day",
    "k": 2,
    "dominance": 0.85,
    "date_granularity": "month",
}


def cell(region, month, contributions):
    """Rows of one cell: contributions = [(card, merchant, amount)]."""
    return [(c, m, "n", "20대", region, month, a, 0.5, "s") for c, m, a in contributions]


def test_null_dimension_cells_survive_dominance_and_are_ordered_last(tmp_path):
    rows = cell(None, date(2024, 1, 5), [("C1", "M1", 10), ("C2", "M2", 10)]) + cell(
        "41110", date(2024, 1, 6), [("C3", "M1", 10), ("C4", "M2", 10)]
    )
    src = write_parquet(tmp_path / "n.parquet", rows)
    p = privacy.plan(parquet=src, schema=SCHEMA, offer=AGG, scope={}, key=b"")
    assert p.columns == ["region", "day", "records", "sum_amount", "avg_rate"]
    assert run(p) == [("41110", date(2024, 1, 1), 2, 20, 0.5), (None, date(2024, 1, 1), 2, 20, 0.5)]


def test_dominance_uses_absolute_contributions_so_refunds_cannot_hide_a_contributor(tmp_path):
    # M1 refunds 1000; M2..M5 sell 25 each. Net total is -900: the old max(w)/sum(w) was
    # 25 / -900 < 0 and kept the cell; |-1000| / 1100 = 0.91 > 0.85 suppresses it.
    refunds = [("C1", "M1", -1000), ("C2", "M2", 25), ("C3", "M3", 25), ("C4", "M4", 25), ("C5", "M5", 25)]
    src = write_parquet(tmp_path / "r.parquet", cell("41110", date(2024, 1, 5), refunds))
    assert run(privacy.plan(parquet=src, schema=SCHEMA, offer=AGG, scope={}, key=b"")) == []
    kept = run(privacy.plan(parquet=src, schema=SCHEMA, offer={**AGG, "dominance": 0.95}, scope={}, key=b""))
    assert kept == [("41110", date(2024, 1, 1), 5, -900, 0.5)]


def test_dominance_sums_each_contributor_across_its_rows(tmp_path):
    # M1 has four small rows (4 x 30 = 120) against M2's one row of 20: 120/140 = 0.857.
    contributions = [("C1", "M1", 30), ("C2", "M1", 30), ("C3", "M1", 30), ("C4", "M1", 30), ("C5", "M2", 20)]
    src = write_parquet(tmp_path / "d.parquet", cell("41110", date(2024, 1, 5), contributions))
    assert run(privacy.plan(parquet=src, schema=SCHEMA, offer=AGG, scope={}, key=b"")) == []
    assert (
        len(
            run(privacy.plan(parquet=src, schema=SCHEMA, offer={**AGG, "dominance": 0.86}, scope={}, key=b""))
        )
        == 1
    )


def test_dominance_by_count_without_a_sum_measure(tmp_path):
    contributions = [
        ("C1", "M1", 1),
        ("C2", "M1", 1),
        ("C3", "M1", 1),
        ("C4", "M1", 1),
        ("C5", "M1", 1),
        ("C6", "M2", 1),
    ]
    src = write_parquet(tmp_path / "c.parquet", cell("41110", date(2024, 1, 5), contributions))
    offer = {**AGG, "measures": [{"field": "amount", "agg": "max"}]}  # 5/6 = 0.83 by count
    assert run(privacy.plan(parquet=src, schema=SCHEMA, offer=offer, scope={}, key=b"")) == [
        ("41110", date(2024, 1, 1), 6, 1)
    ]
    assert (
        run(privacy.plan(parquet=src, schema=SCHEMA, offer={**offer, "dominance": 0.8}, scope={}, key=b""))
        == []
    )


def test_k_counts_distinct_subjects_not_rows(tmp_path):
    rows = cell("41110", date(2024, 1, 5), [("C1", f"M{i}", 1) for i in range(6)])  # 6 rows, one card
    src = write_parquet(tmp_path / "k.parquet", rows)
    assert run(privacy.plan(parquet=src, schema=SCHEMA, offer=AGG, scope={}, key=b"")) == []
    no_subject = {**AGG, "subject_field": "", "dominance_field": ""}  # every row its own subject
    assert len(run(privacy.plan(parquet=src, schema=SCHEMA, offer=no_subject, scope={}, key=b""))) == 1


def test_granularity_no_finer_than_the_offer(small):
    with pytest.raises(PlanError, match="finer"):
        privacy.plan(parquet=small, schema=SCHEMA, offer=AGG, scope={"date_granularity": "day"}, key=b"")
    p = privacy.plan(
        parquet=small,
        schema=SCHEMA,
        offer={**AGG, "k": 2, "dominance_field": ""},
        scope={"date_granularity": "year", "fields": ["day"]},
        key=b"",
    )
    assert run(p) == [(date(2024, 1, 1), 4, 1000, pytest.approx(0.25))]


def test_aggregate_date_window_shrinks_to_whole_periods(small):
    offer = {**AGG, "k": 2, "dominance_field": "", "dimensions": ["day"]}
    # 2024-01-31..2024-03-01 holds whole February only: January and March are partial.
    p = privacy.plan(
        parquet=small,
        schema=SCHEMA,
        offer=offer,
        scope={"date_from": "2024-01-31", "date_to": "2024-03-01"},
        key=b"",
    )
    assert p.params[1:] == ["2024-02-01", "2024-03-01"]
    assert run(p) == [(date(2024, 2, 1), 2, 500, pytest.approx(0.25))]
    with pytest.raises(PlanError, match="whole month"):
        privacy.plan(
            parquet=small,
            schema=SCHEMA,
            offer=offer,
            scope={"date_from": "2024-02-02", "date_to": "2024-02-28"},
            key=b"",
        )


def test_aggregates_never_read_excluded_columns_nor_output_identifiers(small):
    offer = {**AGG, "dimensions": ["region", "card_id", "name", "age_band"]}
    p = privacy.plan(parquet=small, schema=SCHEMA, offer=offer, scope={}, key=b"")
    assert p.columns[:2] == ["region", "age_band"]  # quasi-identifiers may be dimensions
    assert '"name"' not in p.sql
    for role in ("subject_field", "dominance_field"):
        with pytest.raises(PlanError, match="sensitivity"):
            privacy.plan(parquet=small, schema=SCHEMA, offer={**AGG, role: "name"}, scope={}, key=b"")


def test_scope_fields_narrow_the_dimensions(small):
    p = privacy.plan(parquet=small, schema=SCHEMA, offer=AGG, scope={"fields": ["region", "amount"]}, key=b"")
    assert p.columns == ["region", "records", "sum_amount", "avg_rate"] and p.order_by == ["region"]
    with pytest.raises(PlanError, match="dimension"):
        privacy.plan(parquet=small, schema=SCHEMA, offer=AGG, scope={"fields": ["amount"]}, key=b"")


def test_double_sums_are_exact_so_rebuilds_match(tmp_path):
    # A float sum depends on the order threads combine partial sums: (0.1 + 0.2) + 0.3 is
    # 0.6000000000000001 but 0.1 + (0.2 + 0.3) is 0.6. Summed as decimals it is 0.6 either way.
    rows = [
        (f"C{i}", f"M{i}", "n", "20대", "41110", date(2024, 1, 5), 1, rate, "s")
        for i, rate in enumerate([0.1, 0.2, 0.3])
    ]
    src = write_parquet(tmp_path / "f.parquet", rows)
    offer = {**AGG, "measures": [{"field": "rate", "agg": "sum"}]}
    p = privacy.plan(parquet=src, schema=SCHEMA, offer=offer, scope={}, key=b"")
    assert "DECIMAL(38, 10)" in p.sql
    assert run(p)[0][3] == 0.6

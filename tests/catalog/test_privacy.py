"""catalog.privacy, record-level plans: the one SELECT a preview or an extract runs, checked
against hand-computed results on small Parquet files. Pure (no database). Aggregates are in
tests/privacy/test_aggregate_engine.py."""

import hashlib
import hmac
from datetime import date

import duckdb
import pytest

from catalog import privacy
from catalog.policy import OfferPolicy
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


RECORD_VALUES = {
    "kind": "records",
    "fields": ["card_id", "name", "age_band", "region", "day", "amount", "secret_note"],
    "region_field": "region",
    "date_field": "day",
}
RECORDS = OfferPolicy.from_values(RECORD_VALUES)


def records(**changes) -> OfferPolicy:
    return OfferPolicy.from_values({**RECORD_VALUES, **changes})


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
        policy=RECORDS,
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
        policy=records(quasi_identifiers_allowed=True),
        scope={"fields": ["age_band"]},
        key=KEY,
    )
    assert allowed.columns == ["age_band"] and allowed.text_columns == ["age_band"]
    with pytest.raises(PlanError):
        privacy.plan(parquet=small, schema=SCHEMA, policy=RECORDS, scope={"fields": ["age_band"]}, key=KEY)


def test_filters_are_bound_and_dates_inclusive(small):
    scope = {
        "fields": ["card_id", "day"],
        "regions": ["41130"],
        "date_from": "2024-02-29",
        "date_to": "2024-03-01",
    }
    p = privacy.plan(parquet=small, schema=SCHEMA, policy=RECORDS, scope=scope, key=KEY)
    assert "41130" not in p.sql and "2024" not in p.sql
    assert [r[1] for r in run(p)] == [date(2024, 2, 29), date(2024, 3, 1)]
    one_day = {"fields": ["day"], "date_from": "2024-02-01", "date_to": "2024-02-01"}
    assert run(privacy.plan(parquet=small, schema=SCHEMA, policy=RECORDS, scope=one_day, key=KEY)) == [
        (date(2024, 2, 1),)
    ]


def test_hostile_scope_values_are_just_values(small):
    scope = {"fields": ["region"], "regions": ["'); DROP TABLE x; --", '" OR 1=1 --']}
    p = privacy.plan(parquet=small, schema=SCHEMA, policy=RECORDS, scope=scope, key=KEY)
    assert "DROP" not in p.sql
    assert run(p) == []
    with pytest.raises(PlanError, match="date_from"):
        privacy.plan(
            parquet=small, schema=SCHEMA, policy=RECORDS, scope={"date_from": "2024-01-01'; --"}, key=KEY
        )
    hostile_name = Column('a"; DROP TABLE t; --', "string", "public")
    p = privacy.plan(
        parquet=small,
        schema=[*SCHEMA, hostile_name],
        policy=records(fields=[hostile_name.name]),
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
                policy=records(region_field=field),
                scope={"regions": ["x"]},
                key=KEY,
            )


def test_preview_limit(small):
    p = privacy.plan(parquet=small, schema=SCHEMA, policy=RECORDS, scope={}, key=KEY, limit=2)
    assert p.sql.endswith("LIMIT 2") and len(run(p)) == 2


def test_a_trajectory_signature_is_its_rows_as_a_multiset():
    """Trajectory suppression and the linkage measure group subjects by the multiset of their
    rows: the same rows in any order give one signature; a row more, fewer or different, another
    (the aggregate is a count and hash sums, which spill, not an ordered string_agg)."""
    rows = [
        ("a", "x"), ("a", "y"), ("a", "y"),  # a: x, y, y
        ("b", "y"), ("b", "x"), ("b", "y"),  # b: the same, in another order
        ("c", "x"), ("c", "y"),  # c: one y fewer
        ("d", "x"), ("d", "y"), ("d", "z"),  # d: z instead of the second y
        ("e", "xy"), ("e", ""), ("e", "y"),  # e: the same letters cut otherwise
    ]  # fmt: skip
    con = duckdb.connect()
    con.execute("CREATE TABLE t (s VARCHAR, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", rows)
    sig = dict(con.execute(f"SELECT s, {privacy.multiset_signature_sql('v')} FROM t GROUP BY s").fetchall())
    assert sig["a"] == sig["b"]
    assert len({sig["a"], sig["c"], sig["d"], sig["e"]}) == 4


def test_a_column_name_with_a_nul_character_is_refused_not_bound():
    """Bound values are placed by markers made of NUL characters; a column so named (a Parquet
    upload can carry one) is refused with a message, never read as a marker."""
    name = "amount\x000\x00"
    schema = [privacy.Column(name, "integer", "public")]
    policy = OfferPolicy.from_values({"kind": "records", "fields": [name]})
    with pytest.raises(privacy.PlanError, match="NUL"):
        privacy.plan(parquet="/x.parquet", schema=schema, policy=policy, scope={}, key=b"k" * 32)


def test_licenses_from_before_keep_their_sample_and_new_ones_draw_from_the_values():
    """A license approved before samples were drawn from a row's values keeps drawing from the
    row's place (its file must not turn into another sample); a snapshot taken now says
    values, and its draw reads no row position."""
    schema = [Column("card", "string", "identifier"), Column("amount", "integer", "public")]
    offer = {"kind": "records", "fields": ["card", "amount"], "treatments": {"sample_percent": 50}}
    old = OfferPolicy.from_snapshot(offer)
    new = OfferPolicy.from_snapshot({**offer, "sample_by": "values"})
    assert (old.sample_by, new.sample_by) == ("position", "values")
    assert OfferPolicy.from_snapshot(new.to_snapshot()) == new and "sample_by" not in new.model_values()
    by_place, by_values = (
        privacy.plan(parquet="/x.parquet", schema=schema, policy=p, scope={}, key=b"k" * 32).sql
        for p in (old, new)
    )
    assert "'sample' || chr(31) || CAST(file_row_number" in by_place
    assert "'sample-values'" in by_values and "file_row_number" not in by_values.split("FROM")[1]

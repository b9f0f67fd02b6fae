"""catalog.risk against the definitions it cites: pyCANON's k-anonymity (the smallest
equivalence class; pyCANON itself when importable: its exact pins conflict with ours, so it is
not a project requirement, and the same definition in pandas otherwise), sdcMicro's sample
uniques, de Montjoye's unicity and a cross-license linkage attack, on small frames."""

import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from catalog import risk

QIS = ["age_band", "sex", "region"]


def _k_anonymity_reference(df: pd.DataFrame, qis: list[str]) -> int:
    try:
        from pycanon import anonymity  # optional: pinned dependencies conflict with pandas 3
    except ImportError:
        return int(df.groupby(qis, dropna=False).size().min())
    return int(anonymity.k_anonymity(df, qis))


def _frame(seed: int, rows: int) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame(
        {
            "age_band": [rng.choice(["20대", "30대", "40대", "50대"]) for _ in range(rows)],
            "sex": [rng.choice("FM") for _ in range(rows)],
            "region": [rng.choice(["41110", "41130", "41150", "41800"]) for _ in range(rows)],
            "amount": [rng.randrange(1000, 50000, 10) for _ in range(rows)],
        }
    )


@pytest.mark.parametrize("seed,rows", [(1, 12), (2, 40), (3, 200), (4, 1000)])
def test_k_anonymity_and_sample_uniqueness_follow_pycanon_and_sdcmicro(seed, rows):
    df = _frame(seed, rows)
    con = duckdb.connect()
    con.register("frame", df)
    report = risk.assess(con, sql="SELECT * FROM frame", params=[], quasi_identifiers=QIS, k=3)
    sizes = df.groupby(QIS, dropna=False).size()
    assert report.k_anonymity == _k_anonymity_reference(df, QIS)
    assert report.classes == len(sizes)
    assert report.sample_uniqueness == pytest.approx((sizes == 1).sum() / rows)  # sdcMicro fk = 1
    assert report.below_k_share == pytest.approx(sizes[sizes < 3].sum() / rows)
    assert report.rows == rows and report.unicity == {}


def test_unicity_counts_subjects_whose_drawn_points_no_one_else_has():
    # a and b share both their points; c has one point of its own; d has three unique points.
    points = [
        ("a", "2024-01-01", "X"),
        ("a", "2024-01-02", "Y"),
        ("b", "2024-01-01", "X"),
        ("b", "2024-01-02", "Y"),
        ("c", "2024-01-01", "X"),
        ("c", "2024-01-03", "Z"),
        ("d", "2024-01-04", "W1"),
        ("d", "2024-01-05", "W2"),
        ("d", "2024-01-06", "W3"),
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (card VARCHAR, day DATE, place VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", points)
    report = risk.assess(
        con,
        sql="SELECT * FROM t",
        params=[],
        quasi_identifiers=["place"],
        subject="card",
        day="day",
        place=["place"],
    )
    assert report.subjects == 4
    # p = 2: a and b are each other's twins; c (X + Z) and d are singled out.
    assert report.unicity["2"] == pytest.approx(2 / 4) and report.evaluated["2"] == 4
    # p = 3: only d has three points, and it is unique.
    assert report.unicity["3"] == 1.0 and report.evaluated["3"] == 1
    # p = 1 depends on the draw, but d is always singled out and a, b never.
    assert 1 / 4 <= report.unicity["1"] <= 2 / 4


def test_linkage_maps_subjects_through_unique_rows_and_trajectories():
    con = duckdb.connect()
    con.execute("CREATE TABLE a (p VARCHAR, who VARCHAR, day DATE, amount INT)")
    con.execute("CREATE TABLE b (p VARCHAR, who VARCHAR, day DATE, amount INT)")
    rows = [
        ("x", "2024-01-01", 100),
        ("x", "2024-01-02", 200),
        ("y", "2024-01-01", 300),
        ("z", "2024-01-05", 50),
    ]
    rows += [("w", "2024-01-05", 50)]  # z and w are indistinguishable
    con.executemany("INSERT INTO a VALUES ('A-' || ?1, ?1, ?2, ?3)", rows)
    con.executemany("INSERT INTO b VALUES ('B-' || ?1, ?1, ?2, ?3)", rows)
    result = risk.linkage(
        con,
        first=("SELECT * FROM a", []),
        second=("SELECT * FROM b", []),
        subject="p",
        columns=["day", "amount"],
        truth="who",
    )
    assert (result["subjects"], result["linked"], result["real_linked"]) == (4, 2, 2)
    assert result["share"] == 0.5


def test_thresholds_name_what_they_exceed():
    report = risk.RiskReport(
        rows=10,
        quasi_identifiers=QIS,
        k_anonymity=2,
        sample_uniqueness=0.3,
        below_k_share=0.5,
        classes=4,
        unicity={"1": 0.0, "2": 0.5, "3": None},
    )
    codes = [code for code, _values in report.violations(risk.RiskThreshold())]
    assert codes == ["k", "uniqueness", "unicity"]
    assert risk.RiskReport.from_dict(report.to_dict()) == report
    assert risk.RiskThreshold.from_dict({"min_k": "10"}).min_k == 10


def test_the_raw_demo_record_offer_is_flagged(tmp_path: Path):
    """Finding 1 and 2, measured: the demo's record offer delivered without treatments."""
    from catalog import privacy
    from catalog.policy import OfferPolicy
    from demo import generator as demo_data

    source = tmp_path / "cards.parquet"
    demo_data.generate_card_transactions(source, rows=20_000, seed=7)
    sensitivity = {"card_id": "identifier", "merchant_id": "identifier", "transaction_id": "identifier"}
    sensitivity |= {"age_band": "quasi_identifier", "sex": "quasi_identifier", "dong": "quasi_identifier"}
    con = duckdb.connect()
    names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()]
    types = {"approved_at": "datetime", "amount": "integer"}
    schema = [privacy.Column(n, types.get(n, "string"), sensitivity.get(n, "public")) for n in names]
    fields = ["approved_at", "sigungu_code", "sigungu_name", "industry", "merchant_id", "card_id", "amount"]
    offer = OfferPolicy.from_values(
        {
            "kind": "records",
            "fields": [*fields, "age_band", "sex", "channel"],
            "quasi_identifiers_allowed": True,
        }
    )
    plans = [
        privacy.plan(parquet=str(source), schema=schema, policy=offer, scope={}, key=key)
        for key in (b"A" * 32, b"B" * 32)
    ]
    report = risk.assess(
        con,
        sql=plans[0].sql,
        params=plans[0].params,
        quasi_identifiers=["approved_at"],
        subject="card_id",
        day="approved_at",
        place=["merchant_id"],
    )
    assert report.sample_uniqueness > 0.99  # every row unique on its timestamp alone
    assert report.unicity["2"] > 0.95 and report.unicity["3"] > 0.95
    assert report.violations(risk.RiskThreshold())
    # Two licenses: per-license keys change the pseudonyms, not the records.
    columns = ["approved_at", "amount", "sigungu_code", "industry"]
    linked = risk.linkage(
        con,
        first=(plans[0].sql, plans[0].params),
        second=(plans[1].sql, plans[1].params),
        subject="card_id",
        columns=columns,
    )
    assert linked["share"] > 0.99


@pytest.mark.parametrize("treated", [False, True])
def test_the_offer_report_shares_one_copy_and_gives_the_separate_measures(tmp_path: Path, treated):
    """assess_policy materialises the first license's rows once for the report and the
    linkage; its report must be what assess and linkage give each from their own copies, on
    the demo's record offer raw (everything linkable) and treated (nothing is)."""
    from catalog import privacy
    from catalog.policy import OfferPolicy
    from demo import generator as demo_data
    from demo import specs

    source = tmp_path / "cards.parquet"
    demo_data.generate_card_transactions(source, rows=20_000, seed=3)
    sensitivity = {"card_id": "identifier", "merchant_id": "identifier", "transaction_id": "identifier"}
    sensitivity |= {"age_band": "quasi_identifier", "sex": "quasi_identifier", "dong": "quasi_identifier"}
    con = duckdb.connect()
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()
    types = {"approved_at": "datetime", "amount": "integer"}
    schema = [privacy.Column(n, types.get(n, "string"), sensitivity.get(n, "public")) for n, *_ in described]
    values = dict(specs.CARD_PAYMENTS["offers"]["records"])
    if not treated:
        values["treatments"] = {}
    policy = OfferPolicy.from_values(values).normalized()
    first, second = risk.assessment_plans(str(source), schema, policy)
    roles = risk.roles(first, schema, policy)
    alone = risk.assess(
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
    report = risk.assess_policy(con, parquet=str(source), schema=schema, policy=policy)
    assert report == risk.RiskReport(**{**alone.to_dict(), "linkage": linked["share"]})
    assert (report.linkage > 0.5) is (not treated)  # the two cases differ where it matters
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)


def test_the_offer_report_tells_its_progress_and_stops_when_asked(tmp_path: Path):
    from catalog import privacy
    from catalog.policy import OfferPolicy
    from demo import generator as demo_data
    from demo import specs
    from marketplace.duckdb import connect, report_progress

    source = tmp_path / "cards.parquet"
    demo_data.generate_card_transactions(source, rows=20_000, seed=5)
    con = connect()
    report_progress(con)
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()
    sensitivity = {"card_id": "identifier", "merchant_id": "identifier", "transaction_id": "identifier"}
    types = {"approved_at": "datetime", "amount": "integer"}
    schema = [privacy.Column(n, types.get(n, "string"), sensitivity.get(n, "public")) for n, *_ in described]
    policy = OfferPolicy.from_values(specs.CARD_PAYMENTS["offers"]["records"]).normalized()
    seen: list[float] = []
    report = risk.assess_policy(con, parquet=str(source), schema=schema, policy=policy, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0.45 in seen and 0.95 in seen
    assert report == risk.assess_policy(con, parquet=str(source), schema=schema, policy=policy)

    class Stop(Exception):
        pass

    def stop_at_half(fraction):
        if fraction >= 0.5:
            raise Stop

    with pytest.raises(Stop):
        risk.assess_policy(con, parquet=str(source), schema=schema, policy=policy, progress=stop_at_half)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)

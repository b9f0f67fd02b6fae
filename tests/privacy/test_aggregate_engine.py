"""The aggregate privacy engine (catalog.privacy) on hand-built cells: k on distinct subjects, the
p% and (2, c) dominance rules over contributors and subjects, refunds, min/max, secondary
suppression, cell-key noise and the scope lattice. Pure: DuckDB over small Parquet files."""

from datetime import date

import pytest

from catalog import privacy
from catalog.policy import OfferPolicy
from catalog.privacy import PlanError
from tests.privacy.engine import SCHEMA, all_cells, policy, release, row, write_parquet


def cards(n, merchant_amounts, **kw):
    """n distinct cards spread over merchants: merchant_amounts = [(merchant, amount per row)]."""
    rows = []
    for i in range(n):
        merchant, amount = merchant_amounts[i % len(merchant_amounts)]
        rows.append(row(f"C{i}-{kw.get('region', '')}{kw.get('day', '')}", merchant, amount, **kw))
    return rows


def published(cells):
    return [c for c in cells if not c["suppressed"]]


def test_k_counts_distinct_subjects_not_rows(tmp_path):
    one_card = [row("C1", f"M{i}", 10) for i in range(10)]  # 10 rows, 10 merchants, one card
    src = write_parquet(tmp_path / "k.parquet", one_card)
    assert release(src, policy()) == []
    assert all_cells(src, policy())[0]["suppressed"] is True


def test_an_aggregate_over_identifiers_must_name_its_subject(tmp_path):
    src = write_parquet(tmp_path / "s.parquet", [row(f"C{i}", f"M{i}", 10) for i in range(10)])
    with pytest.raises(PlanError, match="subject"):
        release(src, policy(subject_field="", dominance_field=""))
    errors = policy(subject_field="").errors({c.name: c for c in SCHEMA})
    assert "subject_field" in errors


@pytest.mark.parametrize(
    ("amounts", "kept"),
    [
        ([100, 40, 30, 30], True),  # others 60 >= 10% of 100; top two 70% <= 85%
        ([100, 50, 5], False),  # others 5 < 10% of 100: the second could estimate the first
        ([50, 50], False),  # two merchants 50/50: each would learn the other's total
        ([100, 60, 15, 10], False),  # top two 160/185 = 86% > 85%
        ([200], False),  # one merchant
    ],
)
def test_p_percent_and_dominance_over_contributors(tmp_path, amounts, kept):
    rows = [row(f"C{m}-{i}", f"M{m}", a // 5) for m, a in enumerate(amounts) for i in range(5)]
    src = write_parquet(tmp_path / "p.parquet", rows)
    assert (len(release(src, policy())) == 1) is kept


def test_p_percent_over_subjects_too(tmp_path):
    # Ten merchants, but one card spends 1,000 among nine cards of 1: the card dominates.
    rows = [row("BIG", f"M{i}", 100) for i in range(10)] + [row(f"C{i}", f"M{i}", 1) for i in range(9)]
    src = write_parquet(tmp_path / "s.parquet", rows)
    assert release(src, policy()) == []


def test_refunds_are_netted_per_contributor_and_cannot_hide_one(tmp_path):
    refunds = [row("C1", "M1", -1000)] + [row(f"C{i}", f"M{i}", 25) for i in range(2, 6)]
    src = write_parquet(tmp_path / "r.parquet", refunds)
    assert release(src, policy()) == []  # |−1000| against 100 of others


def test_dominance_share_and_p_have_bounds_no_value_switches_off():
    schema = {c.name: c for c in SCHEMA}
    for bad in (
        {"dominance": "1.0"},
        {"dominance": "0.3"},
        {"p_percent": 0},
        {"p_percent": 90},
        {"k": 2},
        {"k": 1},
    ):
        assert policy(**bad).errors(schema), bad
    assert policy().errors(schema) == {}


def test_min_and_max_only_when_the_center_opts_in(tmp_path):
    rows = [*cards(12, [("M1", 10), ("M2", 10), ("M3", 10), ("M4", 10)]), row("Z", "M5", 10)]
    src = write_parquet(tmp_path / "m.parquet", rows)
    extreme = [{"field": "amount", "agg": "sum"}, {"field": "amount", "agg": "max"}]
    schema = {c.name: c for c in SCHEMA}
    assert "measures" in policy(measures=extreme).errors(schema)
    with pytest.raises(PlanError, match="max"):
        release(src, policy(measures=extreme))
    allowed = policy(measures=extreme, extremes_allowed=True)
    assert allowed.errors(schema) == {}
    (cell,) = release(src, allowed)
    assert cell[-1] == 10


def grid(tmp_path, small_cells):
    """A region × month table: 3 regions × 3 months of 10 cards each (4 merchants), except the
    cells in `small_cells`, which get two cards."""
    rows = []
    for r in ("41110", "41130", "41150"):
        for m in (1, 2, 3):
            n = 2 if (r, m) in small_cells else 10
            for i in range(n):
                rows.append(row(f"C-{r}-{m}-{i}", f"M{i % 4}", 100, region=r, day=date(2024, m, 3)))
    return write_parquet(tmp_path / "grid.parquet", rows)


def lines_with_one_suppressed(cells, dims):
    bad = []
    for i, d in enumerate(dims):
        others = [o for o in dims if o != d]
        lines = {}
        for c in cells:
            lines.setdefault(tuple(c[o] for o in others), []).append(c)
        for key, members in lines.items():
            if sum(m["suppressed"] for m in members) == 1 and len(members) > 1:
                bad.append((d, key))
    return bad


def test_secondary_suppression_leaves_no_line_with_one_suppressed_cell(tmp_path):
    src = grid(tmp_path, {("41110", 1)})
    cells = all_cells(src, policy())
    suppressed = {(c["region"], c["day"].month) for c in cells if c["suppressed"]}
    assert ("41110", 1) in suppressed and len(suppressed) == 4  # a 2 × 2 rectangle
    assert lines_with_one_suppressed(cells, ["region", "day"]) == []


def test_secondary_suppression_protects_a_pair_with_a_single_contributor(tmp_path):
    rows = []
    for r in ("41110", "41130", "41150", "41170"):
        for i in range(10):
            rows.append(row(f"C-{r}-{i}", f"M{r}-{i % 4}", 100, region=r))
    rows += [row(f"X{i}", "SOLO", 100, region="41190") for i in range(10)]  # one merchant alone
    src = write_parquet(tmp_path / "pair.parquet", rows)
    cells = all_cells(src, policy(dimensions=["region"], date_field=""))
    suppressed = [c["region"] for c in cells if c["suppressed"]]
    # 41190 fails the dominance rules; a second cell alone would let SOLO, who knows its own
    # total, subtract it from the margin: a third is suppressed.
    assert "41190" in suppressed and len(suppressed) == 3


def test_noise_is_deterministic_small_for_counts_and_keyed(tmp_path):
    src = grid(tmp_path, set())
    first, again = release(src, policy(), seed="v1"), release(src, policy(), seed="v1")
    assert first == again
    assert first != release(src, policy(), seed="v2")
    for region, month, records, total in first:
        assert abs(records - 10) <= 2
        assert abs(total - 1000) <= 0.5 * 100  # at most half the largest card's contribution


def test_cell_key_noise_depends_on_the_subjects_not_the_query(tmp_path):
    src = grid(tmp_path, set())
    full = {r[:2]: r for r in release(src, policy())}
    narrowed = release(
        src, policy(), {"regions": ["41130"], "date_from": "2024-02-01", "date_to": "2024-03-31"}
    )
    assert narrowed and all(full[r[:2]] == r for r in narrowed)


def test_scope_narrowing_selects_whole_cells_of_one_table(tmp_path):
    """All regions minus all-but-one, Jan–Mar minus Jan–Feb: every narrower release is a set
    of rows of the full release, with the same values, so differences give nothing new."""
    src = grid(tmp_path, {("41110", 1), ("41150", 3)})
    full = set(release(src, policy()))
    for scope in (
        {"regions": ["41110", "41130"]},
        {"regions": ["41150"]},
        {"date_from": "2024-01-01", "date_to": "2024-02-29"},
        {"date_from": "2024-03-01", "date_to": "2024-03-31", "regions": ["41130"]},
    ):
        part = set(release(src, policy(), scope))
        assert part <= full, scope


def test_the_dimensions_of_an_aggregate_are_fixed(tmp_path):
    src = grid(tmp_path, set())
    with pytest.raises(PlanError, match="fixed"):
        release(src, policy(), {"fields": ["region"]})
    with pytest.raises(PlanError, match="fixed"):
        release(src, policy(), {"fields": ["region", "day", "age_band"]})


def test_filters_must_be_dimensions_of_an_aggregate():
    schema = {c.name: c for c in SCHEMA}
    dong_filter = policy(region_field="dong")  # a 동 filter on a 시·군 table
    assert "region_field" in dong_filter.errors(schema)
    no_date_dim = policy(dimensions=["region"])
    assert "date_field" in no_date_dim.errors(schema)


def test_date_windows_are_whole_periods(tmp_path):
    src = grid(tmp_path, set())
    p = privacy.plan(
        parquet=src,
        schema=SCHEMA,
        policy=policy(),
        scope={"date_from": "2024-01-31", "date_to": "2024-03-01"},
        key=b"",
        noise_seed="s",
    )
    assert p.params == ["2024-02-01", "2024-02-01"]  # only February lies wholly inside
    with pytest.raises(PlanError, match="whole month"):
        release(src, policy(), {"date_from": "2024-02-02", "date_to": "2024-02-28"})


def test_aggregates_never_read_excluded_columns(tmp_path):
    src = grid(tmp_path, set())
    for role in ("subject_field", "dominance_field"):
        with pytest.raises(PlanError, match="sensitivity"):
            release(src, policy(**{role: "name"}))
    p = privacy.plan(parquet=src, schema=SCHEMA, policy=policy(), scope={}, key=b"", noise_seed="s")
    assert all('"name"' not in step["sql"] for step in p.setup)


def test_double_sums_are_exact_so_rebuilds_match(tmp_path):
    rows = [row(f"C{i}", f"M{i}", 1, rate=r) for i, r in enumerate([0.1, 0.2, 0.3] * 4)]
    src = write_parquet(tmp_path / "f.parquet", rows)
    pol = policy(measures=[{"field": "rate", "agg": "sum"}])
    p = privacy.plan(parquet=src, schema=SCHEMA, policy=pol, scope={}, key=b"", noise_seed="s")
    assert "DECIMAL(38, 10)" in p.setup[0]["sql"]
    assert release(src, pol) == release(src, pol)


def test_linked_releases_of_one_version(tmp_path):
    """A finer table under a lower k gives back a coarser table's suppressed cell: the ledger
    must refuse the pair. The same policy twice, or tables sharing only margins, are fine."""
    import duckdb

    rows = []
    for age in ("20대", "30대"):
        for i in range(4):  # 4 cards per age band: 8 in the region
            rows.append(row(f"C-{age}-{i}", f"M{i}", 100, age=age))
    for i in range(40):
        rows.append(row(f"D{i}", f"N{i % 8}", 100, region="41130"))
    src = write_parquet(tmp_path / "l.parquet", rows)
    coarse = policy(k=10)  # region × month: 41110 has 8 cards → suppressed
    fine = policy(k=3, dimensions=["region", "day", "age_band"])  # 4 per age band: published
    con = duckdb.connect()
    try:
        kwargs = {"parquet": src, "schema": SCHEMA, "noise_seed": "s"}
        # 41110 (8 cards) is suppressed for k = 10, and so is 41130 by secondary suppression
        # (the only other cell of the month): the age-band table gives both back.
        assert privacy.linked_disclosures(con, **kwargs, new=(fine, {}), held=(coarse, {})) == 2
        assert privacy.linked_disclosures(con, **kwargs, new=(coarse, {}), held=(fine, {})) == 2
        assert (
            privacy.linked_disclosures(con, **kwargs, new=(coarse, {}), held=(coarse, {"regions": ["41130"]}))
            == 0
        )
        # Restricted to 41130, the age-band table still gives back 41130's complementary
        # suppression, and with the month's margin that is 41110 too: refused as well.
        held_part = (fine, {"regions": ["41130"]})
        assert privacy.linked_disclosures(con, **kwargs, new=(coarse, {}), held=held_part) == 1
        weekly = policy(date_granularity="week")
        with pytest.raises(privacy.LinkedDisclosure):
            privacy.linked_disclosures(con, **kwargs, new=(weekly, {}), held=(coarse, {}))
    finally:
        con.close()


def test_policy_round_trips_through_its_snapshot():
    p = policy(measures=[{"field": "amount", "agg": "avg"}], extremes_allowed=True, p_percent=15)
    assert OfferPolicy.from_snapshot(p.to_snapshot()) == p
    old = {k: v for k, v in p.to_snapshot().items() if k not in ("p_percent", "extremes_allowed")}
    assert OfferPolicy.from_snapshot(old).p_percent == 10  # snapshots from before: the defaults

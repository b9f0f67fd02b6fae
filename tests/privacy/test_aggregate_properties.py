"""Properties of the aggregate engine over random data and random offers (Hypothesis): every
released cell holds k distinct subjects and passes the p% and dominance rules on its true
contributions, no line of the table gives a suppressed cell away, and no identifier value is
ever delivered. Pure: each example writes its own Parquet file."""

import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.privacy.engine import all_cells, policy, release, row, write_parquet

REGIONS = ["41110", "41130", "41150"]
payments = st.lists(
    st.tuples(
        st.integers(0, 25),  # card
        st.integers(0, 6),  # merchant
        st.sampled_from(REGIONS),
        st.integers(1, 3),  # month
        st.integers(-200, 2000),  # amount (refunds included)
    ),
    min_size=1,
    max_size=250,
)
offers = st.fixed_dictionaries(
    {
        "k": st.integers(3, 6),
        "p_percent": st.integers(5, 50),
        "dominance": st.decimals("0.5", "0.95", places=2),
        "dominance_field": st.sampled_from(["merchant_id", ""]),
    }
)
WORK = Path(tempfile.mkdtemp(prefix="privacy-properties-"))


def _sensitive(contributions: dict, p: float, c: float) -> bool:
    values = sorted((abs(v) for v in contributions.values()), reverse=True)
    total = sum(values)
    if total == 0:
        return False
    x1 = values[0]
    x2 = values[1] if len(values) > 1 else 0
    return total - x1 - x2 < p * x1 or x1 + x2 > c * total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=payments, offer=offers)
def test_every_released_cell_passes_every_rule(data, offer):
    rows = [row(f"CARD{c}", f"SHOP{m}", a, region=r, day=date(2024, mo, 7)) for c, m, r, mo, a in data]
    src = write_parquet(WORK / f"p{abs(hash((tuple(data), tuple(offer.items()))))}.parquet", rows)
    pol = policy(**offer)
    cells = all_cells(src, pol)

    truth = defaultdict(lambda: {"cards": set(), "by_card": defaultdict(int), "by_shop": defaultdict(int)})
    for c, m, r, mo, a in data:
        cell = truth[(r, date(2024, mo, 1))]
        cell["cards"].add(c)
        cell["by_card"][c] += a
        cell["by_shop"][m] += a
    assert {(x["region"], x["day"]) for x in cells} == set(truth)

    for x in cells:
        if x["suppressed"]:
            assert x["records"] is None and x["sum_amount"] is None
            continue
        t = truth[(x["region"], x["day"])]
        assert len(t["cards"]) >= pol.k
        assert not _sensitive(t["by_card"], pol.p, float(pol.dominance))
        if pol.dominance_field:
            assert not _sensitive(t["by_shop"], pol.p, float(pol.dominance))

    for fixed in ("region", "day"):  # lines: cells sharing the other dimension
        lines = defaultdict(list)
        for x in cells:
            lines[x[fixed]].append(x)
        for members in lines.values():
            hidden = [x for x in members if x["suppressed"]]
            if len(members) > 1:
                assert len(hidden) != 1, members

    released = str(release(src, pol))
    assert "CARD" not in released and "SHOP" not in released and "홍길동" not in released

"""Column profiles shown to outsiders follow the aggregate rules: no single record's value (a
minimum or maximum amount is one payment), no value seen fewer than k times, histogram bins of
at least k records. Read through the public API as an anonymous visitor would."""

from pathlib import Path

import duckdb
import pytest

from catalog.ingestion.profile import profile_parquet
from catalog.selectors import outsider_profile
from catalog.storage import local_path
from tests.privacy.test_aggregate_attacks_api import COLUMNS, cards  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_an_outsider_sees_no_extreme_and_no_small_bin(cards, api):  # noqa: F811
    version = cards.current_version
    path = Path(local_path(version.parquet))
    with duckdb.connect() as con:  # one payment far above the rest: the maximum is that payment
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN approved_at = (SELECT max(approved_at) FROM '{path}')"
            f" THEN 9999999 ELSE amount END AS amount) FROM '{path}') TO '{path}.x' (FORMAT parquet)"
        )
    Path(f"{path}.x").replace(path)
    profiles = profile_parquet(path, [{"name": n, "type": t} for n, t, _s in COLUMNS])
    for field in version.fields.all():
        field.profile = profiles[field.name]
        field.save(update_fields=["profile"])
    assert profiles["amount"]["max"] == 9999999
    assert any(0 < b["count"] < 5 for b in profiles["amount"]["histogram"])

    shown = {
        f["name"]: f["profile"]
        for f in api.get(f"/api/v1/datasets/{cards.slug}/").json()["current_version"]["fields"]
    }
    amount = shown["amount"]
    assert "min" not in amount and "max" not in amount
    assert amount["histogram"][0]["lower"] is None and amount["histogram"][-1]["upper"] is None
    assert all(b["count"] == 0 or b["count"] >= 5 for b in amount["histogram"])
    assert sum(b["count"] for b in amount["histogram"]) == sum(
        b["count"] for b in profiles["amount"]["histogram"]
    )
    assert "9999999" not in str(shown)
    assert shown["approved_at"]["min"] == "2024-01"  # the period covered, to the month
    assert "top_values" not in shown["card_id"] and "histogram" not in shown["age_band"]


def test_rare_values_are_not_listed_as_frequent():
    profile = {"top_values": [{"value": "카페", "count": 40}, {"value": "외딴 가게", "count": 2}]}
    assert outsider_profile(profile, "string")["top_values"] == [{"value": "카페", "count": 40}]

"""Tracing a leaked file by its rows when its pseudonyms were dropped or re-hashed (issue 14,
item 7): a record offer with a per-license sample gives every license other rows, so the rows
name the license, with a confidence measured against decoys (innocent files of the same terms
under random keys). Pure engine: no database."""

import csv
import random
from datetime import datetime, timedelta

import duckdb
import pytest

from catalog import privacy
from catalog.policy import OfferPolicy
from catalog.privacy import Column
from transactions.extracts import RowCandidate, build_recipe, run_extract, trace_rows

SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("region", "string", "public"),
    Column("industry", "string", "public"),
    Column("approved_at", "datetime", "public"),
    Column("amount", "integer", "public"),
]
OFFER = {
    "kind": "records",
    "fields": ["card_id", "region", "industry", "approved_at", "amount"],
    "region_field": "region",
    "date_field": "approved_at",
    "treatments": {"time_unit": "hour", "sample_percent": 50},
}
POLICY = OfferPolicy.from_values(OFFER)
LABELS = {"region": "시군구코드", "industry": "업종", "approved_at": "승인일시", "amount": "금액"}
KEYS = {n: f"license {n} key".encode() for n in range(1, 7)}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    rnd = random.Random(5)
    path = tmp_path_factory.mktemp("rows") / "cards.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (card_id VARCHAR, region VARCHAR, industry VARCHAR, approved_at TIMESTAMP, amount BIGINT)"
    )
    start = datetime(2024, 1, 1)
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        [
            (
                f"CARD-{rnd.randrange(800):04d}",
                rnd.choice(["41110", "41130", "41150", "41170"]),
                rnd.choice(["카페", "음식점", "편의점", "미용실", "학원"]),
                start + timedelta(minutes=rnd.randrange(60 * 24 * 90)),
                rnd.randrange(1, 200) * 500,
            )
            for _ in range(4000)
        ],
    )
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return str(path)


def _candidate(source, n, key=None):
    return RowCandidate(
        id=n,
        deliver=lambda k: privacy.plan(parquet=source, schema=SCHEMA, policy=POLICY, scope={}, key=k),
        key=key or KEYS[n],
        identifiers=frozenset({"card_id"}),
        labels=LABELS,
    )


def _delivered(source, tmp_path, key, fmt="csv", labels=None):
    recipe = build_recipe(
        parquet=source,
        source_sha256="0" * 64,
        schema=SCHEMA,
        policy=POLICY,
        scope={},
        key=key,
        format=fmt,
        labels=labels,
    )
    out = tmp_path / f"delivered-{key.hex()[:8]}.{fmt}"
    run_extract(recipe, key=key, out_path=out, work_dir=tmp_path / "work")
    return out


def _leak(delivered, tmp_path, *, rows, seed, header=True, rename=None, name="leak.csv"):
    """What a leaker posts: some rows, the pseudonym column dropped, columns maybe renamed."""
    with delivered.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    head, body = table[0], table[1:]
    keep = [i for i, h in enumerate(head) if h not in ("card_id", "카드번호")]
    picked = random.Random(seed).sample(body, rows)
    out = tmp_path / name
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow([(rename or {}).get(head[i], head[i]) for i in keep])
        writer.writerows([[r[i] for i in keep] for r in picked])
    return out


def test_rows_name_the_license_when_the_pseudonyms_are_gone(source, tmp_path):
    leaked = _leak(_delivered(source, tmp_path, KEYS[4]), tmp_path, rows=30, seed=1)
    ranked = trace_rows(leaked_file=leaked, candidates=[_candidate(source, n) for n in KEYS])
    best = ranked[0]
    assert best["id"] == 4 and best["rows_matched"] == 30 and best["row_share"] == 1.0
    assert best["identified"] and best["confidence"] >= 0.95 and best["false_match_rate"] == 0.0
    assert best["columns"] == ["region", "industry", "approved_at", "amount"]
    assert all(r["rows_matched"] < 30 and not r["identified"] for r in ranked[1:])


def test_headers_in_titles_or_none_at_all_xlsx_and_parquet(source, tmp_path):
    titled = _delivered(source, tmp_path, KEYS[2], labels=LABELS)
    by_title = _leak(titled, tmp_path, rows=25, seed=2, name="titled.csv")
    bare = _leak(
        _delivered(source, tmp_path, KEYS[2]), tmp_path, rows=25, seed=3, header=False, name="bare.csv"
    )
    xlsx = _delivered(source, tmp_path, KEYS[2], fmt="xlsx")  # the whole file, pseudonyms kept
    parquet = _delivered(source, tmp_path, KEYS[2], fmt="parquet")  # typed columns, not text
    for leaked in (by_title, bare, xlsx, parquet):
        ranked = trace_rows(leaked_file=leaked, candidates=[_candidate(source, n) for n in KEYS])
        assert ranked[0]["id"] == 2 and ranked[0]["row_share"] == 1.0 and ranked[0]["identified"], leaked
        assert ranked[0]["confidence"] == pytest.approx(1 - 1 / 20) and ranked[0]["decoys_as_good"] == 0


def test_a_file_no_candidate_delivered_is_not_attributed(source, tmp_path):
    """The false-match side: rows of a license outside the candidates are pinned on nobody."""
    for seed in range(4):
        outsider = _delivered(source, tmp_path, f"outsider {seed}".encode())
        leaked = _leak(outsider, tmp_path, rows=30, seed=seed, name=f"outsider-{seed}.csv")
        ranked = trace_rows(leaked_file=leaked, candidates=[_candidate(source, n) for n in KEYS])
        assert not any(r["identified"] for r in ranked), ranked[0]


def test_without_a_per_license_sample_rows_name_nobody(source, tmp_path):
    """Every license of an offer without a sample gets the same rows: the trace says so."""
    whole = OfferPolicy.from_values({**OFFER, "treatments": {"time_unit": "hour"}})

    def candidate(n):
        return RowCandidate(
            id=n,
            deliver=lambda k: privacy.plan(parquet=source, schema=SCHEMA, policy=whole, scope={}, key=k),
            key=KEYS[n],
            identifiers=frozenset({"card_id"}),
            keyed=False,
        )

    leaked = _leak(_delivered(source, tmp_path, KEYS[1]), tmp_path, rows=30, seed=9)
    ranked = trace_rows(leaked_file=leaked, candidates=[candidate(n) for n in (1, 2, 3)])
    assert [r["row_share"] for r in ranked] == [1.0, 1.0, 1.0]
    assert not ranked[0]["identified"] and ranked[0]["false_match_rate"] == 1.0


def test_unreadable_files_are_refused(source, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="cannot read"):
        trace_rows(leaked_file=broken, candidates=[_candidate(source, 1)])
    with pytest.raises(ValueError, match="cannot read"):
        trace_rows(leaked_file=tmp_path / "x.pdf", candidates=[_candidate(source, 1)])

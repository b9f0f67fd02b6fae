"""The workers' cache of aggregate offers' protected tables (catalog/released_cache.py):
built once per version, policy and seed, read back for every other license, scope and format,
with files byte-identical to the ones built without the cache."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from catalog import released_cache
from catalog.policy import OfferPolicy
from catalog.privacy import Column
from transactions.extracts import FORMATS, build_recipe, run_extract

SCHEMA = [
    Column("card_id", "string", "identifier"),
    Column("merchant_id", "string", "identifier"),
    Column("region", "string", "public"),
    Column("day", "date", "public"),
    Column("amount", "integer", "public"),
]
AGGREGATE = {
    "kind": "aggregate",
    "fields": ["region", "day"],
    "dimensions": ["region", "day"],
    "measures": [{"field": "amount", "agg": "sum"}],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "region_field": "region",
    "date_field": "day",
    "k": 5,
    "dominance": 0.85,
    "date_granularity": "month",
}
RECORDS = {
    "kind": "records",
    "fields": ["region", "day", "amount"],
    "region_field": "region",
    "date_field": "day",
}
SEED = "keyed:" + "5" * 58


def write_source(path: Path, rows: int = 4000, salt: int = 0) -> str:
    """Payments of 300 cards at 40 merchants in five 시·군 over six months."""
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'C' || (i * 7 % 300) AS card_id, 'M' || (i % 40) AS merchant_id,
                  (['41110','41130','41150','41170','41190'])[1 + i % 5] AS region,
                  DATE '2024-01-01' + CAST((i * 13 + {salt}) % 180 AS INTEGER) AS day,
                  CAST(1000 + (i * 37 + {salt}) % 9000 AS BIGINT) AS amount
           FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    return str(path)


@pytest.fixture
def source(tmp_path):
    return write_source(tmp_path / "cards.parquet")


@pytest.fixture
def outcomes(monkeypatch):
    """What `prepare` did, extract by extract: "built", "read" or "not cached"."""
    seen: list[str] = []
    real = released_cache.prepare
    monkeypatch.setattr(released_cache, "prepare", lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    return seen


def extract(source, tmp_path, name, *, offer=AGGREGATE, scope=None, fmt="csv", seed=SEED, key=b"k" * 32):
    recipe = build_recipe(
        parquet=source,
        source_sha256="a" * 64,
        schema=SCHEMA,
        policy=OfferPolicy.from_values(offer),
        scope=scope or {},
        key=key,
        format=fmt,
        noise_seed=seed,
    )
    out = tmp_path / "out" / f"{name}{FORMATS[fmt].suffix}"
    run_extract(recipe, out_path=out, work_dir=tmp_path / "work", key=key)
    return out.read_bytes()


def cached_entries(settings) -> list[Path]:
    return sorted(Path(settings.RELEASED_CACHE_DIR).glob("*.parquet"))


SCOPES = [({}, "csv"), ({"regions": ["41110", "41130"]}, "parquet"), ({"date_from": "2024-03-01"}, "jsonl")]


def test_every_license_reads_the_table_the_first_built_and_gets_the_same_file(
    source, tmp_path, settings, outcomes
):
    """Three licenses (their own keys, scopes and formats) of one aggregate offer: the first
    builds the protected table, the others read it; each file is byte for byte the file built
    with the cache off."""
    cached = [
        extract(source, tmp_path, f"c{i}", scope=scope, fmt=fmt, key=bytes([i + 1]) * 32)
        for i, (scope, fmt) in enumerate(SCOPES)
    ]
    assert outcomes == ["built", "read", "read"]
    assert len(cached_entries(settings)) == 1
    settings.RELEASED_CACHE_BYTES = 0
    uncached = [
        extract(source, tmp_path, f"u{i}", scope=scope, fmt=fmt, key=bytes([i + 1]) * 32)
        for i, (scope, fmt) in enumerate(SCOPES)
    ]
    assert outcomes[3:] == ["not cached"] * 3
    assert cached == uncached
    assert b"41110" in cached[0] and cached[0] != cached[1]  # real tables, narrowed per scope


def test_another_version_policy_or_seed_is_never_answered_from_the_cache(source, tmp_path, outcomes):
    first = extract(source, tmp_path, "first")
    assert extract(source, tmp_path, "seed", seed="keyed:" + "6" * 58) != first
    assert extract(source, tmp_path, "k", offer={**AGGREGATE, "k": 120}) != first
    write_source(Path(source), salt=5)
    assert extract(source, tmp_path, "replaced") != first
    assert outcomes == ["built"] * 4


def _altered(entry: Path) -> None:
    """`entry` rewritten as a readable table with other counts (a disk fault or a hand edit)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * REPLACE (records + 1 AS records) FROM read_parquet('{entry}')")
    con.execute(f"COPY t TO '{entry}' (FORMAT parquet)")
    con.close()


def _flipped(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(data)


@pytest.mark.parametrize("damage", [_altered, _flipped], ids=["readable", "unreadable"])
def test_a_damaged_entry_is_built_again_not_read(source, tmp_path, settings, outcomes, damage):
    first = extract(source, tmp_path, "first")
    [entry] = cached_entries(settings)
    damage(entry)
    assert extract(source, tmp_path, "again") == first
    assert outcomes == ["built", "built"]
    assert extract(source, tmp_path, "third") == first and outcomes[-1] == "read"  # kept whole again


def test_records_extracts_are_not_cached(source, tmp_path, settings, outcomes):
    extract(source, tmp_path, "records", offer=RECORDS)
    assert outcomes == ["not cached"] and cached_entries(settings) == []


def test_the_cache_keeps_to_its_size_and_drops_the_entries_used_longest_ago(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    for age, name in enumerate(["newest", "middle", "oldest"]):
        entry = folder / f"{name}.parquet"
        entry.write_bytes(b"x" * 1000)
        entry.with_suffix(".sha256").write_text("-")
        os.utime(entry, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    assert released_cache.evict(folder, 2500) == ["oldest.parquet"]
    assert released_cache.evict(folder, 1000) == ["middle.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == ["newest.parquet", "newest.sha256"]


@pytest.mark.django_db
def test_the_dataset_pages_aggregate_preview_is_read_from_the_cache_after_the_first_view(
    world, api, settings, outcomes
):
    """A visitor's preview of an aggregate offer narrows the whole version's protected table: the
    web process builds it once, then reads it (the page cache expiring makes no new build)."""
    from django.core.cache import cache

    from tests import factories

    dataset = factories.published_dataset(world.center, with_data=True, row_count=2000)
    offer = _open_aggregate(world, dataset)  # (no task ran: nothing was committed)
    url = f"/api/v1/datasets/{dataset.slug}/preview/?offer={offer.pk}"
    first = api.get(url).json()
    cache.clear()  # the catalog's cached answers gone: the preview is made again
    again = api.get(url).json()
    assert outcomes == ["built", "read"] and len(cached_entries(settings)) == 1
    settings.RELEASED_CACHE_BYTES = 0
    cache.clear()
    assert api.get(url).json() == again == first and first["rows"]
    assert first["columns"] == ["sigungu_code", "approved_at", "records", "sum_amount"]


def test_the_ledger_compares_kept_tables_and_finds_the_same_cells(source, outcomes):
    """The disclosure ledger (transactions/ledger.py) builds both tables of every pair it checks:
    with the cache the second check reads them, and counts the same cells as a build."""
    from catalog import privacy

    fine = OfferPolicy.from_values({**AGGREGATE, "k": 120})
    coarse = OfferPolicy.from_values({**AGGREGATE, "fields": ["region"], "dimensions": ["region"], "k": 700})
    kwargs = {
        "parquet": source,
        "schema": SCHEMA,
        "noise_seed": SEED,
        "new": (fine, {}),
        "held": (coarse, {}),
    }
    con = duckdb.connect()
    try:
        built = privacy.linked_disclosures(con, **kwargs)
        assert outcomes == []  # without a builder nothing is kept
        kept = [
            privacy.linked_disclosures(con, **kwargs, build=released_cache.builder(source)) for _ in range(2)
        ]
    finally:
        con.close()
    assert kept == [built, built]
    assert outcomes == ["built", "built", "read", "read"]


def _open_aggregate(world, dataset, **values):
    from catalog import services

    return services.offer_create(
        **values,
        actor=world.center_curator,
        dataset=dataset,
        terms="약관",
        kind="aggregate",
        name="월별 집계",
        dimensions=["sigungu_code", "approved_at"],
        measures=[{"field": "amount", "agg": "sum"}],
        subject_field="card_id",
        k=3,
        approval="automatic",
    )


@pytest.mark.django_db
def test_an_offer_opened_has_its_table_built_ahead_and_the_first_license_and_preview_read_it(
    world, api, outcomes, django_capture_on_commit_callbacks
):
    """Opening an aggregate offer (and publishing a version under one) queues a worker's task
    that builds the table; the first buyer's extract and the page's preview then only read it."""
    from tests import factories
    from tests.transactions.factories import submit
    from transactions.models import License

    dataset = factories.published_dataset(world.center, with_data=True, row_count=2000)
    with django_capture_on_commit_callbacks(execute=True):
        offer = _open_aggregate(world, dataset)
    assert outcomes == ["built"]  # by catalog.tasks.keep_released_tables
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_analyst, offer, scope={"fields": ["sigungu_code", "approved_at"]})
    (extract,) = License.objects.get(access_request=request).extracts.all()
    assert extract.status == "succeeded" and extract.row_count > 0
    assert api.get(f"/api/v1/datasets/{dataset.slug}/preview/?offer={offer.pk}").json()["rows"]
    assert outcomes == ["built", "read", "read"]


@pytest.mark.django_db
def test_keeping_ahead_skips_versions_no_longer_current_and_leaves_spark_sized_tables_to_spark(
    world, settings, outcomes, monkeypatch
):
    from catalog import spark
    from catalog.tasks import keep_released_tables
    from tests import factories

    dataset = factories.published_dataset(world.center, with_data=True, row_count=500)
    offer = _open_aggregate(world, dataset)
    old = factories.ready_version(dataset)  # a version that is not the published one
    assert keep_released_tables(old.pk) == {} and outcomes == []
    monkeypatch.setattr(spark, "enabled", lambda: True)
    settings.SPARK_MIN_SCAN_BYTES = 1
    assert keep_released_tables(dataset.current_version_id) == {offer.pk: "on spark"} and outcomes == []
    settings.SPARK_MIN_SCAN_BYTES = 10**12
    assert keep_released_tables(dataset.current_version_id) == {offer.pk: "built"}


def test_a_kept_table_comes_back_with_its_column_types_and_exact_values(tmp_path, outcomes):
    """Parquet has no HUGEINT (DuckDB would read one back as DOUBLE, rounding it and printing
    "…0.0" in a CSV): each column is read back as the type it was built with."""
    source = tmp_path / "one.parquet"
    source.write_bytes(b"stands for the version's file")
    setup = [
        {
            "sql": "CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM (VALUES"
            " (CAST(9007199254740993 AS HUGEINT) * 1000, 12.34::DECIMAL(18, 2), TIMESTAMPTZ '2024-03-01 09:00:00+09',"
            " DATE '2024-03-01', '수원시'), (NULL, NULL, NULL, NULL, NULL)) v(h, d, tz, day, name)",
            "params": [],
        }
    ]
    seen = []
    for _ in range(2):
        con = duckdb.connect()
        try:
            released_cache.prepare(
                con,
                table="t",
                setup=setup,
                files=[str(source)],
                build=lambda con=con: con.execute(setup[0]["sql"]),
            )
            seen.append((con.execute("DESCRIBE t").fetchall(), con.execute("SELECT * FROM t").fetchall()))
        finally:
            con.close()
    assert outcomes == ["built", "read"]
    assert seen[0] == seen[1]
    assert [row[1] for row in seen[0][0]][:2] == ["HUGEINT", "DECIMAL(18,2)"]
    assert seen[1][1][0][0] == 9007199254740993000


@pytest.mark.django_db
def test_an_offer_read_back_from_the_database_builds_the_table_its_licenses_read(world):
    """The offer's dominance comes back from the database as "0.850" and sits in a license's
    snapshot as "0.85": one value, one spelling, so the table kept ahead from the offer is the
    table its licenses' extracts read."""
    from catalog import privacy, selectors
    from catalog.models import Offer
    from tests import factories

    dataset = factories.published_dataset(world.center, with_data=True, row_count=300)
    offer = _open_aggregate(world, dataset, dominance="0.85", dominance_field="merchant_id")  # as the demo's
    snapshot_policy = OfferPolicy.from_snapshot(selectors.offer_snapshot(offer))
    stored_policy = Offer.objects.get(pk=offer.pk).policy
    version = dataset.current_version
    schema = [Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    plans = [
        privacy.plan(
            parquet=selectors.version_files(version),
            schema=schema,
            policy=policy,
            scope={},
            key=b"",
            noise_seed=version.cell_key_seed,
        )
        for policy in (snapshot_policy, stored_policy)
    ]
    assert plans[0].released and plans[0].setup == plans[1].setup

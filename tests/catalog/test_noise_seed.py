"""The cell-key noise's seed (catalog 0013): carried from version to version so an unchanged
cell keeps its noise, while nothing already released changes. The buyer-side attack (averaging a
monthly table's rebuilt copies) is in tests/transactions/test_extracts_partitioned.py."""

import importlib

import duckdb
import pytest
from django.apps import apps

from catalog import privacy, services
from catalog.models import DatasetVersion
from catalog.policy import OfferPolicy
from tests import factories

pytestmark = pytest.mark.django_db

migration = importlib.import_module("catalog.migrations.0013_version_noise_seed")


def test_existing_versions_keep_the_seed_their_noise_was_drawn_with():
    dataset = factories.published_dataset()
    current = dataset.current_version
    DatasetVersion.objects.filter(pk=current.pk).update(parquet_sha256="a" * 64)
    other = factories.ready_version(dataset)  # another version with its own content hash
    DatasetVersion.objects.filter(pk=other.pk).update(parquet_sha256="b" * 64, number=3)
    in_flight = factories.ready_version(dataset)
    DatasetVersion.objects.filter(pk=in_flight.pk).update(parquet_sha256="", status="ingesting")
    DatasetVersion.objects.filter(dataset=dataset).update(noise_seed="")  # as before 0013

    migration.carry_seeds(apps, None)

    seeds = dict(DatasetVersion.objects.filter(dataset=dataset).values_list("pk", "noise_seed"))
    assert seeds[current.pk] == "a" * 64 and seeds[other.pk] == "b" * 64  # what was released stays
    assert seeds[in_flight.pk] == "a" * 64  # takes the dataset's current seed


def test_a_dataset_without_any_hash_draws_one_secret_seed_for_all_its_versions():
    dataset = factories.published_dataset()
    factories.ready_version(dataset)
    DatasetVersion.objects.filter(dataset=dataset).update(parquet_sha256="", noise_seed="")

    migration.carry_seeds(apps, None)

    seeds = set(DatasetVersion.objects.filter(dataset=dataset).values_list("noise_seed", flat=True))
    assert len(seeds) == 1 and len(seeds.pop()) == 64


def test_a_new_dataset_draws_a_keyed_secret_seed_its_versions_carry(
    curator, center, django_capture_on_commit_callbacks
):
    from tests.catalog.test_services_partitions import card_csv, ingest, publish

    capture = django_capture_on_commit_callbacks
    dataset = services.dataset_create(
        actor=curator,
        center=center,
        title="새 카드 결제",
        theme="local_currency",
        period_field="거래일자",
    )
    first = publish(curator, ingest(curator, dataset, card_csv([1]), capture))
    second = ingest(curator, dataset, card_csv([1, 2]), capture)
    assert first.noise_seed.startswith(privacy.KEYED_NOISE) and len(first.noise_seed) == 64
    assert second.noise_seed == first.noise_seed
    other = services.dataset_create(actor=curator, center=center, title="다른 데이터", theme="local_currency")
    assert ingest(curator, other, card_csv([1]), capture).noise_seed != first.noise_seed


@pytest.mark.parametrize("subject", ["card", None], ids=["subject-column", "each-record"])
def test_keyed_record_keys_are_hmac_of_the_subject_any_engine_computes(tmp_path, subject):
    """Under a keyed seed a record's key is the first 64 bits of HMAC-SHA-256 of its subject's
    text (here checked against Python's hmac), so an engine other than DuckDB sums up the same
    cell keys. An older seed keeps DuckDB's hash(), and with it every noise released before."""
    parts = []
    for i, cards in enumerate((["C1", "C2", None], ["C2", "C3"])):
        path = tmp_path / f"part-{i}.parquet"
        values = ", ".join(f"({'NULL' if c is None else repr(c)}, 'all', 10)" for c in cards)
        duckdb.execute(f"COPY (SELECT * FROM (VALUES {values}) t(card, area, amount)) TO '{path}'")
        parts.append(str(path))
    schema = [
        privacy.Column("card", "string", "identifier" if subject else "excluded"),
        privacy.Column("area", "string", "public"),
        privacy.Column("amount", "integer", "public"),
    ]
    policy = OfferPolicy.from_values(
        {
            "kind": "aggregate",
            "dimensions": ["area"],
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": subject or "",
            "k": 3,
        }
    )
    seed = privacy.KEYED_NOISE + "f" * 58
    base = privacy.released_table(parquet=parts, schema=schema, policy=policy, noise_seed=seed).setup[0]
    con = duckdb.connect()
    con.execute(base["sql"], base["params"])
    table = base["sql"].split(" AS SELECT")[0].removeprefix("CREATE OR REPLACE TEMP TABLE ")
    keys = [row[0] for row in con.execute(f"SELECT __rk FROM {table}").fetchall()]
    texts = ["C1", "C2", None, "C2", "C3"] if subject else ["0\x1f0", "1\x1f0", "2\x1f0", "0\x1f1", "1\x1f1"]
    expected = [None if t is None else privacy.record_key(seed, t) for t in texts]
    assert sorted(keys, key=str) == sorted(expected, key=str)  # one per record, in any order
    older = privacy.released_table(parquet=parts, schema=schema, policy=policy, noise_seed="a" * 64).setup[0]
    assert "hash(xor(" in older["sql"] and "sha256" not in older["sql"]

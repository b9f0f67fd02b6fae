"""The cell-key noise's seed (catalog 0013): carried from version to version so an unchanged
cell keeps its noise, while nothing already released changes. The buyer-side attack (averaging a
monthly table's rebuilt copies) is in tests/transactions/test_extracts_partitioned.py."""

import importlib

import pytest
from django.apps import apps

from catalog.models import DatasetVersion
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

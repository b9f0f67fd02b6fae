"""A records license on a partitioned dataset (issue 16): its extract reads only the partition
files of its scope, and delivers the same rows as the whole table filtered would."""

import csv
import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from catalog import selectors
from catalog import services as catalog_services
from catalog.models import Offer
from tests import factories
from tests.catalog.test_services_partitions import card_csv, ingest
from tests.transactions.factories import submit
from transactions.models import License

pytestmark = pytest.mark.django_db

FIELDS = ["거래번호", "시군코드", "카드번호", "금액", "거래일자"]


def test_a_scoped_records_extract_reads_only_its_partitions(world, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    curator = world.center_curator
    dataset = monthly_dataset(world, "월별 카드 결제")
    version = ingest(curator, dataset, card_csv([1, 2, 3]), capture)
    assert version.status == "ready", version.error
    catalog_services.version_publish(actor=curator, version=version)
    dataset.refresh_from_db()
    offer = factories.OfferFactory(
        dataset=dataset,
        fields=FIELDS,
        approval=Offer.Approval.AUTOMATIC,
        region_field="시군코드",
        date_field="거래일자",
    )
    scope = {"fields": FIELDS, "regions": ["41130"], "date_from": "2024-02-01", "date_to": "2024-02-29"}
    with capture(execute=True):
        request = submit(world.buyer_analyst, offer, scope=scope)
    license = License.objects.get(access_request=request)
    (extract,) = license.extracts.all()
    assert extract.status == "succeeded", extract.error

    (files,) = [p for p in extract.recipe["params"] if isinstance(p, list)]
    assert len(files) == 1 and "period=2024-02/region=41130" in files[0]
    assert len(selectors.version_files(version)) == 9
    with default_storage.open(extract.file) as f, zipfile.ZipFile(f) as z:
        text = z.read(next(n for n in z.namelist() if n.startswith("data."))).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 == extract.row_count
    assert {r["시군코드"] for r in rows} == {"41130"} and {r["거래일자"][:7] for r in rows} == {"2024-02"}
    assert all(len(r["카드번호"]) == 64 for r in rows)  # pseudonymized, as for a single file


def test_a_month_appended_leaves_the_noise_of_every_other_cell_as_it_was(
    world, login, django_capture_on_commit_callbacks
):
    """The averaging attack on cell-key noise: a buyer of a monthly table with updates gets the
    whole table rebuilt on every append. Were each version's noise drawn afresh, a year of
    appends would hand the buyer twelve independent draws of every old cell, whose mean is the
    exact value. The unchanged cells must come back with the very same values; only the new
    month is new. The seed that makes this so is never shown."""
    capture = django_capture_on_commit_callbacks
    curator = world.center_curator
    dataset = monthly_dataset(world, "월별 카드 결제 통계")
    v1 = ingest(curator, dataset, card_csv([1, 2]), capture)
    catalog_services.version_publish(actor=curator, version=v1)
    dataset.refresh_from_db()
    offer = factories.OfferFactory(
        dataset=dataset,
        kind=Offer.Kind.AGGREGATE,
        fields=["시군코드", "거래일자"],
        dimensions=["시군코드", "거래일자"],
        measures=[{"field": "금액", "agg": "sum"}],
        subject_field="카드번호",
        dominance_field="가맹점번호",
        region_field="시군코드",
        date_field="거래일자",
        date_granularity="month",
        k=3,
        approval=Offer.Approval.AUTOMATIC,
        deliver_updates=True,
    )
    with capture(execute=True):
        request = submit(world.buyer_analyst, offer, scope={})
    license = License.objects.get(access_request=request)
    v2 = ingest(curator, dataset, card_csv([3], start=100), capture, mode="append")
    assert v2.status == "ready", v2.error
    with capture(execute=True):
        catalog_services.version_publish(actor=curator, version=v2)
    first, update = license.extracts.order_by("pk")
    assert (first.version_id, update.version_id) == (v1.pk, v2.pk)
    assert first.status == update.status == "succeeded", (first.error, update.error)
    before, after = cells(first), cells(update)
    assert len(before) == 6 and len(after) == 9  # 3 시·군 × 2 months, then × 3 months
    assert {k: after[k] for k in before} == before  # the same noisy values, not a fresh draw
    assert v1.noise_seed and v2.noise_seed == v1.noise_seed
    client = login(curator)
    shown = [client.get(f"/api/v1/versions/{v.pk}/").content for v in (v1, v2)]
    shown.append(client.get(f"/api/v1/datasets/{dataset.slug}/").content)
    assert all(r and v1.noise_seed.encode() not in r for r in shown)


def monthly_dataset(world, title: str):
    """A dataset of the center, partitioned by month and 시·군."""
    return catalog_services.dataset_create(
        actor=world.center_curator,
        center=world.center,
        title=title,
        theme="local_currency",
        period_field="거래일자",
        partition_region_field="시군코드",
    )


def cells(extract) -> dict:
    """An aggregate extract's released values by cell (시·군, month)."""
    with default_storage.open(extract.file) as f, zipfile.ZipFile(f) as z:
        text = z.read(next(n for n in z.namelist() if n.startswith("data."))).decode("utf-8-sig")
    return {
        (r["시군코드"], r["거래일자"]): (r["records"], r["sum_금액"])
        for r in csv.DictReader(io.StringIO(text))
    }

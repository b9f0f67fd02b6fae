"""Partitioned versions (issue 16): a dataset with a period column is stored as Hive-style
partition files recorded per file; appends add periods and share the files they keep; records
extracts read only the files their scope can touch. Through the services and the real
ingestion task (run eagerly on commit)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from catalog import privacy, selectors, services
from catalog.models import DatasetVersion
from catalog.policy import OfferPolicy
from catalog.storage import local_path
from marketplace import errors

REGIONS = (("41110", "수원시"), ("41130", "성남시"), ("41190", "부천시"))
HEADER = "거래번호,시군코드,시군명,카드번호,가맹점번호,금액,거래일자\n"


def card_csv(months: list[int], per_month: int = 12, *, start: int = 0, amount: int = 1000) -> str:
    lines = [HEADER]
    n = start
    for month in months:
        for i in range(per_month):
            code, name = REGIONS[i % 3]
            lines.append(
                f"T{n:05d},{code},{name},C{n % 7:03d},M{n % 4:02d},{amount + 10 * i},2024-{month:02d}-{1 + i:02d}\n"
            )
            n += 1
    return "".join(lines)


def upload(actor, dataset, text: str, **kwargs) -> DatasetVersion:
    return services.version_upload(
        actor=actor,
        dataset=dataset,
        file=SimpleUploadedFile("cards.csv", text.encode()),
        filename="cards.csv",
        **kwargs,
    )


def ingest(curator, dataset, text, capture, **kwargs) -> DatasetVersion:
    with capture(execute=True):
        version = upload(curator, dataset, text, **kwargs)
    version.refresh_from_db()
    return version


def publish(curator, version) -> DatasetVersion:
    services.version_publish(actor=curator, version=version)
    version.refresh_from_db()
    return version


def table(files) -> list[tuple]:
    return sorted(
        duckdb.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [list(files)]).fetchall()
    )


@pytest.mark.django_db
def test_a_version_is_one_file_per_month_and_region_recorded_with_its_statistics(
    curator, partitioned, django_capture_on_commit_callbacks
):
    v = ingest(curator, partitioned, card_csv([1, 2, 3]), django_capture_on_commit_callbacks)
    assert v.status == DatasetVersion.Status.READY, v.error
    parts = list(v.parts.order_by("path"))
    assert len(parts) == 9  # three months × three 시·군
    assert sum(p.rows for p in parts) == v.row_count == 36
    assert v.parquet_bytes == sum(p.bytes for p in parts)
    first = parts[0]
    assert first.path == first.path.strip() and "/period=2024-01/region=41110/" in first.path
    assert (first.period, first.region, first.region_min, first.region_max) == (
        "2024-01",
        "41110",
        "41110",
        "41110",
    )
    assert date(2024, 1, 1) <= first.date_min <= first.date_max <= date(2024, 1, 31)
    for part in parts:
        data = Path(local_path(part.path)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part.sha256 and len(data) == part.bytes
        codec = duckdb.execute(
            "SELECT DISTINCT compression FROM parquet_metadata(?)", [str(local_path(part.path))]
        ).fetchall()
        assert codec == [("ZSTD",)]
    # The files hold exactly the table's columns (the keys are in the directory names only),
    # and together every row of the upload.
    files = selectors.version_files(v)
    described = duckdb.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [files])
    assert [r[0] for r in described.fetchall()] == [f.name for f in v.fields.order_by("position")]
    assert len(table(files)) == 36
    # The manifest lists them; the version's identity is the manifest's hash.
    assert default_storage.exists(v.parquet) and v.parquet.endswith("manifest.json")
    assert len(v.parquet_sha256) == 64
    assert v.fields.get(name="금액").profile["null_count"] == 0


@pytest.mark.django_db
def test_append_adds_a_month_shares_the_old_files_and_merges_profiles(
    curator, partitioned, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    v1 = publish(curator, ingest(curator, partitioned, card_csv([1, 2]), capture))
    services.version_fields_update(
        actor=curator,
        version=v1,
        changes=[{"name": "카드번호", "sensitivity": "identifier", "title": "카드"}],
    )
    v2 = ingest(curator, partitioned, card_csv([3], start=100, amount=50_000), capture, mode="append")
    assert v2.status == DatasetVersion.Status.READY, v2.error
    assert (v2.mode, v2.base_version_id) == ("append", v1.pk)
    assert v2.row_count == 36  # the whole table's, not the file's 12
    old, new = set(v1.parts.values_list("pk", flat=True)), set(v2.parts.values_list("pk", flat=True))
    assert old < new and len(new - old) == 3  # v1's files are shared, not copied
    assert sorted(set(v2.parts.values_list("period", flat=True))) == ["2024-01", "2024-02", "2024-03"]
    assert len(table(selectors.version_files(v2))) == 36
    amount = v2.fields.get(name="금액").profile
    assert (amount["min"], amount["max"], amount["null_count"]) == (1000, 50_110, 0)
    assert v2.fields.get(name="시군코드").profile["values"] == [41110, 41130, 41190]
    days = v2.fields.get(name="거래일자").profile
    assert (days["min"], days["max"]) == ("2024-01-01", "2024-03-12")
    assert sum(b["count"] for b in amount["histogram"]) == 36
    card = v2.fields.get(name="카드번호")
    assert (card.sensitivity, card.title) == ("identifier", "카드")  # the curators' choices carry over
    # The published version is unchanged.
    v1.refresh_from_db()
    assert v1.row_count == 24 and v1.parts.count() == 6


@pytest.mark.django_db
def test_an_overlapping_period_is_refused_unless_replace_periods(
    curator, partitioned, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    v1 = publish(curator, ingest(curator, partitioned, card_csv([1, 2]), capture))
    with translation.override("en"):
        refused = ingest(curator, partitioned, card_csv([2, 3], start=100), capture, mode="append")
    assert refused.status == DatasetVersion.Status.FAILED
    assert "2024-02" in refused.error and "replace_periods" in refused.error
    assert not refused.parts.exists()

    replaced = ingest(
        curator,
        partitioned,
        card_csv([2, 3], start=100, amount=7000),
        capture,
        mode="append",
        replace_periods=True,
    )
    assert replaced.status == DatasetVersion.Status.READY, replaced.error
    assert replaced.row_count == 36  # January kept, February replaced, March added
    january = set(v1.parts.filter(period="2024-01").values_list("pk", flat=True))
    assert january <= set(replaced.parts.values_list("pk", flat=True))
    assert not replaced.parts.filter(pk__in=v1.parts.filter(period="2024-02").values("pk")).exists()
    rows = table(selectors.version_files(replaced))
    february = [r for r in rows if r[6].month == 2]
    assert len(february) == 12 and all(r[5] >= 7000 for r in february)
    # A profile cannot subtract the replaced rows: it is read again from the new table.
    assert replaced.fields.get(name="금액").profile["min"] == 1000


@pytest.mark.django_db
def test_append_needs_a_period_column_and_a_partitioned_published_version(
    curator, dataset, partitioned, ingested
):
    with pytest.raises(errors.ApplicationError):
        upload(curator, dataset, card_csv([1]), mode="append")  # no period column
    with pytest.raises(errors.ApplicationError):
        upload(curator, partitioned, card_csv([1]), mode="append")  # nothing published yet
    with pytest.raises(errors.ApplicationError):
        upload(curator, partitioned, card_csv([1]), mode="sideways")


@pytest.mark.django_db
def test_an_appended_file_must_have_the_same_columns(
    curator, partitioned, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    publish(curator, ingest(curator, partitioned, card_csv([1]), capture))
    other = card_csv([2]).replace("금액", "결제금액")
    with translation.override("en"):
        refused = ingest(curator, partitioned, other, capture, mode="append")
    assert refused.status == DatasetVersion.Status.FAILED
    assert "결제금액" in refused.error and "금액 (integer)" in refused.error


RECORDS = OfferPolicy.from_values(
    {
        "kind": "records",
        "fields": ["거래번호", "시군코드", "카드번호", "금액", "거래일자"],
        "region_field": "시군코드",
        "date_field": "거래일자",
    }
)
SCOPE = {"regions": ["41130"], "date_from": "2024-02-01", "date_to": "2024-02-29"}


def _records(version, files) -> list[tuple]:
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    plan = privacy.plan(parquet=files, schema=schema, policy=RECORDS, scope=SCOPE, key=b"k" * 32)
    order = ", ".join(f'"{c}"' for c in plan.order_by)
    rows = duckdb.execute(f"SELECT * FROM ({plan.body}) ORDER BY {order}", plan.params).fetchall()
    return [row[: len(plan.columns)] for row in rows]  # without the hidden sort keys


@pytest.mark.django_db
def test_records_scope_reads_only_its_partition_files_and_gives_the_same_rows(
    curator, partitioned, django_capture_on_commit_callbacks
):
    v = ingest(curator, partitioned, card_csv([1, 2, 3]), django_capture_on_commit_callbacks)
    everything = selectors.version_files(v)
    pruned = selectors.version_files(v, policy=RECORDS, scope=SCOPE)
    assert len(everything) == 9
    assert len(pruned) == 1 and "period=2024-02/region=41130" in pruned[0]
    assert _records(v, pruned) == _records(v, everything) and len(_records(v, pruned)) == 4
    # Proof that no other file is opened: damage every other file; the scoped read still works.
    for path in set(everything) - set(pruned):
        Path(path).write_bytes(b"PAR1 damaged")
    assert len(_records(v, pruned)) == 4
    with pytest.raises(duckdb.Error):
        _records(v, everything)


@pytest.mark.django_db
def test_a_scope_no_file_holds_reads_one_file_and_returns_nothing(
    curator, partitioned, django_capture_on_commit_callbacks
):
    v = ingest(curator, partitioned, card_csv([1]), django_capture_on_commit_callbacks)
    scope = {"date_from": "2025-01-01"}
    pruned = selectors.version_files(v, policy=RECORDS, scope=scope)
    assert len(pruned) == 1
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in v.fields.all()]
    plan = privacy.plan(parquet=pruned, schema=schema, policy=RECORDS, scope=scope, key=b"k" * 32)
    assert duckdb.execute(plan.sql, plan.params).fetchall() == []


@pytest.mark.django_db
def test_aggregates_read_every_file_and_protect_the_same_table_as_one_file(
    curator, partitioned, django_capture_on_commit_callbacks, tmp_path
):
    v = ingest(curator, partitioned, card_csv([1, 2, 3], per_month=28), django_capture_on_commit_callbacks)
    assert v.status == DatasetVersion.Status.READY, v.error
    aggregate = OfferPolicy.from_values(
        {
            "kind": "aggregate",
            "dimensions": ["시군코드", "거래일자"],
            "measures": [{"field": "금액", "agg": "sum"}],
            "subject_field": "카드번호",
            "dominance_field": "가맹점번호",
            "region_field": "시군코드",
            "date_field": "거래일자",
            "k": 3,
            "date_granularity": "month",
        }
    )
    files = selectors.version_files(v, policy=aggregate, scope=SCOPE)
    assert files == selectors.version_files(v)  # the whole version, whatever the scope
    single = tmp_path / "one.parquet"
    duckdb.execute(
        f"COPY (SELECT * FROM read_parquet(?, hive_partitioning = false)) TO '{single}' (FORMAT parquet)",
        [files],
    )
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in v.fields.all()]

    def cells(parquet):
        con = duckdb.connect()
        released = privacy.protected_cells(
            con, parquet=parquet, schema=schema, policy=aggregate, noise_seed="s"
        )
        return sorted(con.execute(f'SELECT * FROM "{released.table}"').fetchall(), key=str)

    assert cells(files) == cells(str(single))


@pytest.mark.django_db
def test_an_append_after_the_partitioning_changed_is_refused(
    curator, partitioned, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    publish(curator, ingest(curator, partitioned, card_csv([1]), capture))
    services.dataset_update(
        actor=curator, dataset=partitioned, partition_region_field="", period_unit="quarter"
    )
    with translation.override("en"):
        refused = ingest(curator, partitioned, card_csv([5]), capture, mode="append")
    assert refused.status == DatasetVersion.Status.FAILED
    assert "partitioned differently" in refused.error


def test_prune_keeps_the_files_whose_ranges_meet_the_scope():
    from catalog.ingestion.partition import prune

    files = [
        ("jan-41110", date(2024, 1, 1), date(2024, 1, 31), "41110", "41110"),
        ("feb-41110", date(2024, 2, 1), date(2024, 2, 29), "41110", "41110"),
        ("feb-41130", date(2024, 2, 3), date(2024, 2, 10), "41130", "41130"),
        ("no-dates", None, None, "41130", "41130"),
    ]
    names = lambda chosen: [f[0] for f in chosen]  # noqa: E731
    assert names(prune(files)) == names(files)
    assert names(prune(files, date_from=date(2024, 1, 31))) == ["jan-41110", "feb-41110", "feb-41130"]
    assert names(prune(files, date_to=date(2024, 2, 2))) == ["jan-41110", "feb-41110"]
    assert names(prune(files, date_from=date(2024, 2, 11), regions=["41130"])) == []
    assert names(prune(files, regions=[41130])) == ["feb-41130", "no-dates"]


def test_merged_profiles_are_exact_where_they_can_be():
    from catalog.ingestion.profile import merge_profiles

    columns = [{"name": "amount", "type": "integer"}, {"name": "code", "type": "string"}]
    a = {
        "amount": {
            "null_count": 1,
            "min": 10,
            "max": 50,
            "distinct_estimate": 5,
            "top_values": [{"value": 10, "count": 3}],
            "histogram": [{"lower": 10.0, "upper": 50.0, "count": 6}],
        },
        "code": {
            "null_count": 0,
            "min": "a",
            "max": "b",
            "distinct_estimate": 2,
            "values": ["a", "b"],
            "top_values": [{"value": "a", "count": 4}, {"value": "b", "count": 2}],
            "histogram": None,
        },
    }
    b = {
        "amount": {
            "null_count": 2,
            "min": 5,
            "max": 40,
            "distinct_estimate": 7,
            "top_values": [{"value": 10, "count": 1}, {"value": 5, "count": 2}],
            "histogram": [{"lower": 5.0, "upper": 40.0, "count": 9}],
        },
        "code": {
            "null_count": 1,
            "min": "b",
            "max": "c",
            "distinct_estimate": 2,
            "values": ["b", "c"],
            "top_values": [{"value": "b", "count": 5}],
            "histogram": None,
        },
    }
    merged = merge_profiles(a, b, columns)
    amount, code = merged["amount"], merged["code"]
    assert (amount["null_count"], amount["min"], amount["max"]) == (3, 5, 50)
    assert amount["top_values"][:2] == [{"value": 10, "count": 4}, {"value": 5, "count": 2}]
    assert sum(bin_["count"] for bin_ in amount["histogram"]) == 15
    assert (amount["histogram"][0]["lower"], amount["histogram"][-1]["upper"]) == (5.0, 50.0)
    assert amount["distinct_estimate"] == 7  # a lower bound without listed values
    assert (code["values"], code["distinct_estimate"], code["null_count"]) == (["a", "b", "c"], 3, 1)
    assert code["top_values"][0] == {"value": "b", "count": 7}


@pytest.mark.django_db
def test_previews_read_a_partitioned_version(curator, partitioned, django_capture_on_commit_callbacks):
    v = publish(curator, ingest(curator, partitioned, card_csv([1, 2]), django_capture_on_commit_callbacks))
    partitioned.refresh_from_db()
    preview = selectors.preview_for(curator, partitioned, limit=5)
    assert len(preview["rows"]) == 5 and "금액" in preview["columns"]
    assert "period" not in preview["columns"] and "region" not in preview["columns"]
    assert v.is_current

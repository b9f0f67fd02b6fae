"""Upload → ingestion task → ready version, through the services and the real ingestion
engine (the Celery task runs eagerly on commit)."""

import gzip
from pathlib import Path

import duckdb
import pytest
from django.core.files.storage import default_storage
from django.utils import translation

from catalog import services
from catalog.models import DatasetVersion
from catalog.storage import local_path
from marketplace import errors
from marketplace.actors import SYSTEM
from tests import factories
from tests.catalog.conftest import upload

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-kr"


@pytest.mark.django_db
def test_cp949_upload_becomes_profiled_parquet_with_exact_korean_text(ingested):
    v = ingested
    assert v.status == DatasetVersion.Status.READY, v.error
    assert (v.progress, v.row_count, v.encoding, v.file_kind) == (100, 60, "cp949", "csv")
    assert v.original_filename == "data.csv"
    assert default_storage.exists(v.parquet) and v.parquet.endswith("data.parquet")
    names = list(v.fields.values_list("name", flat=True))
    assert names[:3] == ["거래번호", "시군코드", "시군명"]
    industries = duckdb.sql(
        f"select distinct 업종 from read_parquet('{local_path(v.parquet)}') order by 1"
    ).fetchall()
    assert [r[0] for r in industries] == sorted(["음식점", "카페", "똠양꿍 전문점"])
    # codes with leading zeros stay text (T0001…); amounts are integers with a profile
    assert v.fields.get(name="거래번호").type == "string"
    amount = v.fields.get(name="금액")
    assert amount.type == "integer"
    assert (amount.profile["min"], amount.profile["max"], amount.profile["null_count"]) == (1000, 10000, 0)
    assert len(amount.profile["histogram"]) == 20


@pytest.mark.django_db
def test_sensitivities_are_suggested_from_names_and_values(ingested):
    suggested = dict(ingested.fields.values_list("name", "sensitivity"))
    assert suggested["카드번호"] == "identifier"
    assert suggested["가맹점번호"] == "identifier"
    assert suggested["성명"] == "excluded"
    assert suggested["연락처"] == "excluded"
    assert suggested["연령대"] == "quasi_identifier"
    assert suggested["금액"] == "public"


@pytest.mark.django_db
def test_ragged_row_fails_with_its_row_number_and_nothing_half_made(
    curator, dataset, django_capture_on_commit_callbacks
):
    rows = ["a,b,c"] + [f"{i},{i},{i}" for i in range(1, 100)]
    rows[42] = "1,2,3,4,5"
    with django_capture_on_commit_callbacks(execute=True):
        v = upload(curator, dataset, "\n".join(rows) + "\n")
    v.refresh_from_db()
    assert v.status == DatasetVersion.Status.FAILED
    assert v.error_row == 42
    assert "Row 42 has 5 fields; the header has 3." in v.error
    assert v.parquet == "" and not v.fields.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "not a CSV"),
        (gzip.compress(b"a,b\n" + b"0" * 30_000_000), "uncompressed size exceeds"),
    ],
    ids=["binary-junk", "gzip-bomb"],
)
def test_hostile_files_fail_with_a_message(
    curator, dataset, django_capture_on_commit_callbacks, settings, content, message
):
    settings.UPLOAD_MAX_UNCOMPRESSED_BYTES = 10 * 2**20
    with django_capture_on_commit_callbacks(execute=True):
        v = upload(curator, dataset, content, name="data.csv")
    v.refresh_from_db()
    assert v.status == DatasetVersion.Status.FAILED
    assert message in v.error


@pytest.mark.django_db
def test_empty_and_oversize_uploads_are_refused_before_storage(curator, dataset, settings):
    with pytest.raises(errors.ApplicationError):
        upload(curator, dataset, b"")
    settings.UPLOAD_MAX_BYTES = 10
    with pytest.raises(errors.TooLarge):
        upload(curator, dataset, b"a,b\n1,2\n3,4\n")
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_parquet_upload_is_detected_by_content_not_name(
    curator, dataset, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "x.parquet"
    duckdb.sql(
        f"copy (select range as id, '똠' || range as label from range(10)) to '{path}' (format parquet)"
    )
    with django_capture_on_commit_callbacks(execute=True):
        v = upload(curator, dataset, path.read_bytes(), name="looks-like.csv")
    v.refresh_from_db()
    assert (v.status, v.file_kind, v.row_count) == ("ready", "parquet", 10)


@pytest.mark.django_db
def test_real_company_file_keeps_business_numbers_as_text(
    curator, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        v = upload(
            curator,
            dataset,
            (REAL / "gg_company_address_bizrno.csv").read_bytes(),
            name="기업주소_사업자번호.csv",
        )
    v.refresh_from_db()
    assert v.status == "ready", v.error
    assert v.row_count == 37_861
    assert v.original_filename == "기업주소_사업자번호.csv"
    assert v.fields.get(name="BIZRNO").type == "string"
    numbers = duckdb.execute(
        "select BIZRNO from read_parquet(?) where ENT_NM in ('윈스', '경기도아동복지협회') order by 1",
        [str(local_path(v.parquet))],
    ).fetchall()
    assert [r[0] for r in numbers] == ["  12986551", "0000000001"]


@pytest.mark.django_db
def test_reingesting_is_safe_and_changes_nothing(ingested):
    before = (ingested.parquet, ingested.row_count, list(ingested.fields.values_list("pk", flat=True)))
    again = services.version_ingest(actor=SYSTEM, version_id=ingested.pk)
    assert (again.parquet, again.row_count, list(again.fields.values_list("pk", flat=True))) == before
    assert again.attempts == 1


@pytest.mark.django_db
def test_a_version_left_ingesting_by_a_dead_worker_starts_over(ingested):
    DatasetVersion.objects.filter(pk=ingested.pk).update(
        status="ingesting", progress=37, parquet="", row_count=None
    )
    v = services.version_ingest(actor=SYSTEM, version_id=ingested.pk)
    assert (v.status, v.progress, v.row_count, v.attempts) == ("ready", 100, 60, 2)
    assert v.fields.count() == 12


@pytest.mark.django_db
def test_publish_and_a_failed_new_version_never_disturbs_it(
    curator, dataset, ingested, django_capture_on_commit_callbacks
):
    services.version_publish(actor=curator, version=ingested)
    dataset.refresh_from_db()
    assert dataset.status == "published" and dataset.current_version == ingested
    with django_capture_on_commit_callbacks(execute=True):
        broken = upload(curator, dataset, "a,b\n1,2,3\n")
    broken.refresh_from_db()
    assert broken.status == "failed"
    with pytest.raises(errors.InvalidState):
        services.version_publish(actor=curator, version=broken)
    dataset.refresh_from_db()
    assert dataset.current_version == ingested


@pytest.mark.django_db
def test_field_editing_rules(curator, reviewer, ingested):
    services.version_fields_update(
        actor=curator,
        version=ingested,
        changes=[
            {"name": "금액", "title": "결제 금액", "description": "원 단위"},
            {"name": "시군명", "sensitivity": "quasi_identifier"},
        ],
    )
    assert ingested.fields.get(name="금액").title == "결제 금액"
    assert ingested.fields.get(name="시군명").sensitivity == "quasi_identifier"
    with pytest.raises(errors.ApplicationError) as exc:
        services.version_fields_update(
            actor=curator, version=ingested, changes=[{"name": "없는열", "title": "x"}]
        )
    assert "name" in exc.value.errors
    with pytest.raises(errors.PermissionDenied):
        services.version_fields_update(
            actor=reviewer, version=ingested, changes=[{"name": "금액", "title": "x"}]
        )
    services.version_publish(actor=curator, version=ingested)
    with pytest.raises(errors.ApplicationError):
        services.version_fields_update(
            actor=curator, version=ingested, changes=[{"name": "카드번호", "sensitivity": "public"}]
        )
    assert ingested.fields.get(name="카드번호").sensitivity == "identifier"


@pytest.mark.django_db
def test_sweep_requeues_lost_jobs_and_fails_hopeless_ones(ingested, settings):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(days=1)
    DatasetVersion.objects.filter(pk=ingested.pk).update(status="ingesting", started_at=long_ago, attempts=1)
    assert services.versions_requeue_stuck(actor=SYSTEM) == [ingested.pk]
    assert DatasetVersion.objects.get(pk=ingested.pk).status == "uploaded"  # queued again
    # Stuck again, with no attempt left: failed instead of queued for ever.
    DatasetVersion.objects.filter(pk=ingested.pk).update(
        status="ingesting", started_at=long_ago, attempts=settings.INGEST_MAX_ATTEMPTS
    )
    with translation.override("en"):
        assert services.versions_requeue_stuck(actor=SYSTEM) == []
    ingested.refresh_from_db()
    assert ingested.status == "failed" and "did not finish" in ingested.error


def test_other_center_cannot_upload(db, dataset):
    other = factories.member(factories.OrganizationFactory(kind="center", buyer_category=""), "curator")
    with pytest.raises(errors.NotFound):
        upload(other, dataset, "a\n1\n")

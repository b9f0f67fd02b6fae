from __future__ import annotations

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.validators import business_number_check_digit

PASSWORD = "correct-horse-battery-staple"


def valid_business_number(n: int) -> str:
    first_nine = f"{n:09d}"
    return first_nine + str(business_number_check_digit(first_nine))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.kr")
    name = factory.Sequence(lambda n: f"사용자{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    kind = Organization.Kind.BUYER
    name = factory.Sequence(lambda n: f"기관{n}")
    name_en = factory.Sequence(lambda n: f"Organization {n}")
    business_number = factory.Sequence(lambda n: valid_business_number(n + 100000))
    buyer_category = factory.LazyAttribute(
        lambda o: Organization.BuyerCategory.SME if o.kind == Organization.Kind.BUYER else ""
    )
    verification = Organization.Verification.VERIFIED
    verified_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.verification == Organization.Verification.VERIFIED else None
    )
    group = factory.LazyAttribute(lambda o: Group.objects.create(name=f"org:{o.business_number}"))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.ANALYST

    @factory.post_generation
    def join_group(obj, create, extracted, **kwargs):
        if create:
            obj.user.groups.add(obj.organization.group)


def member(organization: Organization, *roles: str, **user_kwargs) -> User:
    """A user holding `roles` in `organization`."""
    user = UserFactory(**user_kwargs)
    for role in roles:
        MembershipFactory(user=user, organization=organization, role=role)
    return user


# --- catalog -------------------------------------------------------------------------------
from catalog.models import Dataset, DatasetVersion, Field, LicenseTerms, Offer  # noqa: E402

DEFAULT_FIELDS = [
    # (name, type, sensitivity)
    ("transaction_id", "string", "identifier"),
    ("sigungu_code", "string", "public"),
    ("sigungu_name", "string", "public"),
    ("industry", "string", "public"),
    ("card_id", "string", "identifier"),
    ("merchant_id", "string", "identifier"),
    ("amount", "integer", "public"),
    ("age_band", "string", "quasi_identifier"),
    ("sex", "string", "quasi_identifier"),
    ("approved_at", "datetime", "public"),
    ("holder_name", "string", "excluded"),
]


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset
        skip_postgeneration_save = True

    center = factory.SubFactory(OrganizationFactory, kind="center", buyer_category="")
    slug = factory.Sequence(lambda n: f"dataset-{n}")
    title = factory.Sequence(lambda n: f"경기지역화폐 결제 내역 {n}")
    title_en = factory.Sequence(lambda n: f"Gyeonggi local currency payments {n}")
    summary = "시·군별 지역화폐 카드 결제"
    theme = "local_currency"
    regions = ["41110", "41130"]

    @factory.post_generation
    def ownership(obj, create, extracted, **kwargs):
        """What dataset_create does: the center's group holds the object permissions."""
        if create:
            from guardian.shortcuts import assign_perm

            for perm in ("catalog.view_dataset", "catalog.change_dataset"):
                assign_perm(perm, obj.center.group, obj)


def published_dataset(
    center=None, *, fields=DEFAULT_FIELDS, row_count=1000, with_data: bool = False, **dataset_kwargs
) -> Dataset:
    """A published dataset whose current version has `fields`. With `with_data`, a real
    Parquet file of `row_count` synthetic rows (DEFAULT_FIELDS' columns) is in storage, so
    extracts can be built from it; otherwise there is no data file (tests of workflow)."""
    dataset = DatasetFactory(**({"center": center} if center else {}), **dataset_kwargs)
    parquet, parquet_sha = f"datasets/{dataset.pk}/v1.parquet", ""
    if with_data:
        parquet, parquet_sha = write_card_parquet(parquet, rows=row_count)
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        storage_token="test",
        source="datasets/test.bin",
        original_filename="data.csv",
        status=DatasetVersion.Status.PUBLISHED,
        progress=100,
        parquet=parquet,
        parquet_sha256=parquet_sha,
        row_count=row_count,
        published_at=timezone.now(),
    )
    for position, (name, type_, sensitivity) in enumerate(fields):
        Field.objects.create(
            version=version,
            position=position,
            name=name,
            type=type_,
            sensitivity=sensitivity,
            suggested_sensitivity=sensitivity,
            profile={"top_values": [{"value": "41110", "count": 10}]} if name == "sigungu_code" else {},
        )
    dataset.current_version = version
    dataset.status = Dataset.Status.PUBLISHED
    dataset.published_at = timezone.now()
    dataset.save()
    return dataset


def write_card_parquet(name: str, *, rows: int) -> tuple[str, str]:
    """Synthetic card payments with DEFAULT_FIELDS' columns into storage; (stored name, sha256).

    Deterministic: region, industry, card and merchant cycle with the row number."""
    import tempfile
    from pathlib import Path

    import duckdb

    from catalog.storage import sha256_of, store_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        duckdb.execute(
            f"""COPY (SELECT 'T' || lpad(i::VARCHAR, 6, '0') AS transaction_id,
                   (['41110', '41130', '41150'])[1 + i % 3] AS sigungu_code,
                   (['수원시', '성남시', '의정부시'])[1 + i % 3] AS sigungu_name,
                   (['카페', '한식 음식점', '=HYPERLINK("x")'])[1 + (i // 3) % 3] AS industry,
                   'C' || lpad((i % 17)::VARCHAR, 4, '0') AS card_id,
                   'M' || lpad((i % 5)::VARCHAR, 3, '0') AS merchant_id,
                   (1000 + (i % 10) * 500)::BIGINT AS amount,
                   (['20대', '30대', '40대'])[1 + i % 3] AS age_band,
                   CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS sex,
                   TIMESTAMP '2024-01-01' + INTERVAL (i % 180) DAY AS approved_at,
                   '홍길동' || i AS holder_name
                FROM range({int(rows)}) t(i)) TO '{path}' (FORMAT parquet)"""
        )
        digest = sha256_of(path)
        return store_file(path, name), digest


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer
        skip_postgeneration_save = True

    dataset = factory.LazyFunction(published_dataset)
    name = factory.Sequence(lambda n: f"제공 {n}")
    kind = Offer.Kind.RECORDS
    fields = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]
    region_field = "sigungu_code"
    date_field = "approved_at"
    approval = Offer.Approval.CENTER
    price_krw = 0
    duration_days = 365
    download_quota = 10

    @factory.post_generation
    def terms(obj, create, extracted, **kwargs):
        if create:
            obj.current_terms = LicenseTerms.objects.create(
                offer=obj, version=1, text=extracted or "이 데이터는 명시한 목적으로만 이용합니다."
            )
            obj.save(update_fields=["current_terms"])


def ready_version(dataset: Dataset) -> DatasetVersion:
    """Version 2 of a published dataset: ingested (`ready`, same file and columns as the
    current version), not yet published."""
    current = dataset.current_version
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=2,
        storage_token="v2",
        source=current.source.name,
        original_filename="v2.csv",
        status=DatasetVersion.Status.READY,
        progress=100,
        parquet=current.parquet,
        parquet_sha256=current.parquet_sha256,
        row_count=current.row_count,
    )
    Field.objects.bulk_create(
        [
            Field(
                version=version,
                position=f.position,
                name=f.name,
                type=f.type,
                sensitivity=f.sensitivity,
                suggested_sensitivity=f.sensitivity,
            )
            for f in current.fields.all()
        ]
    )
    return version


def demo_cards_version(curator, center, directory, capture, *, rows: int, seed: int) -> DatasetVersion:
    """The demo's card payments (`rows` over 12 months, generated into `directory`) uploaded by
    `curator` and ingested as a version partitioned by month and 시·군, ready (not yet published).
    `capture` is pytest-django's django_capture_on_commit_callbacks (ingestion runs on commit)."""
    from demo import generator

    source = directory / "card_transactions.parquet"
    generator.generate_card_transactions(source, rows=rows, seed=seed)
    version = cards_upload(curator, center, source, capture)
    assert version.status == DatasetVersion.Status.READY, version.error
    return version


def cards_upload(
    curator, center, source, capture, *, title: str = "경기지역화폐 카드 결제 내역"
) -> DatasetVersion:
    """`source` uploaded by `curator` as the first version of a new card-payments dataset
    partitioned by month (approved_at) and 시·군 (sigungu_code), ingested on commit; returned as
    its ingestion left it (ready or failed)."""
    from django.core.files import File

    from catalog import services

    dataset = services.dataset_create(
        actor=curator,
        center=center,
        title=title,
        theme="local_currency",
        period_field="approved_at",
        partition_region_field="sigungu_code",
    )
    with capture(execute=True), open(source, "rb") as f:
        version = services.version_upload(
            actor=curator, dataset=dataset, file=File(f, name=source.name), filename=source.name
        )
    version.refresh_from_db()
    return version


# A record offer as a center posts it to /api/v1/datasets/<slug>/offers/ (over DEFAULT_FIELDS'
# columns, or the demo's card payments).
RECORD_OFFER = {
    "name": "건별 결제 내역",
    "kind": "records",
    "fields": ["sigungu_code", "industry", "card_id", "amount", "approved_at"],
    "region_field": "sigungu_code",
    "date_field": "approved_at",
    "terms": "연구 목적 외 이용 금지",
}

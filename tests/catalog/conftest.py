import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from tests import factories


@pytest.fixture
def curator(center):
    return factories.member(center, "curator", email="curator@center.kr")


@pytest.fixture
def reviewer(center):
    return factories.member(center, "reviewer", email="reviewer@center.kr")


@pytest.fixture
def dataset(curator, center):
    return services.dataset_create(
        actor=curator,
        center=center,
        title="경기지역화폐 결제 내역",
        title_en="Gyeonggi local currency payments",
        summary="시·군별 카드 결제",
        theme="local_currency",
        regions=["41110", "41130"],
        keywords=["지역화폐", "카드"],
    )


CARD_CSV = (
    "거래번호,시군코드,시군명,업종,카드번호,가맹점번호,금액,연령대,성별,승인일시,성명,연락처\n"
    + "".join(
        f"T{i:04d},{code},{name},{industry},C{i % 7:03d},M{i % 3:02d},{1000 * (i % 10 + 1)},{20 + 10 * (i % 4)}대,{'F' if i % 2 else 'M'},"
        f"2024-0{1 + i % 6}-1{i % 10} 12:00:00,홍길동{i},010-1234-{i:04d}\n"
        for i, (code, name, industry) in enumerate(
            [("41110", "수원시", "음식점"), ("41130", "성남시", "카페"), ("41110", "수원시", "똠양꿍 전문점")]
            * 20
        )
    )
)


def upload(actor, dataset, content: bytes | str, name="data.csv", encoding="utf-8"):
    data = content.encode(encoding) if isinstance(content, str) else content
    return services.version_upload(
        actor=actor, dataset=dataset, file=SimpleUploadedFile(name, data), filename=name
    )


@pytest.fixture
def ingested(curator, dataset, django_capture_on_commit_callbacks):
    """A version of `dataset` ingested (through the real task, run eagerly) from a CP949 CSV."""
    with django_capture_on_commit_callbacks(execute=True):
        version = upload(curator, dataset, CARD_CSV, encoding="cp949")
    version.refresh_from_db()
    return version


@pytest.fixture
def partitioned(curator, center):
    """A dataset partitioned by month (거래일자) and 시·군 (시군코드)."""
    return services.dataset_create(
        actor=curator,
        center=center,
        title="월별 카드 결제",
        theme="local_currency",
        period_field="거래일자",
        partition_region_field="시군코드",
    )

import pytest
from django.test import Client

from catalog import services
from marketplace.actors import SYSTEM
from tests import factories
from tests.catalog.conftest import CARD_CSV, upload


@pytest.fixture
def web():
    """A browser-like client with no language preference: pages come in Korean (the default)."""
    return Client()


@pytest.fixture
def as_user():
    """`as_user(user)` → a client logged in as `user` through the login page's session."""

    def _as(user, language=None):
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if language:
            client.cookies["django_language"] = language
        return client

    return _as


@pytest.fixture
def curator(center):
    return factories.member(center, "curator", email="curator@center.kr", name="큐레이터")


@pytest.fixture
def reviewer(center):
    return factories.member(center, "reviewer", email="reviewer@center.kr", name="심사자")


@pytest.fixture
def analyst(buyer):
    return factories.member(buyer, "analyst", email="analyst@cafe.kr", name="분석가")


@pytest.fixture
def stranger(db):
    """Logged in, but in an organization unrelated to the others."""
    other = factories.OrganizationFactory(kind="buyer", name="다른 회사")
    return factories.member(other, "analyst", email="stranger@other.kr")


@pytest.fixture
def published(center):
    """A published dataset (no data file) with one priced offer."""
    dataset = factories.published_dataset(
        center,
        title="경기지역화폐 카드 결제",
        slug="card-payments",
        summary="수원·성남 카드 결제",
        featured=True,
    )
    services.dataset_update(actor=SYSTEM, dataset=dataset, title=dataset.title)  # indexes it for search
    factories.OfferFactory(
        dataset=dataset, name="가명 거래 내역", price_krw=1_000_000, approval="center_operator"
    )
    return dataset


@pytest.fixture
def draft(center):
    return factories.DatasetFactory(center=center, title="공개 전 데이터", slug="draft-data")


@pytest.fixture
def ingested(curator, center, django_capture_on_commit_callbacks):
    """A dataset with one version ingested from a CP949 CSV (the real task, run eagerly)."""
    dataset = services.dataset_create(
        actor=curator,
        center=center,
        title="경기지역화폐 결제 내역",
        title_en="Gyeonggi local currency payments",
        summary="시·군별 카드 결제",
        theme="local_currency",
        regions=["41110", "41130"],
        keywords=["지역화폐", "카드"],
        description="**굵게** <script>alert(1)</script>",
    )
    with django_capture_on_commit_callbacks(execute=True):
        version = upload(curator, dataset, CARD_CSV, encoding="cp949")
    version.refresh_from_db()
    return version


@pytest.fixture
def live_dataset(curator, ingested):
    """The ingested dataset, published, with a free records offer."""
    services.version_publish(actor=curator, version=ingested)
    dataset = ingested.dataset
    dataset.refresh_from_db()
    services.offer_create(
        actor=curator,
        dataset=dataset,
        terms="연구 목적 외 이용 금지",
        name="공개 결제 내역",
        kind="records",
        fields=["시군코드", "시군명", "업종", "카드번호", "금액", "승인일시"],
        region_field="시군코드",
        date_field="승인일시",
        price_krw=0,
    )
    return dataset

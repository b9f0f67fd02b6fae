import pytest

from insights import services
from insights.models import Release
from marketplace.actors import SYSTEM
from tests import factories

REGION = {"name": "sigungu_code", "field": "sigungu_code"}
INDUSTRY = {"name": "industry", "field": "industry"}
MONTH = {"name": "month", "field": "approved_at", "transform": "month"}
AMOUNT = [{"field": "amount", "agg": "sum"}]


@pytest.fixture
def curator(center):
    return factories.member(center, "curator", email="curator@center.kr")


@pytest.fixture
def cards(center):
    """A published card-payment dataset with 900 synthetic rows (tests.factories: 3 regions,
    3 industries one of which looks like a formula, 17 cards, 5 merchants, 180 days)."""
    return factories.published_dataset(center, with_data=True, row_count=900)


def publish(
    dataset, *, slug="spend-region-month", feature="spend_region_month", dimensions=None, k=5, **extra
):
    """A release published by the platform, its first edition built on commit."""
    return services.release_publish(
        actor=SYSTEM,
        dataset=dataset,
        slug=slug,
        feature=feature,
        title="시·군 × 월 결제",
        title_en="Spending by city and month",
        method="방법",
        dimensions=dimensions or [REGION, MONTH],
        measures=AMOUNT,
        subject_field="card_id",
        dominance_field="merchant_id",
        date_field="approved_at",
        k=k,
        **extra,
    )


@pytest.fixture
def release(cards, django_capture_on_commit_callbacks) -> Release:
    with django_capture_on_commit_callbacks(execute=True):
        release = publish(cards)
    release.refresh_from_db()
    return release

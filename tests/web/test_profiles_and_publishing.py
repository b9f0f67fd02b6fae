"""Issue 17, item 10: profiles that do not mislead, Excel months read as dates, empty records
not counted, publishing asks for the regions and period covered; the operator's breadcrumb and
/favicon.ico answer."""

import datetime

import pytest

from catalog import services
from catalog.models import Dataset
from tests.catalog.conftest import CARD_CSV, upload

pytestmark = pytest.mark.django_db

MONTHLY = (
    "시군명,기준년월,카드사용액\n"
    + "".join(
        f"{name},{month},{amount}\n"
        for name, month, amount in [
            ("수원시", "21-Feb", 100),
            ("성남시", "21-Mar", 200),
            ("수원시", "21-Apr", 300),
            ("화성시", "21-Feb", 5_000_000),
        ]
    )
    + ",,\n"
)


@pytest.fixture
def draft(curator, center):
    return services.dataset_create(
        actor=curator, center=center, title="월별 카드 사용액", theme="local_currency"
    )


def ingest(curator, dataset, text, capture, encoding="cp949"):
    with capture(execute=True):
        version = upload(curator, dataset, text, encoding=encoding)
    version.refresh_from_db()
    assert version.status == "ready", version.error
    return version


def test_months_are_dates_empty_records_do_not_count_and_text_has_no_range(
    curator, draft, django_capture_on_commit_callbacks
):
    version = ingest(curator, draft, MONTHLY, django_capture_on_commit_callbacks)
    assert version.row_count == 4  # the ",," record is not data
    fields = {f.name: f for f in version.fields.all()}
    assert fields["기준년월"].type == "date"
    assert (fields["기준년월"].profile["min"], fields["기준년월"].profile["max"]) == (
        "2021-02-01",
        "2021-04-01",
    )
    assert fields["시군명"].profile["min"] is None and fields["시군명"].profile["max"] is None
    for f in fields.values():
        assert f.profile["distinct_estimate"] <= version.row_count - f.profile["null_count"]


def test_publishing_asks_for_regions_and_period_and_suggests_them(
    as_user, curator, draft, django_capture_on_commit_callbacks
):
    version = ingest(curator, draft, MONTHLY, django_capture_on_commit_callbacks)
    client = as_user(curator, language="ko")
    html = client.get(f"/center/versions/{version.pk}/").content.decode()
    assert "데이터가 다루는 범위" in html
    assert 'name="regions" value="41110"' in html
    for code in ("41110", "41130", "41590"):  # 수원, 성남, 화성: suggested from 시군명
        assert f'value="{code}" id=' in html or f'value="{code}"' in html
    assert 'value="2021-02-01"' in html and 'value="2021-04-01"' in html
    response = client.post(
        f"/center/versions/{version.pk}/publish/",
        {
            "regions": ["41110", "41130", "41590"],
            "temporal_start": "2021-02-01",
            "temporal_end": "2021-04-30",
        },
    )
    assert response.status_code == 302
    draft = Dataset.objects.get(pk=draft.pk)
    assert draft.status == "published"
    assert draft.regions == ["41110", "41130", "41590"]
    assert (draft.temporal_start, draft.temporal_end) == (
        datetime.date(2021, 2, 1),
        datetime.date(2021, 4, 30),
    )
    found = client.get("/datasets/", {"region": "41590"}).content.decode()
    assert "월별 카드 사용액" in found  # region browsing finds it


def test_a_dataset_that_says_its_coverage_is_not_asked_again(
    as_user, curator, dataset_with_coverage, django_capture_on_commit_callbacks
):
    version = ingest(curator, dataset_with_coverage, CARD_CSV, django_capture_on_commit_callbacks)
    html = as_user(curator, language="en").get(f"/center/versions/{version.pk}/").content.decode()
    assert "What does the data cover?" not in html and 'id="publish-button"' in html


@pytest.fixture
def dataset_with_coverage(curator, center):
    return services.dataset_create(
        actor=curator,
        center=center,
        title="카드 결제",
        regions=["41110"],
        temporal_start=datetime.date(2024, 1, 1),
        temporal_end=datetime.date(2024, 6, 30),
    )


def test_operator_breadcrumb_and_favicon_answer(web, as_user, operator, published):
    assert as_user(operator, language="ko").get("/center/").status_code == 200
    favicon = web.get("/favicon.ico")
    assert favicon.status_code == 301 and favicon["Location"].endswith(".svg")

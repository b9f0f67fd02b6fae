"""Issue 17, item 1: search finds datasets by the places they cover, their column titles, their
center and the values of their public categorical columns — in Korean and English, with the
home page's own examples. Runs on SQLite and, with DATABASE_URL, on PostgreSQL (ranked)."""

import io
import re

import pytest
from django.core.management import call_command

from catalog import services
from catalog.models import Dataset
from tests import factories
from tests.catalog.conftest import upload  # noqa: F401  (the fixtures below use the CSV)
from tests.services import database_is_postgres


@pytest.fixture
def published(curator, ingested):
    services.version_publish(actor=curator, version=ingested)
    ingested.dataset.refresh_from_db()
    return ingested.dataset


def slugs(api, q):
    response = api.get("/api/v1/datasets/", {"q": q})
    assert response.status_code == 200, response.content
    return [d["slug"] for d in response.json()["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q",
    [
        "수원",
        "수원시",
        "성남",
        "Suwon",
        "suwon-si",
        "Seongnam",
        "카페",
        "음식점",
        "똠양꿍",
        "업종",
        "수원 카페",
        "수원의 카페",
    ],
)
def test_places_values_and_columns_find_the_dataset(api, published, q):
    assert slugs(api, q) == [published.slug]


@pytest.mark.django_db
def test_words_the_dataset_does_not_contain_find_nothing(api, published):
    assert slugs(api, "부산") == []
    assert slugs(api, "수원 부동산") == []  # every word must match
    assert slugs(api, "Busan") == []


@pytest.mark.django_db
def test_values_of_columns_that_are_not_public_are_not_searchable(api, published):
    # 성명 (names) and 연락처 are identifiers: their values never reach the search text.
    assert "홍길동" not in Dataset.objects.get(pk=published.pk).search_text
    assert slugs(api, "홍길동") == []


@pytest.mark.django_db
def test_a_column_title_set_by_the_center_is_searchable(api, curator, published):
    services.version_fields_update(
        actor=curator,
        version=published.current_version,
        changes=[{"name": "금액", "title": "결제금액(원)"}],
    )
    assert slugs(api, "결제금액") == [published.slug]


@pytest.mark.django_db
def test_the_center_name_is_searchable(api, published):
    assert slugs(api, "운영센터") == [published.slug]


@pytest.mark.django_db
def test_the_home_page_examples_each_find_something(client, published):
    client.cookies["django_language"] = "en"
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    placeholder = re.search(r'id="home-q"[^>]*placeholder="([^"]+)"', page).group(1)
    examples = [e.strip() for e in placeholder.removeprefix("e.g.").split(",")]
    assert len(examples) >= 3
    for example in examples:
        found = client.get("/datasets/", {"q": example}, HTTP_ACCEPT_LANGUAGE="en")
        assert f"/datasets/{published.slug}/" in found.content.decode(), example


@pytest.mark.django_db
def test_reindex_command_brings_old_datasets_up_to_date(api, published, django_capture_on_commit_callbacks):
    Dataset.objects.filter(pk=published.pk).update(search_text="")
    assert slugs(api, "수원") == []
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reindex_search", stdout=io.StringIO())
    assert slugs(api, "수원") == [published.slug]


@pytest.mark.django_db
@pytest.mark.services
@pytest.mark.skipif(not database_is_postgres(), reason="DATABASE_URL does not point at PostgreSQL")
def test_on_postgresql_a_dataset_about_the_place_ranks_first(api, center, published):
    other = factories.published_dataset(
        center=center, title="성남시 기업 현황", title_en="Companies", regions=["41130"]
    )
    services.dataset_reindex(actor=factories.member(center, "curator"), dataset=other)
    assert set(slugs(api, "성남")) == {published.slug, other.slug}
    assert slugs(api, "성남")[0] == other.slug  # the title says 성남; the other only covers it

"""The catalog's cache, stamped per dataset (issue 18): a change to one dataset forgets its own
pages and the lists at once, and leaves the cached pages of every other dataset in use."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from catalog import cache as catalog_cache
from catalog import services
from tests import factories


@pytest.fixture
def two(db):
    first = factories.published_dataset(title="첫째 데이터", with_data=True, row_count=300)
    second = factories.published_dataset(center=first.center, title="둘째 데이터")
    return first, second


def _urls(dataset) -> list[str]:
    return [f"/api/v1/datasets/{dataset.slug}/", f"/datasets/{dataset.slug}/"]


def _count_stores(monkeypatch) -> list[str]:
    """The kinds of entries made from now on (a request answered from the cache makes none)."""
    stored: list[str] = []
    real = catalog_cache.store
    monkeypatch.setattr(
        catalog_cache,
        "store",
        lambda found, value: stored.append(found.key.split(":")[1]) or real(found, value),
    )
    return stored


def _visit_all(api, datasets) -> None:
    for dataset in datasets:
        for url in _urls(dataset):
            assert api.get(url).status_code == 200, url
    assert api.get("/api/v1/datasets/").status_code == 200


@pytest.mark.django_db
def test_a_change_to_one_dataset_leaves_the_other_datasets_pages_cached(
    api, two, monkeypatch, django_capture_on_commit_callbacks
):
    first, second = two
    curator = factories.member(first.center, "curator")
    _visit_all(api, two)  # everything made and cached
    stored = _count_stores(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_update(actor=curator, dataset=first, title="바뀐 제목")
    for url in _urls(second):
        assert "둘째 데이터" in api.get(url).content.decode()
    assert stored == []  # the other dataset's pages came from the cache
    assert api.get(_urls(first)[0]).json()["title"] == "바뀐 제목"
    assert "바뀐 제목" in api.get(_urls(first)[1]).content.decode()
    assert "바뀐 제목" in {d["title"] for d in api.get("/api/v1/datasets/").json()["results"]}
    assert sorted(stored) == ["detail-json", "list-json", "visitor-page"]  # made again, once each


@pytest.mark.django_db
def test_an_offer_change_forgets_its_datasets_page(api, two, django_capture_on_commit_callbacks):
    first, _ = two
    curator = factories.member(first.center, "curator")
    assert "지역 상권 묶음" not in api.get(_urls(first)[1]).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_create(
            actor=curator,
            dataset=first,
            terms="약관",
            kind="records",
            name="지역 상권 묶음",
            fields=["sigungu_name", "amount"],
            price_krw=0,
        )
    assert "지역 상권 묶음" in api.get(_urls(first)[1]).content.decode()


@pytest.mark.django_db
def test_a_stamp_lost_from_the_cache_does_not_bring_back_an_older_page(
    api, two, django_capture_on_commit_callbacks
):
    """Redis may evict a stamp (it has no expiry, but memory runs out): the stamp that comes back
    must be one no entry was made under, or an entry made before a change would be served again."""
    first, _ = two
    curator = factories.member(first.center, "curator")
    url = _urls(first)[0]
    assert api.get(url).json()["title"] == "첫째 데이터"  # cached under the first stamps
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_update(actor=curator, dataset=first, title="바뀐 제목")
    cache.delete_many(
        [catalog_cache.CATALOG_KEY, catalog_cache.LISTS_KEY, catalog_cache.dataset_key(first.slug)]
    )
    assert api.get(url).json()["title"] == "바뀐 제목"


@pytest.mark.django_db
def test_a_change_to_the_whole_catalog_forgets_every_dataset_page(
    api, two, monkeypatch, django_capture_on_commit_callbacks
):
    _visit_all(api, two)
    stored = _count_stores(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_cache.changed()
    _visit_all(api, two)
    assert sorted(stored) == sorted(["detail-json", "visitor-page"] * 2 + ["list-json"])

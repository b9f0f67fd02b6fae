"""The hand-written dataset representation (catalog.representations) is the serializer's, byte
for byte, on datasets of every shape, in both languages and for both audiences; the API sends
it (a cache miss and a cache hit answer the same bytes)."""

import datetime

import pytest
from django.utils import timezone, translation

from catalog import representations
from catalog.api import DatasetDetailSerializer
from catalog.models import Dataset, DatasetVersion, Field
from marketplace.api import rendered_json
from tests import factories

pytestmark = pytest.mark.django_db

PROFILE = {
    "nulls": 0,
    "distinct": 3,
    "top_values": [{"value": "41110", "count": 40}, {"value": "41130", "count": 2}],
    "min": "2024-01-03T10:00:00",
    "max": "2024-06-30T22:10:00",
}


def _loaded(dataset) -> Dataset:
    return (
        Dataset.objects.select_related("center", "current_version")
        .prefetch_related("current_version__fields")
        .get(pk=dataset.pk)
    )


def _shapes(center):
    """A dataset with everything set, one with a failed imported version and no coverage, and a
    draft with no version at all."""
    full = factories.published_dataset(
        center,
        description="## 출처\n\n- [경기데이터드림](https://data.gg.go.kr) <script>x</script>",
        description_en="**Source**: Gyeonggi",
        keywords=["지역화폐", "카드"],
        regions=["41110", "41130", "99999"],  # one code no region has
        temporal_start=datetime.date(2024, 1, 1),
        temporal_end=datetime.date(2024, 6, 30),
    )
    Field.objects.filter(version=full.current_version).update(profile=PROFILE, title="승인 일시")
    DatasetVersion.objects.filter(pk=full.current_version_id).update(
        started_at=datetime.datetime(2024, 7, 1, 1, 2, 3, 456789, tzinfo=datetime.UTC),
        finished_at=timezone.now(),
        dialect={"delimiter": ",", "header": True},
    )
    failed = factories.published_dataset(center, regions=[])
    DatasetVersion.objects.filter(pk=failed.current_version_id).update(
        status="failed",
        error="bad_encoding",
        error_detail={"file": "2024-07.csv"},
        error_row=12,
        error_column="금액",
        row_count=None,
    )
    draft = factories.DatasetFactory(center=center, status="draft", keywords=[])
    return [_loaded(d) for d in (full, failed, draft)]


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("full_profiles", [True, False])
@pytest.mark.parametrize("zone", ["Asia/Seoul", "UTC"])  # UTC: DRF writes "Z"
def test_it_is_the_serializers_representation(center, language, full_profiles, zone):
    with translation.override(language), timezone.override(zone):
        for dataset in _shapes(center):
            expected = DatasetDetailSerializer(dataset, context={"full_profiles": full_profiles}).data
            made = representations.dataset_detail(dataset, full_profiles=full_profiles)
            assert made == expected, dataset.slug
            assert rendered_json(made) == rendered_json(expected)  # key order and value types too


def test_outsiders_get_counts_only_for_non_public_columns(center):
    dataset = _shapes(center)[0]
    shown = {
        f["name"]: f["profile"]
        for f in representations.dataset_detail(dataset, full_profiles=False)["current_version"]["fields"]
    }
    whole = {
        f["name"]: f["profile"]
        for f in representations.dataset_detail(dataset, full_profiles=True)["current_version"]["fields"]
    }
    assert whole["card_id"]["top_values"] and "top_values" not in shown["card_id"]  # an identifier
    assert [t["value"] for t in shown["sigungu_code"]["top_values"]] == ["41110"]  # k = 5: 2 is dropped


def test_the_api_sends_it_from_a_miss_and_from_the_cache(api, center):
    dataset = _shapes(center)[0]
    with translation.override("en"):
        expected = rendered_json(
            DatasetDetailSerializer(_loaded(dataset), context={"full_profiles": False}).data
        )
    first = api.get(f"/api/v1/datasets/{dataset.slug}/")
    again = api.get(f"/api/v1/datasets/{dataset.slug}/")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content == expected

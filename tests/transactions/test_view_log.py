"""Dataset views with the shared Redis cache: buffered per read, written in batches, every view
counted in the providers' statistics, none lost when a write fails."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from catalog import view_log
from catalog.models import DatasetView
from catalog.tasks import flush_dataset_views
from tests import factories
from tests.services import broker_is_redis, redis_reachable

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings):
    """The default cache on the Redis server of CELERY_BROKER_URL, under a prefix of its own."""
    if not (broker_is_redis() and redis_reachable()):
        pytest.skip("needs the Redis server of CELERY_BROKER_URL")
    settings.CACHES = {
        "default": {
            "BACKEND": "marketplace.cache.RedisCache",
            "LOCATION": settings.CELERY_BROKER_URL,
            "KEY_PREFIX": f"view-log-test-{uuid.uuid4().hex}",
        }
    }
    yield
    client, key = view_log._redis()
    client.delete(key)


def _month(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


def _views(login, user, dataset) -> dict[str, int]:
    response = login(user).get(f"/api/v1/stats/?dataset={dataset.slug}")
    assert response.status_code == 200, response.content
    [stats] = response.json()["results"]
    return {m["month"]: m["views"] for m in stats["months"]}


def test_reads_are_buffered_and_every_one_counts_in_the_statistics(world, login, api, redis_cache):
    dataset = factories.published_dataset(world.center)
    for _ in range(3):
        assert api.get(f"/api/v1/datasets/{dataset.slug}/").status_code == 200
    assert api.get(f"/datasets/{dataset.slug}/").status_code == 200
    login(world.buyer_analyst).get(f"/api/v1/datasets/{dataset.slug}/")

    # No row per read: the five views wait in Redis.
    assert DatasetView.objects.filter(dataset=dataset).count() == 0
    assert view_log.pending() == 5

    # The provider's statistics write them first: nothing made so far is missing.
    assert _views(login, world.center_curator, dataset) == {_month(timezone.now()): 5}
    assert view_log.pending() == 0
    assert DatasetView.objects.filter(dataset=dataset).count() == 5
    # The buyer's view is kept with the buyer's organization, anonymous ones without one.
    assert DatasetView.objects.filter(dataset=dataset, organization=world.buyer).count() == 1


def test_the_beat_task_writes_each_view_with_the_time_it_was_made(world, login, redis_cache):
    dataset = factories.published_dataset(world.center)
    earlier = timezone.now() - datetime.timedelta(days=40)
    view_log.record(dataset.pk, None, earlier)
    view_log.record(dataset.pk, world.buyer.pk, timezone.now())

    assert flush_dataset_views.apply().get() == 2
    stored = sorted(DatasetView.objects.filter(dataset=dataset).values_list("viewed_at", flat=True))
    assert abs(stored[0] - earlier) < datetime.timedelta(milliseconds=1)
    assert _views(login, world.center_curator, dataset) == {_month(earlier): 1, _month(timezone.now()): 1}


def test_a_write_that_fails_leaves_every_view_in_the_buffer_in_order(world, redis_cache, monkeypatch):
    dataset = factories.published_dataset(world.center)
    times = [timezone.now() - datetime.timedelta(minutes=m) for m in (3, 2, 1)]
    for at in times:
        view_log.record(dataset.pk, None, at)
    client, key = view_log._redis()
    before = client.lrange(key, 0, -1)

    def broken(rows):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(view_log, "_insert", broken)
    with pytest.raises(RuntimeError):
        view_log.flush()
    assert client.lrange(key, 0, -1) == before
    monkeypatch.undo()

    view_log.record(dataset.pk, None, timezone.now())  # made while the database was away
    assert view_log.flush() == 4
    assert DatasetView.objects.filter(dataset=dataset).count() == 4


def test_views_of_a_dataset_deleted_before_the_flush_are_dropped_and_the_rest_written(world, redis_cache):
    from catalog import services as catalog
    from marketplace.actors import SYSTEM

    kept = factories.published_dataset(world.center)
    gone = catalog.dataset_create(actor=SYSTEM, center=world.center, title="곧 지워질 초안")  # no version yet
    view_log.record(gone.pk, world.buyer.pk, timezone.now())
    view_log.record(kept.pk, world.buyer.pk, timezone.now())
    gone.delete()

    assert view_log.flush() == 1
    assert view_log.pending() == 0
    assert list(DatasetView.objects.values_list("dataset_id", flat=True)) == [kept.pk]


def test_batches_larger_than_one_take_are_all_written(world, redis_cache, monkeypatch):
    dataset = factories.published_dataset(world.center)
    monkeypatch.setattr(view_log, "BATCH", 7)
    for _ in range(30):
        view_log.record(dataset.pk, None, timezone.now())
    assert view_log.flush() == 30
    assert DatasetView.objects.filter(dataset=dataset).count() == 30

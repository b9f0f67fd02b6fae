"""Default rate limits on every API view, and their own (lower) budgets for the costly previews
and feeds (issue 15). tests/settings.py lifts the limits for the suite; these tests put real
rates back with the `settings` fixture (DRF re-reads them; marketplace.throttling reads them at
each request)."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver

from marketplace.throttling import AnonThrottle, ScopedThrottle, UserThrottle
from tests import factories
from tests.conftest import english_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**changes):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **{scope: None for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
                **changes,
            },
        }

    return set_rates


def _api_views():
    from config import urls

    views = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and prefix.startswith("api/v1/"):
                view = getattr(pattern.callback, "cls", None)
                if view is not None:
                    views.append((pattern.name, view))

    walk(urls.urlpatterns)
    return views


def test_every_api_view_counts_anonymous_and_signed_in_callers():
    missing = [
        name
        for name, view in _api_views()
        if not {AnonThrottle, UserThrottle, ScopedThrottle} <= set(view.throttle_classes)
    ]
    assert _api_views() and missing == []


def test_anonymous_callers_are_limited_per_address(rates, center):
    rates(anon="3/min")
    api = english_client()
    answers = [api.get("/api/v1/datasets/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    throttled = api.get("/api/v1/datasets/")
    assert throttled.json()["detail"] and int(throttled["Retry-After"]) > 0
    assert english_client().get("/api/v1/datasets/", REMOTE_ADDR="198.51.100.1").status_code == 200


def test_signed_in_callers_are_limited_per_user(rates, login, buyer):
    analyst, manager = factories.member(buyer, "analyst"), factories.member(buyer, "manager")
    first, second = login(analyst), login(manager)  # tokens made before the limit
    rates(user="2/min")
    assert [first.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/api/v1/me/").status_code == 200  # another user has their own budget


def test_previews_have_their_own_budget(rates, center):
    dataset = factories.published_dataset(center, with_data=True, row_count=20)
    factories.OfferFactory(dataset=dataset, fields=["sigungu_code", "industry", "amount"])
    rates(preview="2/min")
    api = english_client()
    path = f"/api/v1/datasets/{dataset.slug}/preview/"
    assert [api.get(path).status_code for _ in range(3)] == [200, 200, 429]
    assert api.get(f"/api/v1/datasets/{dataset.slug}/").status_code == 200  # cheap reads go on


def test_feeds_have_their_own_budget(rates, center):
    dataset = factories.published_dataset(center)
    rates(feed="2/min")
    web = Client()
    assert [web.get("/catalog.jsonld").status_code for _ in range(3)] == [200, 200, 429]
    schema = f"/api/v1/versions/{dataset.current_version_id}/tableschema.json"
    assert english_client().get(schema, REMOTE_ADDR="198.51.100.2").status_code == 200
    assert english_client().get(schema).status_code == 429  # the same feed budget for this address
    assert web.get("/datasets/").status_code == 200


@pytest.fixture(params=["locmem", "redis"])
def counters(request, monkeypatch, settings):
    """The cache the throttles count in: the per-process default (two cache calls per request)
    and Redis, as deployed (one script call per request)."""
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    if request.param == "locmem":
        return cache
    from tests.services import broker_is_redis, redis_reachable

    if not (broker_is_redis() and redis_reachable()):
        pytest.skip("needs the Redis server of CELERY_BROKER_URL")
    import uuid

    from marketplace.cache import RedisCache

    redis_cache = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}"})
    monkeypatch.setattr(SimpleRateThrottle, "cache", redis_cache)
    return redis_cache


class _Clock:
    """The throttles' clock, set by the test (seconds)."""

    def __init__(self, monkeypatch, start: float):
        self.now = start
        for throttle in (AnonThrottle, UserThrottle, ScopedThrottle):
            monkeypatch.setattr(throttle, "timer", lambda _self: self.now)


def test_requests_of_the_last_minute_count_across_the_minute_boundary(rates, center, monkeypatch, counters):
    """A caller cannot double its budget by spending it at a minute's end and again at the next
    minute's start: the previous minute still weighs in for the part that lies within the last
    60 seconds, and Retry-After says when the next request fits."""
    clock = _Clock(monkeypatch, start=6_000_050.0)  # 50 s into a minute
    rates(anon="4/min")
    api = english_client()
    assert [api.get("/api/v1/datasets/").status_code for _ in range(4)] == [200] * 4
    clock.now += 20  # 10 s into the next minute: 4 × 50/60 of the last one still counts
    refused = api.get("/api/v1/datasets/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "5"  # 4 × (1 - 15/60) = 3 requests: room for one more
    clock.now += 5
    assert api.get("/api/v1/datasets/").status_code == 200
    assert api.get("/api/v1/datasets/").status_code == 429
    clock.now += 120  # two quiet minutes: the whole budget again
    assert [api.get("/api/v1/datasets/").status_code for _ in range(5)] == [200] * 4 + [429]


def test_a_full_window_waits_for_the_next_one(rates, center, monkeypatch, counters):
    clock = _Clock(monkeypatch, start=6_000_000.0)  # a minute's start
    rates(anon="3/min")
    api = english_client()
    assert [api.get("/api/v1/datasets/").status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.now += 30
    refused = api.get("/api/v1/datasets/")
    # 30 s to the next minute, then 3 × (1 - t/60) + 1 <= 3 from t = 20 s into it
    assert refused.status_code == 429 and refused["Retry-After"] == "50"
    clock.now += 49
    assert api.get("/api/v1/datasets/").status_code == 429
    clock.now += 1
    assert api.get("/api/v1/datasets/").status_code == 200


def test_what_is_kept_per_caller_does_not_grow_with_its_requests(rates, center, monkeypatch, counters):
    """Two counters per caller, whatever the rate: DRF's throttle kept every request's time."""
    clock = _Clock(monkeypatch, start=6_000_010.0)
    rates(anon="1000/min")
    api = english_client()
    for _ in range(40):
        assert api.get("/api/v1/datasets/").status_code == 200
    throttle = AnonThrottle()
    key = throttle.cache_format % {"scope": "anon", "ident": "127.0.0.1"}
    assert counters.get(f"{key}:{int(clock.now // 60)}") == 40
    assert counters.get(key) is None  # no list of times beside it


def test_the_user_budget_is_for_signed_in_callers(rates, center, counters):
    rates(anon="5/min", user="2/min")
    api = english_client()
    assert [api.get("/api/v1/datasets/").status_code for _ in range(6)] == [200] * 5 + [429]

"""The Redis cache backend (marketplace.cache) keeps one client per pool and behaves as Django's."""

import pytest

from tests.services import broker_is_redis, redis_reachable


def test_redis_cache_reuses_one_client_and_works(settings):
    if not (broker_is_redis() and redis_reachable()):
        pytest.skip("needs the Redis server of CELERY_BROKER_URL")
    from marketplace.cache import RedisCache

    cache = RedisCache(settings.CELERY_BROKER_URL, {"KEY_PREFIX": "jangteo-cache-test"})
    try:
        cache.set("a", {"지역": "수원시"}, 30)
        assert cache.get("a") == {"지역": "수원시"}
        assert cache.get_many(["a", "missing"]) == {"a": {"지역": "수원시"}}
        assert cache.add("n", 1) and not cache.add("n", 5)
        assert cache.incr("n") == 2 and cache.get("n") == 2
        assert cache.incr("n", 5) == 7
        with pytest.raises(ValueError):
            cache.incr("missing")  # as Django's: no key is made without its timeout
        assert cache.get("missing") is None
        cache.set("t", 1, 30)
        cache.incr("t")
        ttl = cache._cache.get_client().ttl(cache.make_and_validate_key("t"))
        assert 0 < ttl <= 30  # the increment keeps the timeout
        client = cache._cache.get_client()
        assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    finally:
        cache.delete_many(["a", "n", "t"])


def test_a_redis_cache_url_selects_this_backend(tmp_path):
    import subprocess
    import sys

    from tests.test_settings import REPO, production_like_environ

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        ],
        cwd=REPO,
        env={
            **production_like_environ(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "JANGTEO_VAR_DIR": str(tmp_path),
            "CACHE_URL": "redis://127.0.0.1:6379/1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "marketplace.cache.RedisCache", result.stderr

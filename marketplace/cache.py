"""The Redis cache backend, without a new client object for every operation, and with an
increment in one round trip."""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis

# What the entries of the apps' caches (catalog.cache, insights.cache) hold, in which form, as
# part of every key: a deployment that changes it bumps this, so that entries an older deployment
# left in the shared cache are never read (2: pages kept with their Korean particles resolved,
# marketplace.korean.resolved_for_cache).
ENTRY_FORMAT = 2


class RedisCacheClient(django_redis.RedisCacheClient):
    """Django's client makes a new redis.Redis for each cache call (it builds a table of some
    170 response callbacks each time, costlier than the round trip on loopback). One per
    connection pool is kept instead; redis.Redis is safe to share, and Django keeps a cache
    object, with its pools, per thread anyway."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    # INCRBY only where the key exists (Django's client asks EXISTS first: two round trips).
    _INCR_EXISTING = (
        "if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrby', KEYS[1], ARGV[1]) end"
    )

    def incr(self, key, delta=1):
        value = self.get_client(key, write=True).eval(self._INCR_EXISTING, 1, key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    # A rate limit's sliding window (marketplace.throttling): read this window's and the
    # previous window's counts, and count the request if the estimate leaves room for it.
    _COUNT_IN_WINDOW = """
        local current = tonumber(redis.call('get', KEYS[1]) or '0')
        local previous = tonumber(redis.call('get', KEYS[2]) or '0')
        if previous * tonumber(ARGV[1]) + current + 1 > tonumber(ARGV[2]) then
            return {current, previous, 0}
        end
        if redis.call('incr', KEYS[1]) == 1 then redis.call('expire', KEYS[1], ARGV[3]) end
        return {current, previous, 1}
    """

    def count_in_window(self, current, previous, *, weight, limit, timeout):
        found = self.get_client(current, write=True).eval(
            self._COUNT_IN_WINDOW, 2, current, previous, repr(float(weight)), limit, int(timeout)
        )
        return int(found[0]), int(found[1]), bool(found[2])


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def count_in_window(self, current: str, previous: str, *, weight: float, limit: int, timeout: int):
        """(current count, previous count, counted): the request is counted in `current` when
        previous × weight + current + 1 ≤ limit; `current` lives `timeout` seconds from its
        first request. One round trip, atomic."""
        return self._cache.count_in_window(
            self.make_and_validate_key(current),
            self.make_and_validate_key(previous),
            weight=weight,
            limit=limit,
            timeout=timeout,
        )

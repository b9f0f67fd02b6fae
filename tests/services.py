"""Which real services this run has (so tests can skip, and CI can insist)."""

from __future__ import annotations

from django.conf import settings


def database_is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; return it, or fail after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def free_port() -> int:
    """A local TCP port nobody listens on now (for a server to take, or to stand for one gone)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """Whether something accepts connections on host:port."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True

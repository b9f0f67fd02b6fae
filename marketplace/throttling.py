"""API rate limits (DRF throttles) that read their rates when they run, so tests can change them
with override_settings, and the same limits for plain Django views (`throttle_web`).

The limits are counted in a sliding window of two fixed windows (the current window's count plus
the previous one's, weighted by how much of it still lies within the last `duration` seconds):
two small integers per caller in the cache, and one round trip per request on Redis (a script
that reads, decides and counts; two calls on other caches). DRF's own throttle
keeps a list of every request's time in the window and reads and writes the whole list on each
request: at 1,200 requests a minute that is 1,200 floats pickled twice per request."""

from __future__ import annotations

import functools
from types import SimpleNamespace

from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.settings import api_settings
from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)


class _LiveRates:
    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES


class _SlidingWindow(SimpleRateThrottle):
    """DRF's throttle interface over two counters per caller (see the module's docstring).

    The estimate never falls below the true number of requests in the last `duration` seconds
    by more than the previous window's requests that have already left it: near a window's start
    it errs on the strict side, as a limit should."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.elapsed = self.now - window * self.duration
        current, previous = f"{self.key}:{window}", f"{self.key}:{window - 1}"
        weight = 1 - self.elapsed / self.duration  # of the previous window's count
        # Kept for two windows: the next window still reads this one as its previous.
        counted = getattr(self.cache, "count_in_window", None)
        if counted is not None:  # Redis: the whole decision in one round trip
            self.current, self.previous, allowed = counted(
                current, previous, weight=weight, limit=self.num_requests, timeout=2 * self.duration
            )
            return allowed or self.throttle_failure()
        counts = self.cache.get_many([current, previous])
        self.current, self.previous = counts.get(current, 0), counts.get(previous, 0)
        if self.previous * weight + self.current + 1 > self.num_requests:
            return self.throttle_failure()
        if self.current or not self.cache.add(current, 1, 2 * self.duration):
            try:
                self.cache.incr(current)
            except ValueError:  # expired between the read and the increment
                self.cache.add(current, 1, 2 * self.duration)
        return True

    def wait(self):
        """Seconds until one more request fits (None for a limit of 0): within this window
        while the previous window's share runs out, else in the next window, where this
        window's count becomes the previous one."""
        n, d = self.num_requests, self.duration
        if self.current + 1 <= n:  # previous * (1 - (elapsed + t) / d) + current + 1 <= n
            if not self.previous:  # the rate changed since the refusal: no advice
                return None
            return max(1.0, d * (1 - (n - 1 - self.current) / self.previous) - self.elapsed)
        if not self.current:
            return None
        return (d - self.elapsed) + d * (1 - (n - 1) / self.current)


class AnonThrottle(_LiveRates, AnonRateThrottle, _SlidingWindow):
    """Anonymous callers, per address (THROTTLE_ANON)."""


class UserThrottle(_LiveRates, UserRateThrottle, _SlidingWindow):
    """Signed-in callers, per user (THROTTLE_USER). Anonymous callers are counted by
    AnonThrottle alone (DRF's would count them a second time, per address, at this rate)."""

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class ScopedThrottle(_LiveRates, ScopedRateThrottle, _SlidingWindow):
    """A view's own scope (`throttle_scope`): auth, upload, download, preview, feed."""


def throttle_web(scope: str, methods: tuple[str, ...] = ("GET", "HEAD", "POST")):
    """Apply the API's `scope` rate to a Django view: over the limit, a 429 page."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                throttle = ScopedThrottle()
                if not throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
                    wait = throttle.wait()
                    response = render(
                        request,
                        "429.html",
                        {"message": _("Too many requests. Wait a minute and try again.")},
                        status=429,
                    )
                    if wait is not None:
                        response["Retry-After"] = str(max(1, int(wait)))
                    return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator

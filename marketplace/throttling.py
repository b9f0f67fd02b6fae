"""API rate limits (DRF throttles) that read their rates when they run, so tests can change them
with override_settings, and the same limits for plain Django views (`throttle_web`)."""

from __future__ import annotations

import functools
from types import SimpleNamespace

from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class _LiveRates:
    @property
    def THROTTLE_RATES(self):
        return api_settings.DEFAULT_THROTTLE_RATES


class AnonThrottle(_LiveRates, AnonRateThrottle):
    """Anonymous callers, per address (THROTTLE_ANON)."""


class UserThrottle(_LiveRates, UserRateThrottle):
    """Signed-in callers, per user (THROTTLE_USER)."""


class ScopedThrottle(_LiveRates, ScopedRateThrottle):
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

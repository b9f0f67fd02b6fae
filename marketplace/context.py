"""Request facts that services record in the audit trail (the caller's IP address) without
taking the request as an argument. Set by RequestContextMiddleware for each web/API request."""

from __future__ import annotations

from contextvars import ContextVar

from django.conf import settings

client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)


def request_client_ip(request) -> str | None:
    # Behind NUM_PROXIES trusted proxies, the client is that many hops from the right of
    # X-Forwarded-For; anything further left is whatever the client chose to send.
    proxies = getattr(settings, "REST_FRAMEWORK", {}).get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = client_ip.set(request_client_ip(request))
        try:
            return self.get_response(request)
        finally:
            client_ip.reset(token)


class RejectNulMiddleware:
    """A NUL character in a URL or query parameter is never legitimate, and PostgreSQL cannot
    store or compare it; refuse such requests up front with a 400 instead of a server error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.GET.items()):
            from django.http import HttpResponseBadRequest, JsonResponse
            from django.utils.translation import gettext as _

            message = _("The address contains a NUL character, which is not allowed.")
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)

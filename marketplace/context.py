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


class RejectInvalidTextMiddleware:
    """Text the client sends must be text. A NUL character in the address or a query parameter
    is never legitimate (PostgreSQL cannot store or compare it), and bytes that are not UTF-8 in
    the query string or a form-encoded body would otherwise be replaced by U+FFFD silently and
    stored. Such requests are refused up front: a JSON 400 under /api/, a plain 400 elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils.translation import gettext as _

        message = None
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.GET.items()):
            message = _("The address contains a NUL character, which is not allowed.")
        elif not _form_encoded_utf8(request.META.get("QUERY_STRING", "").encode("latin-1", "replace")):
            message = _("The query string is not valid UTF-8.")
        elif request.content_type == "application/x-www-form-urlencoded" and not _form_encoded_utf8(
            _body(request)
        ):
            message = _("The form body is not valid UTF-8.")
        if message is None:
            return self.get_response(request)
        from django.http import HttpResponseBadRequest, JsonResponse

        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message)


def _form_encoded_utf8(data: bytes) -> bool:
    """Whether every name and value of an application/x-www-form-urlencoded string decodes as
    UTF-8 once its %-escapes are undone."""
    from urllib.parse import unquote_to_bytes

    try:
        unquote_to_bytes(data.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _body(request) -> bytes:
    """The body, or nothing when it is over Django's size limit: the view answers that (413)."""
    from django.core.exceptions import RequestDataTooBig

    try:
        return request.body
    except RequestDataTooBig:
        return b""

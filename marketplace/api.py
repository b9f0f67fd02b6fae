"""API plumbing shared by every app: pagination and the one place errors become JSON."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import Resolver404
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace import errors

# Ids are 64-bit integers in the database (BigAutoField).
MAX_ID = 2**63 - 1


def is_id(value) -> bool:
    """`value`, from a query parameter, is an id the database can compare: ASCII digits only
    (`str.isdigit` also accepts "²", which `int()` refuses) and within the integer range."""
    value = str(value)
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


def rendered_json(data) -> bytes:
    """`data` as the API's JSON renderer writes it: kept in the cache as it will be sent."""
    return JSONRenderer().render(data)


def cached_answer(request, body: bytes):
    """An answer kept as `rendered_json` bytes: sent as they are to a JSON client (no
    unpickling of data and no encoding again); the browsable API, or JSON asked for with an
    indent, gets the data rendered as usual."""
    media_type = request.accepted_media_type or ""
    if request.accepted_renderer.format == "json" and "indent" not in media_type:
        return HttpResponse(body, content_type="application/json")
    import json

    return Response(json.loads(body))


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _first_message(data) -> str | None:
    if isinstance(data, dict):
        for key, value in data.items():
            message = _first_message(value)
            if message:
                return message if key == "non_field_errors" else f"{key}: {message}"
    elif isinstance(data, list):
        for value in data:
            message = _first_message(value)
            if message:
                return message
    elif data:
        return str(data)
    return None


def _encodable(value):
    """Error messages may quote what the client sent; a lone surrogate (JSON `\\ud800`) in it
    cannot be encoded as UTF-8, so it is written out as its escape instead."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value


def error_response(message: str, status_code: int, errors_by_field: dict | None = None):
    body = {"detail": _encodable(message)}
    if errors_by_field:
        body["errors"] = _encodable(errors_by_field)
    return Response(body, status=status_code)


def exception_handler(exc, context):
    """Every error is `{"detail": "...", "errors": {...}}` (API.md, conventions)."""
    if isinstance(exc, errors.ApplicationError):
        return error_response(exc.message, exc.status_code, exc.errors)
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            _("The request body is larger than %(limit)s bytes.")
            % {"limit": f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}"},
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        # Django's limits on a form body (DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES), met while DRF
        # parses it; left alone they become Django's HTML 400 page.
        return error_response(
            _("The form has too many fields or files; send the request as JSON."),
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        return error_response(_("Not found."), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        first = _first_message(data) or _("Invalid input.")
        return error_response(
            _("The request has invalid values: %(first)s") % {"first": first},
            status.HTTP_400_BAD_REQUEST,
            data,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def not_found(request, exception=None):
    """The root URLconf's handler404: under /api/ the JSON error shape, elsewhere the site's page.
    DRF's views answer their own 404s (`exception_handler`); this one also catches the paths no
    route matches, which never reach DRF."""
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    if isinstance(exception, Resolver404):
        message = _("No API operation has this address; the operations are listed at /api/docs/.")
    else:
        message = _("Not found.")
    return JsonResponse(
        {"detail": message}, status=status.HTTP_404_NOT_FOUND, json_dumps_params={"ensure_ascii": False}
    )

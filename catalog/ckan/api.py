"""The CKAN Action API's HTTP side: one view for every action, GET (query string) or POST (JSON
or form body) alike, answering `{"help", "success", "result"}` — and errors, mapped here in one
place, as CKAN does: `{"success": false, "error": {"__type", "message"}}` with 404 for an object
the caller cannot see, 409 for invalid parameters or searches, 403 for a refused key, 400 for an
unknown action."""

from __future__ import annotations

from django.http import QueryDict
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.authentication import TokenAuthentication
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from catalog.ckan import actions
from marketplace import errors
from marketplace.api import _encodable


class CKANKeyAuthentication(TokenAuthentication):
    """CKAN clients send the bare API key (`Authorization: <key>`, `X-CKAN-API-Key: <key>`);
    it is checked as the project's own token (`Authorization: Token <key>` works as well)."""

    def authenticate(self, request):
        key = request.META.get("HTTP_X_CKAN_API_KEY") or request.META.get("HTTP_AUTHORIZATION", "")
        key = key.strip()
        if not key or " " in key:
            return None  # none, or a scheme the other authentication classes read
        token_class = next(
            (c for c in api_settings.DEFAULT_AUTHENTICATION_CLASSES if issubclass(c, TokenAuthentication)),
            TokenAuthentication,
        )
        return token_class().authenticate_credentials(key)


def _help(request, action: str) -> str:
    return request.build_absolute_uri(f"/api/3/action/help_show?name={action}")


def _params(request) -> dict:
    if request.method == "GET":
        return {key: request.query_params.get(key) for key in request.query_params}
    data = request.data
    if isinstance(data, QueryDict):
        return {key: data.get(key) for key in data}
    if not isinstance(data, dict):
        raise errors.ApplicationError(_("Send the action's parameters as a JSON object."))
    return data


def _error(request, action: str, status: int, type_: str, message: str, fields: dict | None = None):
    error = {"__type": type_, "message": message, **(fields or {})}
    return Response(
        {"help": _help(request, action), "success": False, "error": _encodable(error)}, status=status
    )


@extend_schema(exclude=True)  # CKAN's API, documented by CKAN; not part of /api/v1/
class ActionView(APIView):
    authentication_classes = [CKANKeyAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    permission_classes = [permissions.AllowAny]

    def get(self, request, action: str):
        return self._run(request, action)

    def post(self, request, action: str):
        return self._run(request, action)

    def _run(self, request, action: str):
        function = actions.ACTIONS.get(action)
        if function is None:
            return _error(
                request,
                action,
                400,
                "Bad Request",
                _("Action name not known: %(action)s") % {"action": action},
            )
        result = function(request.user, _params(request))
        return Response({"help": _help(request, action), "success": True, "result": result})

    def handle_exception(self, exc):
        """Every error in CKAN's shape (the API's only error mapping)."""
        action = self.kwargs.get("action", "")
        request = self.request
        if isinstance(exc, errors.NotFound | exceptions.NotFound):
            return _error(request, action, 404, "Not Found Error", _("Not found."))
        if isinstance(exc, actions.SearchQueryError):
            return _error(request, action, 409, "Search Query Error", f"Search Query Error: {exc.message}")
        refused = errors.PermissionDenied | exceptions.AuthenticationFailed | exceptions.PermissionDenied
        if isinstance(exc, refused):
            message = exc.message if isinstance(exc, errors.ApplicationError) else str(exc.detail)
            return _error(request, action, 403, "Authorization Error", message)
        if isinstance(exc, errors.ApplicationError):
            return _error(request, action, 409, "Validation Error", exc.message, exc.errors)
        if isinstance(exc, exceptions.ParseError | exceptions.UnsupportedMediaType):
            return _error(request, action, 400, "Bad Request", str(exc.detail))
        if isinstance(exc, exceptions.APIException):
            return _error(request, action, exc.status_code, type(exc).__name__, str(exc.detail))
        raise exc

"""Login lockout hooks for django-axes: who is trying (the e-mail, however it was posted),
from where (the same client address the audit trail records), and the answer when locked."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from marketplace.context import request_client_ip


def login_identity(request, credentials) -> str:
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if value is None and request is not None:
        value = request.POST.get("email") or request.POST.get("username")
    return (value or "").strip().lower()


def client_ip(request) -> str:
    return request_client_ip(request) or ""


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _("Too many failed logins. Wait %(minutes)s minutes and try again, or reset your password.") % {
        "minutes": minutes
    }


def lockout_response(request, credentials, *args, **kwargs):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=429)
    return render(request, "registration/locked_out.html", {"message": lockout_message()}, status=429)


# --- API tokens -----------------------------------------------------------------------------------


def token_digest(key: str) -> str:
    """What the database keeps of an API token's key (a leaked table yields no usable token)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def password_fingerprint(user) -> str:
    """Changes whenever the password does (by any route: the pages, the admin, the shell), so a
    token made before the change stops working even if nothing revoked it explicitly."""
    return salted_hmac("jangteo.api_token.password", user.password or "", algorithm="sha256").hexdigest()


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` for keys made by accounts.services.api_token_create (a DRF
    TokenAuthentication by its header, so the OpenAPI schema documents it the same way)."""

    keyword = "Token"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header: send `Token <key>`."))
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        """The user and token of an unexpired, unrevoked key (also for keys sent bare, as CKAN
        clients send them: catalog.ckan)."""
        from accounts.models import ApiToken

        token = ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This token has been revoked; get a new one."))
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(_("This token has expired; get a new one."))
        if not constant_time_compare(token.password_fingerprint, password_fingerprint(token.user)):
            ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now(), revoked_reason="password_changed"
            )
            raise exceptions.AuthenticationFailed(_("This token has been revoked; get a new one."))
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword

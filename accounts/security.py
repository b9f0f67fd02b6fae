"""Login lockout hooks for django-axes: who is trying (the e-mail, however it was posted),
from where (the same client address the audit trail records), and the answer when locked."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

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

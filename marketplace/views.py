"""What every web view shares: turning domain errors into form errors or HTTP answers,
pagination."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from marketplace import errors

PAGE_SIZE = 20


def apply_errors(form, exc: errors.ApplicationError, *, field_map: dict | None = None) -> None:
    """Show a service's refusal on the form: each of `exc.errors` on its field (names mapped by
    `field_map`, e.g. "organization.name" → "org_name"), the rest with the message on top."""
    field_map = field_map or {}
    placed = False
    for key, messages_ in exc.errors.items():
        name = field_map.get(key, key)
        if isinstance(messages_, str):
            messages_ = [messages_]
        if name in form.fields:
            for message in messages_:
                form.add_error(name, str(message))
            placed = True
        else:
            for message in messages_:
                form.add_error(None, f"{key}: {message}" if key not in ("non_field_errors", "") else message)
    if not placed or not exc.errors:
        form.add_error(None, exc.message)


def web_errors(view):
    """Domain errors a view does not handle itself become HTTP answers: what the user may not
    see is a 404; what they may see but not do, a 403; a refused state change on a POST goes
    back where the user came from with the reason shown."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except errors.NotFound as exc:
            raise Http404(exc.message) from exc
        except errors.PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        except errors.ApplicationError as exc:
            if request.method != "POST":
                raise
            messages.error(request, exc.message)
            return redirect(back_url(request))

    return wrapper


def back_url(request, default: str = "/") -> str:
    """Where to return after a POST: `next` or the referring page, if on this site."""
    for candidate in (request.POST.get("next"), request.META.get("HTTP_REFERER")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return default


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    """A page of `queryset` from ?page=, and the query string without `page` for links."""
    page = Paginator(queryset, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()

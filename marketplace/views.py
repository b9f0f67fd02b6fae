"""Web pages of the platform as a whole (home, health) and what every web view shares: the
navigation context, turning domain errors into form errors or HTTP answers, pagination."""

from __future__ import annotations

import functools
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import Membership, Organization
from accounts.selectors import is_operator
from catalog.models import Dataset
from catalog.selectors import platform_figures, published_theme_counts
from catalog.vocabularies import Theme
from marketplace import errors
from marketplace.models import WorkerHeartbeat

PAGE_SIZE = 20


# --- shared by every web view ---------------------------------------------------------------


def user_roles(user) -> dict:
    """What the navigation needs to know about a user, in one query: which kinds of
    organization they act for, and their organizations."""
    empty = {"buyer": False, "center": False, "operator": False, "organizations": [], "unread": 0}
    if user is None or not getattr(user, "is_authenticated", False):
        return empty
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name", "role")
    )
    organizations = list({m.organization_id: m.organization for m in memberships}.values())
    kinds = {m.organization.kind for m in memberships}
    from transactions.selectors import unread_count

    return {
        "buyer": Organization.Kind.BUYER in kinds,
        "center": Organization.Kind.CENTER in kinds,
        "operator": is_operator(user),
        "organizations": organizations,
        "unread": unread_count(user),
    }


def navigation(request) -> dict:
    """Context processor: `nav` (the user's roles, read only when a template asks)."""
    user = getattr(request, "user", None)
    return {"nav": SimpleLazyObject(lambda: user_roles(user))}


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


# --- pages ------------------------------------------------------------------------------------


def privacy_page(request):
    """How the privacy engine protects people, in plain words (linked from every dataset page)."""
    return render(request, "privacy.html")


def home(request):
    published = Dataset.objects.filter(status=Dataset.Status.PUBLISHED).select_related(
        "center", "current_version"
    )
    counts = published_theme_counts()
    themes = [
        {"value": value, "label": label, "count": counts.get(value, 0)} for value, label in Theme.choices
    ]
    return render(
        request,
        "home.html",
        {
            "themes": themes,
            "featured": published.filter(featured=True).order_by("-published_at", "-id")[:3],
            "newest": published.order_by("-published_at", "-id")[:6],
            "figures": platform_figures(),
        },
    )


def health(request):
    """Liveness for load balancers and `make run`: the database answers; workers seen lately."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    recent = WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - timedelta(minutes=5))
    return JsonResponse({"database": "ok", "workers": list(recent.values_list("hostname", flat=True))})

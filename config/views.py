"""Pages of the platform as a whole (home, health) and the navigation context: the project
level, which may read every app."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from accounts.models import Membership, Organization
from accounts.selectors import is_operator
from catalog.models import Dataset
from catalog.selectors import platform_figures, published_theme_counts
from catalog.vocabularies import Theme
from marketplace.models import WorkerHeartbeat
from transactions.selectors import unread_count


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


def operator_details(request) -> dict:
    """Context processor: `operator` (who runs the platform, for the footer and the documents)."""
    from django.conf import settings

    return {"operator": settings.OPERATOR_DETAILS}


def _document(request, name: str, version: str = ""):
    """A legal document in the reader's language (the text is one template per language)."""
    from django.conf import settings
    from django.utils.translation import get_language

    language = "en" if (get_language() or "ko").startswith("en") else "ko"
    return render(
        request,
        "documents/page.html",
        {"body": f"documents/{name}_{language}.html", "name": name, "version": version, "settings": settings},
    )


def terms_page(request):
    """이용약관: the terms of service every sign-up agrees to (its version is kept per person)."""
    from django.conf import settings

    return _document(request, "terms", settings.TERMS_VERSION)


def privacy_policy_page(request):
    """개인정보처리방침: what personal data the platform keeps about its users, why and how long."""
    from django.conf import settings

    return _document(request, "privacy_policy", settings.PRIVACY_POLICY_VERSION)


def support_page(request):
    """고객센터: how to reach the operator."""
    return _document(request, "support")


def favicon(request):
    """/favicon.ico: the logo, looked up at request time (with the manifest storage of
    production, a static URL cannot be computed when the URLs are imported)."""
    from django.http import HttpResponsePermanentRedirect
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("img/jangteo.svg"))


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

"""The insight pages: the Gyeonggi overview, a page per 시·군, "my business vs my area", and the
downloads of every chart (CSV, SVG) and of every release (CSV). Thin: charts come from
insights.presentation over materialized cells; pages are cached per language and filters."""

from __future__ import annotations

import csv
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from catalog.views import CSRF_SLOT, for_visitor
from catalog.vocabularies import gyeonggi_regions, regions_by_code
from insights import cache, presentation, regions, selectors
from marketplace.korean import resolved_for_cache
from marketplace.views import web_errors
from transactions.extracts.writers import neutralise_text


def _region_link(code: str) -> str:
    return reverse("insights-region", args=[code])


def _decorate(chart: presentation.Chart, params: dict, page_url: str, page_query: str) -> dict:
    download = reverse("insights-chart", args=[chart.key])
    query = urlencode([*sorted(params.items())])
    joiner = "&" if query else ""
    return {
        "chart": chart,
        "csv_url": f"{download}?{query}{joiner}format=csv",
        "svg_url": f"{download}?{query}{joiner}format=svg",
        "permalink": f"{page_url}{'?' + page_query if page_query else ''}#{chart.key}",
        "api_url": reverse("v1:insight-detail", args=[chart.source]) if chart.source else "",
    }


def _charts(page: str, keys, params: dict, page_url: str, *, in_query: bool = False) -> str:
    """The charts `keys` for `params` as HTML (cached per language: every visitor sees the same
    figures); `in_query`: the page takes its filters from the query string (the permalink
    repeats them), else from its path."""

    def build():
        page_query = urlencode(sorted(params.items())) if in_query else ""
        items = []
        for key in keys:
            kwargs = {"link": _region_link} if key in ("gg-map", "region-map") else {}
            chart = presentation.build(key, params, **kwargs)
            items.append(_decorate(chart, params, page_url, page_query))
        region_map = regions.region_map()
        return render_to_string(
            "insights/_charts.html",
            {"items": items, "map_is_tiles": region_map.tiles, "map_attribution": region_map.attribution},
        )

    return mark_safe(cache.cached("page", (page, sorted(params.items()), get_language()), build))  # noqa: S308


def _page(request, template: str, context, *key) -> HttpResponse:
    """Render `template` with `context()`. A visitor (not signed in, no message waiting) gets the
    whole page from the cache, the same for every visitor but for the CSRF token of the language
    switch; `key` says what the page depends on besides the language (its cleaned filters)."""
    if request.user.is_authenticated or len(messages.get_messages(request)):
        return render(request, template, context())
    html = cache.cached(
        "visitor-page",
        (template, key, get_language()),
        lambda: resolved_for_cache(
            render_to_string(template, {**context(), "csrf_token": CSRF_SLOT}, request=request)
        ),
    )
    return for_visitor(request, html)


def insights_home(request):
    page_url = reverse("insights")
    return _page(
        request,
        "insights/overview.html",
        lambda: {
            "charts": _charts("overview", presentation.OVERVIEW, {}, page_url),
            "regions": gyeonggi_regions(),
            "releases": cache.cached("releases", (), lambda: list(selectors.releases_listed())),
        },
    )


def insights_region(request, code: str):
    region = regions_by_code().get(code)
    if region is None:
        raise Http404(_("There is no such city or county in Gyeonggi."))
    params = {"region": code}
    page_url = reverse("insights-region", args=[code])
    return _page(
        request,
        "insights/region.html",
        lambda: {
            "region": region,
            "neighbours": [regions_by_code()[c] for c in regions.neighbours(code) if c in regions_by_code()],
            "charts": _charts("region", presentation.REGION, params, page_url),
            "industries": presentation.industries(),
            "regions": gyeonggi_regions(),
        },
        code,
    )


def insights_compare(request):
    params = presentation.clean_params(request.GET)
    complete = "region" in params and "industry" in params
    page_url = reverse("insights-compare")
    asked = bool(request.GET.get("region") or request.GET.get("industry"))
    return _page(
        request,
        "insights/compare.html",
        lambda: {
            "params": params,
            "complete": complete,
            "invalid": asked and not complete,
            "regions": gyeonggi_regions(),
            "industries": presentation.industries(),
            "region": regions_by_code().get(params.get("region", "")),
            "charts": _charts("compare", presentation.COMPARE, params, page_url, in_query=True)
            if complete
            else [],
        },
        tuple(sorted(params.items())),
        asked,
    )


def _csv_response(filename: str, headers: list[str], rows) -> HttpResponse:
    """A UTF-8 CSV with a BOM (Excel opens Korean text right), every text cell neutralised
    against formula injection."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([neutralise_text(str(h)) for h in headers])
    for row in rows:
        writer.writerow(["" if v is None else neutralise_text(v) if isinstance(v, str) else v for v in row])
    return response


@web_errors
def insights_chart(request, key: str):
    """One chart's data as CSV (`?format=csv`) or its picture as SVG (`?format=svg`), for the
    filters in the query string."""
    params = presentation.clean_params(request.GET)
    try:
        chart = cache.cached(
            "chart", (key, sorted(params.items()), get_language()), lambda: presentation.build(key, params)
        )
    except presentation.UnknownChart as exc:
        raise Http404(_("There is no such chart, or a filter it needs is missing.")) from exc
    suffix = "-".join([key, *(params[k] for k in ("region", "industry") if k in params)])
    if request.GET.get("format") == "svg":
        if not chart.svg:
            raise Http404(_("This chart has no figures to draw."))
        response = HttpResponse(
            '<?xml version="1.0" encoding="UTF-8"?>\n' + chart.svg,
            content_type="image/svg+xml; charset=utf-8",
        )
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(suffix)}.svg"
        return response
    rows = [[*row, "suppressed" if any(v is None for v in row) else ""] for row in chart.rows]
    return _csv_response(f"{suffix}.csv", [*chart.headers, _("Note")], rows)


@web_errors
def insights_release_csv(request, slug: str):
    """A whole release (its current edition) as CSV, filtered like the API."""
    release = selectors.release_for(request.user, slug)
    rows = selectors.edition_rows(release.current, {k: request.GET.getlist(k) for k in request.GET})
    names = release.current.columns if release.current else []
    headers = [c["name"] for c in names] + ["suppressed"]
    return _csv_response(
        f"{release.slug}.csv",
        headers,
        ([row.get(h) for h in headers[:-1]] + [str(row["suppressed"]).lower()] for row in rows),
    )

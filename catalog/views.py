"""Catalog web pages: the public catalog and dataset pages, and the centers' pages for their
datasets, versions, fields and offers. Thin: each reads through catalog.selectors or writes
through one catalog.services function."""

from __future__ import annotations

import hashlib
import json

import duckdb
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Organization
from accounts.selectors import buyer_organization_ids, center_organization_ids, is_operator
from catalog import cache as catalog_cache
from catalog import feeds, import_store, permissions, risk_reports, selectors, services
from catalog.forms import (
    PRICE_CHOICES,
    SORT_CHOICES,
    CatalogSearchForm,
    DatasetForm,
    FieldsForm,
    ImportForm,
    OfferForm,
    PublishCoverageForm,
    RiskThresholdForm,
    UploadForm,
    offer_errors,
)
from catalog.models import Dataset, DatasetVersion, Offer, Sensitivity, UploadMode
from catalog.rendering import markdown_to_html
from catalog.services import imports as import_services
from catalog.vocabularies import Theme, regions_by_code
from marketplace import charts, errors, reactions
from marketplace.korean import resolved, resolved_for_cache
from marketplace.money import vat_krw
from marketplace.throttling import throttle_web
from marketplace.views import apply_errors, paginate, web_errors


def _english() -> bool:
    return (get_language() or "ko").startswith("en")


def _pick(ko: str, en: str) -> str:
    """The English text when the page is in English and one exists, else the Korean."""
    return en if _english() and en else ko


@throttle_web("feed")
def catalog_jsonld(request):
    return JsonResponse(
        feeds.dcat_catalog(),
        content_type="application/ld+json",
        json_dumps_params={"ensure_ascii": False},
    )


# --- the public catalog -----------------------------------------------------------------------


def _link(query, **changes) -> str:
    """The current query string with `changes` applied (None removes a key) and no page."""
    q = query.copy()
    q.pop("page", None)
    for key, value in changes.items():
        if value is None:
            q.pop(key, None)
        else:
            q[key] = value
    encoded = q.urlencode()
    return f"?{encoded}" if encoded else "?"


def _facet(query, key: str, options, counts: dict | None, current) -> list[dict]:
    items = []
    for value, label in options:
        count = None if counts is None else counts.get(str(value), 0)
        if counts is not None and not count and str(value) != str(current or ""):
            continue
        selected = str(value) == str(current or "")
        items.append(
            {
                "label": label,
                "count": count,
                "selected": selected,
                "url": _link(query, **{key: None if selected else str(value)}),
            }
        )
    return items


def catalog_page(request):
    form = CatalogSearchForm(request.GET)
    params = form.params()
    # Visitors (not signed in, no message waiting) share the result pages: one per language and
    # query string (as the API's lists), with each visitor's own CSRF token (like dataset pages).
    if request.user.is_authenticated or len(messages.get_messages(request)):
        return render(request, "catalog/catalog.html", _catalog_context(request, form, params))
    whole = catalog_cache.lookup("visitor-list", get_language(), request.META.get("QUERY_STRING", ""))
    if whole.value is None:
        context = {**_catalog_context(request, form, params), "csrf_token": CSRF_SLOT}
        html = resolved_for_cache(render_to_string("catalog/catalog.html", context, request=request))
        catalog_cache.store(whole, html)
        return for_visitor(request, html)
    return for_visitor(request, whole.value)


def _catalog_context(request, form: CatalogSearchForm, params) -> dict:
    results = selectors.dataset_search(request.user, params)
    facets = selectors.dataset_facets(results)
    page, page_query = paginate(request, results)
    center_ids = {int(c) for c in facets["center"]} | ({params.center} if params.center else set())
    centers = selectors.centers_visible_to(request.user).filter(pk__in=center_ids).order_by("name")
    regions = regions_by_code()
    query = request.GET
    theme_labels, approval_labels = dict(Theme.choices), dict(Offer.Approval.choices)
    active = []
    if params.q:
        active.append({"label": f"“{params.q}”", "url": _link(query, q=None)})
    if params.theme:
        active.append({"label": theme_labels[params.theme], "url": _link(query, theme=None)})
    if params.center:
        name = next((c.name for c in centers if c.pk == params.center), _("Unknown center"))
        active.append({"label": name, "url": _link(query, center=None)})
    if params.region:
        active.append({"label": regions[params.region].label, "url": _link(query, region=None)})
    if params.price:
        active.append({"label": dict(PRICE_CHOICES)[params.price], "url": _link(query, price=None)})
    if params.approval:
        active.append({"label": approval_labels[params.approval], "url": _link(query, approval=None)})
    facet_groups = [
        ("theme", _("Theme"), _facet(query, "theme", Theme.choices, facets["theme"], params.theme)),
        (
            "center",
            _("Center"),
            _facet(query, "center", [(c.pk, c.name) for c in centers], facets["center"], params.center),
        ),
        (
            "region",
            _("Region"),
            _facet(
                query,
                "region",
                sorted(((code, regions[code].label) for code in regions), key=lambda r: r[1]),
                facets["region"],
                params.region,
            ),
        ),
        ("price", _("Price"), _facet(query, "price", PRICE_CHOICES, None, params.price)),
        ("approval", _("Approval"), _facet(query, "approval", Offer.Approval.choices, None, params.approval)),
    ]
    for dataset in page:
        dataset.display_title = _pick(dataset.title, dataset.title_en)
        dataset.display_summary = _pick(dataset.summary, dataset.summary_en)
        dataset.region_names = [regions[c].label for c in dataset.regions if c in regions]
    return {
        "form": form,
        "params": params,
        "page": page,
        "page_query": page_query,
        "facet_groups": facet_groups,
        "active_filters": active,
        "clear_url": reverse("catalog"),
        "sorts": [
            {"value": v, "label": label, "selected": v == (params.sort or "")} for v, label in SORT_CHOICES
        ],
    }


# --- the dataset page ---------------------------------------------------------------------------


def profile_view(field, *, full: bool) -> dict:
    """A column's profile for display: whole for the center (`full`); for everyone else as
    `selectors.field_profile_shown` releases it (counts only for non-public columns, no single
    record's value, histogram bins of at least k records)."""
    profile = selectors.field_profile_shown(field, full=full)
    show_values = full or field.sensitivity == Sensitivity.PUBLIC
    label = field.title or field.name
    view = {
        "null_count": profile.get("null_count"),
        "distinct": profile.get("distinct_estimate"),
        "min": profile.get("min") if show_values else None,
        "max": profile.get("max") if show_values else None,
        "chart": None,
        "top_values": [],
    }
    if not show_values:
        return view
    if profile.get("histogram"):
        view["chart"] = charts.histogram(
            profile["histogram"], title=_("Distribution of %(column)s") % {"column": label}
        )
    elif profile.get("top_values") and max(v.get("count") or 0 for v in profile["top_values"]) > 1:
        top = profile["top_values"][:10]
        view["top_values"] = top
        view["chart"] = charts.horizontal_bar_chart(
            [(str(v.get("value")), v.get("count") or 0) for v in top],
            title=_("Most frequent values of %(column)s") % {"column": label},
        )
    return view


def _preview(version, fields=None, *, dataset=None, user=None) -> dict | None:
    """Sample rows with the privacy rules applied; None when the data cannot be read. With
    `dataset`: what the public dataset page shows, the same for every visitor outside the center
    (the page is cached for them): the preview an anonymous visitor may see, never raw records."""
    try:
        if dataset is not None:
            from catalog import permissions

            insider = permissions.dataset_manage_view(user, dataset)
            return selectors.preview_for(user if insider else None, dataset, limit=10, fields=fields)
        return selectors.version_preview(version, limit=10, fields=fields)
    except (duckdb.Error, OSError):
        return None


def offer_display(offer, fields_by_name: dict) -> dict:
    columns = [fields_by_name.get(name) for name in (offer.fields or [])]
    return {
        "offer": offer,
        "name": _pick(offer.name, offer.name_en),
        "vat": vat_krw(offer.price_krw),
        "total": offer.price_krw + vat_krw(offer.price_krw),
        "columns": [c for c in columns if c is not None],
        "terms": offer.current_terms.text if offer.current_terms else "",
        "terms_version": offer.current_terms.version if offer.current_terms else None,
    }


def _region_labels(codes) -> list[str]:
    known = regions_by_code()
    return [known[c].label for c in codes if c in known]


# Where a visitor's CSRF token goes in a page rendered once for every visitor (see for_visitor).
CSRF_SLOT = "csrf0slot0for0this0visitor"


def _whole_page_cacheable(request) -> bool:
    """A visitor's page is the same for every visitor unless a message is waiting for them.
    (Not with a query string: the page takes none, and made-up ones would only fill the cache.)"""
    return (
        not request.user.is_authenticated
        and not request.META.get("QUERY_STRING")
        and not len(messages.get_messages(request))
    )


def for_visitor(request, html: str) -> HttpResponse:
    """A page rendered with CSRF_SLOT (and its particles resolved), given this visitor's own
    CSRF token."""
    return resolved(HttpResponse(html.replace(CSRF_SLOT, get_token(request))))


def _viewer(request, slug: str, can_request: bool) -> tuple[str, dict]:
    """The kind of viewer the article is cached for, and what a buyer holds of its offers.

    Everyone outside the center sees the same article, but for the offers' call to action
    (request access / log in): rendered once per kind of viewer and cached briefly. A buyer
    who holds a license or an open request for an offer sees that instead of the plain request
    button: the article is cached per what is held, not per person."""
    viewer = "buyer" if can_request else "member" if request.user.is_authenticated else "anonymous"
    holdings = (
        reactions.ask(reactions.OFFER_HOLDINGS, {}, user=request.user, dataset_id=_dataset_id(slug))
        if can_request
        else {}
    )
    if holdings:
        viewer = "buyer:" + hashlib.sha256(repr(sorted(holdings.items())).encode()).hexdigest()[:16]
    return viewer, holdings


def _page_dataset(request, slug: str, cached):
    """The dataset of the page: a stand-in from the cached article for a visitor (answered
    from the cache alone, see catalog/cache.py), else read as the viewer may see it (404)."""
    if cached.value is not None and not request.user.is_authenticated:
        return catalog_cache.stand_in(cached.value["dataset"])
    visible = selectors.datasets_visible_to(request.user).order_by()
    if cached.value is None:  # the article is made here: it needs the center and version
        visible = visible.select_related("center", "current_version")
    try:
        return visible.get(slug=slug)
    except Dataset.DoesNotExist:
        raise Http404 from None


def dataset_page(request, slug):
    # A visitor (not signed in) gets the whole page from the cache: the same for every visitor
    # but for the CSRF token of the language switch.
    whole = None
    if _whole_page_cacheable(request):
        whole = catalog_cache.lookup("visitor-page", get_language(), request.get_full_path(), dataset=slug)
        if whole.value is not None:
            dataset = catalog_cache.stand_in(whole.value["dataset"])
            services.dataset_record_view(actor=request.user, dataset=dataset)
            return for_visitor(request, whole.value["html"])
    signed_in = request.user.is_authenticated
    can_request = bool(buyer_organization_ids(request.user))
    viewer, holdings = _viewer(request, slug, can_request)
    # (A visitor's article is in the whole page cached above; it is not kept on its own.)
    cached = (
        catalog_cache.lookup("page", get_language(), slug, viewer, dataset=slug)
        if whole is None
        else catalog_cache.MISSING
    )
    dataset = _page_dataset(request, slug, cached)
    services.dataset_record_view(actor=request.user, dataset=dataset)
    context = {
        "dataset": dataset,
        "title": _pick(dataset.title, dataset.title_en),
        "can_manage": signed_in and permissions.dataset_manage_view(request.user, dataset),
        "can_request": can_request,
        "signed_in": signed_in,
        "page_url": request.path,
        "holdings": holdings,
    }
    loaded = cached.value is None  # read with its center and version above
    if context["can_manage"]:
        article = _dataset_article(request, dataset, context, loaded=loaded)
    else:
        article = cached.value
        if article is None:
            article = _dataset_article(request, dataset, context, loaded=loaded)
            if whole is None:
                catalog_cache.store(cached, {"dataset": catalog_cache.facts(dataset), **article})
    page = {
        **context,
        "body": mark_safe(article["body"]),  # noqa: S308 - rendered from our template
        "schema_org": mark_safe(article["schema_org"]),  # noqa: S308 - JSON with "<" escaped
    }
    if whole is None:
        return render(request, "catalog/dataset_detail.html", page)
    html = render_to_string("catalog/dataset_detail.html", {**page, "csrf_token": CSRF_SLOT}, request=request)
    html = resolved_for_cache(html)
    catalog_cache.store(whole, {"dataset": catalog_cache.facts(dataset), "html": html})
    return for_visitor(request, html)


def _dataset_id(slug: str) -> int | None:
    return Dataset.objects.filter(slug=slug).values_list("pk", flat=True).first()


def _dataset_article(request, dataset, context, *, loaded: bool) -> dict:
    """The dataset page's article (description, coverage, offers, schema, profiles, preview) and
    its schema.org markup, as strings. `loaded`: the dataset was read with its center and version."""
    if not loaded:
        dataset = Dataset.objects.select_related("center", "current_version").get(pk=dataset.pk)
    if dataset.current_version is not None:
        dataset.current_version.dataset = dataset  # the preview's pseudonym key reads it
    parts = _dataset_page_parts(request.user, dataset)
    schema_org = parts.pop("schema_org")
    held = context.get("holdings") or {}
    parts["offers"] = [{**o, "held": held.get(o["offer"].pk)} for o in parts["offers"]]
    body = render_to_string(
        "catalog/_dataset_article.html",
        {
            **context,
            **parts,
            "summary": _pick(dataset.summary, dataset.summary_en),
            "version": dataset.current_version,
            "region_names": _region_labels(dataset.regions),
            "LANGUAGE_CODE": get_language(),
        },
    )
    return {"body": str(body), "schema_org": schema_org}


def _dataset_page_parts(user, dataset) -> dict:
    """What the dataset page shows that depends only on the dataset and whether `user` manages
    it: description, schema.org markup, columns with their profiles, offers, preview."""
    version = dataset.current_version
    fields = list(version.fields.all()) if version else []
    by_name = {f.name: f for f in fields}
    offers = list(selectors.offers_visible_to(user, dataset))
    # JSON inside <script>: escape "<" so a description cannot close the tag.
    jsonld = json.dumps(feeds.schema_org_dataset(dataset, offers), ensure_ascii=False).replace("<", "\\u003c")
    return {
        "description_html": mark_safe(  # noqa: S308 - sanitised by nh3
            markdown_to_html(_pick(dataset.description, dataset.description_en))
        ),
        "schema_org": jsonld,
        "fields": fields,
        "columns": [{"field": f, "profile": profile_view(f, full=False)} for f in fields],
        "offers": [offer_display(o, by_name) for o in offers],
        "preview": (
            _preview(version, fields, dataset=dataset, user=user) if version and version.parquet else None
        ),
    }


# --- the centers' pages ---------------------------------------------------------------------------


def _center_ids(user) -> list[int]:
    return center_organization_ids(user)


def _managed_dataset(user, slug) -> Dataset:
    """A dataset the user manages (its center's member, or an operator); others get a 404."""
    dataset = (
        selectors.datasets_visible_to(user)
        .select_related("center", "current_version")
        .filter(slug=slug)
        .first()
    )
    if dataset is None or not permissions.dataset_manage_view(user, dataset):
        raise Http404
    return dataset


def _managed_version(user, pk) -> DatasetVersion:
    version = selectors.versions_visible_to(user).filter(pk=pk).first()
    if version is None or not permissions.dataset_manage_view(user, version.dataset):
        raise Http404
    return version


@login_required
def center_datasets(request):
    center_ids = _center_ids(request.user)
    operator = is_operator(request.user)  # the breadcrumbs of the pages they manage lead here
    if not center_ids and not operator:
        raise Http404
    datasets = (
        (Dataset.objects.all() if operator else Dataset.objects.filter(center_id__in=center_ids))
        .select_related("center", "current_version")
        .order_by("-updated_at", "-id")
    )
    page, page_query = paginate(request, datasets)
    return render(request, "center/datasets.html", {"page": page, "page_query": page_query})


@login_required
@web_errors
def center_dataset_new(request):
    centers = list(Organization.objects.filter(pk__in=_center_ids(request.user)).order_by("name"))
    if not centers:
        raise Http404
    form = DatasetForm(request.POST or None, centers=centers)
    if request.method == "POST" and form.is_valid():
        center = next((c for c in centers if c.pk == form.cleaned_data.get("center")), centers[0])
        try:
            dataset = services.dataset_create(actor=request.user, center=center, **form.values())
        except errors.ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The dataset is created as a draft. Upload its first file."))
            return redirect("center-dataset", dataset.slug)
    return render(request, "center/dataset_form.html", {"form": form, "dataset": None})


@login_required
@web_errors
def center_dataset(request, slug):
    dataset = _managed_dataset(request.user, slug)
    versions = dataset.versions.order_by("-number")
    offers = dataset.offers.select_related("current_terms").order_by("price_krw", "id")
    return render(
        request,
        "center/dataset.html",
        {
            "dataset": dataset,
            "versions": versions,
            "offers": offers,
            "upload_form": UploadForm(),
            "can_edit": permissions.dataset_update(request.user, dataset),
            "region_names": _region_labels(dataset.regions),
        },
    )


@login_required
@web_errors
def center_dataset_edit(request, slug):
    dataset = _managed_dataset(request.user, slug)
    form = DatasetForm(request.POST or None, initial=DatasetForm.initial_from(dataset))
    if request.method == "POST" and form.is_valid():
        try:
            services.dataset_update(actor=request.user, dataset=dataset, **form.values())
        except errors.ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The dataset's details are saved."))
            return redirect("center-dataset", dataset.slug)
    return render(request, "center/dataset_form.html", {"form": form, "dataset": dataset})


@login_required
@require_POST
@web_errors
def center_dataset_retire(request, slug):
    dataset = _managed_dataset(request.user, slug)
    services.dataset_retire(actor=request.user, dataset=dataset)
    messages.success(request, _("The dataset is retired; licenses already issued keep their files."))
    return redirect("center-dataset", dataset.slug)


def _upload_page(request, dataset, form, import_form):
    return render(
        request,
        "center/upload.html",
        {
            "dataset": dataset,
            "form": form,
            "import_form": import_form,
            "import_prefix": import_store.center_uri(dataset.center_id) if import_store.configured() else "",
            # Files above this go up in resumable pieces (catalog/tus.py) when JavaScript runs.
            "resumable_from": min(settings.UPLOAD_MAX_BYTES, settings.RESUMABLE_WEB_FROM_BYTES),
            "resumable_chunk": settings.RESUMABLE_WEB_CHUNK_BYTES,
            "resumable_max": settings.RESUMABLE_UPLOAD_MAX_BYTES,
        },
    )


def _import_version(request, dataset, form):
    """The import form's version, or None with the refusal on the form."""
    try:
        return import_services.version_import(
            actor=request.user,
            dataset=dataset,
            source_uris=form.cleaned_data["source_uris"],
            mode=form.cleaned_data.get("mode") or UploadMode.REPLACE,
            replace_periods=form.cleaned_data.get("replace_periods", False),
        )
    except errors.ApplicationError as exc:
        form.add_error("source_uris", exc.message)
        for problem in exc.errors.get("source_uris", []):
            form.add_error("source_uris", str(problem))
        return None


@login_required
@web_errors
def center_version_upload(request, slug):
    dataset = _managed_dataset(request.user, slug)
    importing = request.method == "POST" and "import-source_uris" in request.POST
    form = UploadForm(None if importing else request.POST or None, request.FILES or None)
    import_form = ImportForm(request.POST if importing else None, prefix="import")
    if importing and import_form.is_valid():
        version = _import_version(request, dataset, import_form)
        if version is not None:
            messages.success(request, _("The import has started: each file is ingested on its own."))
            return redirect("center-version", version.pk)
    elif request.method == "POST" and not importing and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            version = services.version_upload(
                actor=request.user,
                dataset=dataset,
                file=upload,
                filename=upload.name,
                mode=form.cleaned_data.get("mode") or UploadMode.REPLACE,
                replace_periods=form.cleaned_data.get("replace_periods", False),
            )
        except errors.ApplicationError as exc:
            apply_errors(form, exc, field_map={"": "file"})
            if not form.errors.get("file"):
                form.add_error("file", exc.message)
        else:
            messages.success(request, _("The file is uploaded; ingestion has started."))
            return redirect("center-version", version.pk)
    return _upload_page(request, dataset, form, import_form)


def _status_label(version) -> str:
    return {
        DatasetVersion.Status.UPLOADED: _("Waiting for a worker…"),
        DatasetVersion.Status.INGESTING: _("Reading and converting the file: %(progress)s%%")
        % {"progress": version.progress},
        DatasetVersion.Status.READY: _("Ingestion finished."),
        DatasetVersion.Status.FAILED: _("Ingestion failed."),
        DatasetVersion.Status.PUBLISHED: _("Published."),
    }[version.status]


@login_required
def center_version_status(request, pk):
    """The version's ingestion state for the progress bar (polled by jangteo.js)."""
    version = _managed_version(request.user, pk)
    done = version.status not in (DatasetVersion.Status.UPLOADED, DatasetVersion.Status.INGESTING)
    sources = list(version.sources.order_by("position"))
    progress = version.progress
    if sources and not done:  # an import: the files' progress, weighted by their sizes
        total = sum(s.bytes for s in sources) or 1
        progress = max(progress, int(0.9 * sum(s.bytes * s.progress for s in sources) / total))
    return JsonResponse(
        {
            "status": version.status,
            "progress": 100 if done else progress,
            "done": done,
            "label": _status_label(version),
            "items": [{"id": s.position, "progress": s.progress, "label": _source_label(s)} for s in sources],
        }
    )


def _source_label(source) -> str:
    return (
        f"{source.get_status_display()} · {source.error_text}"
        if source.error
        else source.get_status_display()
    )


@login_required
@web_errors
def center_version(request, pk):
    version = _managed_version(request.user, pk)
    dataset = version.dataset
    fields = list(version.fields.all())
    editable = version.status in (DatasetVersion.Status.READY, DatasetVersion.Status.PUBLISHED)
    can_edit = permissions.version_fields_update(request.user, version)
    form = None
    if editable:
        form = FieldsForm(
            request.POST or None,
            fields=fields,
            frozen_sensitivity=version.status == DatasetVersion.Status.PUBLISHED,
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.version_fields_update(actor=request.user, version=version, changes=form.changes())
            except errors.ApplicationError as exc:
                apply_errors(form, exc, field_map=form.field_map())
            else:
                messages.success(request, _("The fields are saved."))
                return redirect("center-version", version.pk)
    rows = []
    if form is not None:
        for field, sensitivity, title, description in form.rows():
            rows.append(
                {
                    "field": field,
                    "sensitivity": sensitivity,
                    "title": title,
                    "description": description,
                    "profile": profile_view(field, full=True),
                    "suggested_differs": field.suggested_sensitivity != field.sensitivity,
                }
            )
    return render(
        request,
        "center/version.html",
        {
            "dataset": dataset,
            "version": version,
            "form": form,
            "rows": rows,
            "can_edit": can_edit,
            "running": version.status in (DatasetVersion.Status.UPLOADED, DatasetVersion.Status.INGESTING),
            "status_label": _status_label(version),
            "can_publish": version.status == DatasetVersion.Status.READY
            and permissions.version_publish(request.user, version),
            "coverage_form": _coverage_form(dataset, version),
            "preview": _preview(version) if editable else None,
            "sources": [
                {"source": s, "name": s.name, "label": _source_label(s)}
                for s in version.sources.order_by("position")
            ],
        },
    )


@login_required
@require_POST
@web_errors
def center_version_publish(request, pk):
    version = _managed_version(request.user, pk)
    coverage = PublishCoverageForm(request.POST)
    if {"regions", "temporal_start", "temporal_end"} & set(request.POST) and coverage.is_valid():
        # What the data covers, asked with the publish button when the dataset does not say.
        services.dataset_update(actor=request.user, dataset=version.dataset, **coverage.cleaned_data)
    services.version_publish(actor=request.user, version=version)
    messages.success(request, _("Version %(n)s is published: buyers now get it.") % {"n": version.number})
    return redirect("center-dataset", version.dataset.slug)


def _coverage_form(dataset, version) -> PublishCoverageForm | None:
    """The publish button's questions, when the dataset lacks its regions or period."""
    if dataset.regions and dataset.temporal_start and dataset.temporal_end:
        return None
    fields = list(version.fields.all())
    return PublishCoverageForm(initial=PublishCoverageForm.suggested(dataset, fields))


def _schema_fields(dataset) -> list:
    version = dataset.current_version or (
        dataset.versions.filter(status=DatasetVersion.Status.READY).order_by("-number").first()
    )
    return list(version.fields.all()) if version else []


def _all_offer_errors(form: OfferForm, dataset, actor) -> None:
    """An invalid form also shows what the offer's rules refuse, so every mistake is listed
    in one round trip (each field keeps its own error first)."""
    problems = services.offer_errors(actor=actor, dataset=dataset, values=form.partial_values())
    for key, messages_ in problems.items():
        name = OfferForm.FIELD_MAP.get(key, key)
        if name in form.fields and not form.errors.get(name):
            for message in messages_:
                form.add_error(name, str(message))


@login_required
@web_errors
def center_offer_new(request, slug):
    dataset = _managed_dataset(request.user, slug)
    schema_fields = _schema_fields(dataset)
    form = OfferForm(request.POST or None, schema_fields=schema_fields)
    if request.method == "POST" and not form.is_valid():
        _all_offer_errors(form, dataset, request.user)
    elif request.method == "POST":
        values = form.values()
        try:
            services.offer_create(actor=request.user, dataset=dataset, **values)
        except errors.ApplicationError as exc:
            apply_errors(form, offer_errors(exc), field_map=OfferForm.FIELD_MAP)
        else:
            messages.success(request, _("The offer is created."))
            return redirect("center-dataset", dataset.slug)
    return render(
        request,
        "center/offer_form.html",
        {"dataset": dataset, "form": form, "offer": None, "schema_fields": schema_fields},
    )


@login_required
@web_errors
def center_offer_edit(request, pk):
    offer = Offer.objects.select_related("dataset", "current_terms").filter(pk=pk).first()
    if offer is None:
        raise Http404
    dataset = _managed_dataset(request.user, offer.dataset.slug)
    schema_fields = _schema_fields(dataset)
    form = OfferForm(request.POST or None, schema_fields=schema_fields, initial=OfferForm.initial_from(offer))
    if request.method == "POST" and not form.is_valid():
        _all_offer_errors(form, dataset, request.user)
    elif request.method == "POST":
        values = form.values()
        try:
            services.offer_update(actor=request.user, offer=offer, **values)
        except errors.ApplicationError as exc:
            apply_errors(form, offer_errors(exc), field_map=OfferForm.FIELD_MAP)
        else:
            messages.success(request, _("The offer is saved."))
            return redirect("center-dataset", dataset.slug)
    return render(
        request,
        "center/offer_form.html",
        {
            "dataset": dataset,
            "form": form,
            "offer": offer,
            "schema_fields": schema_fields,
            "risk_rows": risk_reports.table_rows(offer.risk_report),
            "risk_violations": risk_reports.violation_messages(offer.risk_report),
        },
    )


@login_required
def center_offer_risk_status(request, pk):
    """An offer's risk measurement for the progress bar on its page (polled by jangteo.js):
    `done` once no report is owed, and the page reloads to show it."""
    offer = Offer.objects.select_related("dataset").filter(pk=pk).first()
    if offer is None:
        raise Http404
    _managed_dataset(request.user, offer.dataset.slug)
    done = offer.risk_token is None
    return JsonResponse(
        {"status": offer.risk_status, "progress": 100 if done else offer.risk_progress or 0, "done": done}
    )


@login_required
def operator_risk_threshold(request):
    """The operator sets the ceiling for record-level offers and sees which open offers are
    above it (they can no longer be approved, nor opened again)."""
    if not permissions.risk_threshold_update(request.user):
        raise Http404
    form = RiskThresholdForm(
        request.POST or None, initial=RiskThresholdForm.initial_from(risk_reports.threshold())
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.risk_threshold_update(actor=request.user, **form.service_arguments())
        except errors.ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("The risk threshold is saved."))
            return redirect("operator-risk-threshold")
    return render(
        request,
        "operator/risk_threshold.html",
        {"form": form, "offers_over": risk_reports.offers_over()},
    )

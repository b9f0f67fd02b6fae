"""Public catalog pages (the full web interface builds on these)."""

import json

from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from catalog import feeds, selectors, services
from catalog.models import Dataset
from catalog.rendering import markdown_to_html


def catalog_jsonld(request):
    datasets = (
        Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
        .select_related("center")
        .prefetch_related("offers__current_terms")
        .order_by("slug")
    )
    return JsonResponse(
        feeds.dcat_catalog(datasets),
        content_type="application/ld+json",
        json_dumps_params={"ensure_ascii": False},
    )


def dataset_page(request, slug):
    dataset = (
        selectors.datasets_visible_to(request.user)
        .select_related("center", "current_version")
        .filter(slug=slug)
        .first()
    )
    if dataset is None:
        raise Http404
    services.dataset_record_view(actor=request.user, dataset=dataset)
    # JSON inside <script>: escape "<" so a description cannot close the tag.
    jsonld = json.dumps(feeds.schema_org_dataset(dataset), ensure_ascii=False).replace("<", "\\u003c")
    return render(
        request,
        "catalog/dataset_detail.html",
        {
            "dataset": dataset,
            "description_html": mark_safe(markdown_to_html(dataset.description)),  # noqa: S308 - sanitised by nh3
            "schema_org": mark_safe(jsonld),  # noqa: S308 - JSON with "<" escaped
            "fields": dataset.current_version.fields.all() if dataset.current_version_id else [],
            "offers": selectors.offers_visible_to(request.user, dataset),
        },
    )

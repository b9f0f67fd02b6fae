"""Reads of releases and their materialized cells (answered from the cache where possible)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from catalog.models import Dataset
from insights import cache, permissions
from insights.models import Cell, Edition, Release
from marketplace import errors


def releases_listed() -> QuerySet[Release]:
    """Releases everyone sees: published, on a published dataset, with a ready edition."""
    return (
        Release.objects.filter(
            status=Release.Status.PUBLISHED,
            dataset__status=Dataset.Status.PUBLISHED,
            current__isnull=False,
        )
        .select_related("current", "dataset", "dataset__center")
        .order_by("slug")
    )


def release_for(actor, slug: str) -> Release:
    """The release `slug` as `actor` may see it, else NotFound."""
    release = (
        Release.objects.select_related("current", "dataset", "dataset__center").filter(slug=slug).first()
    )
    if release is None or not permissions.release_view(actor, release):
        raise errors.NotFound("Not found.")
    return release


def _typed(value: str, kind: str):
    """A query-string value as the column stores it; None when it cannot be one."""
    if kind == "integer":
        text = value.strip()
        return int(text) if text.lstrip("-").isascii() and text.lstrip("-").isdigit() else None
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return None
    return value


def edition_rows(edition: Edition | None, filters: dict[str, list[str]] | None = None) -> list[dict]:
    """The cells of `edition` as rows (dimensions, measures, `suppressed`), in table order,
    keeping those whose dimensions match `filters` ({dimension: [accepted values]}; names that
    are not dimensions are ignored). Filtered by the database, cached per edition."""
    if edition is None:
        return []
    dims = {c["name"]: c["type"] for c in edition.columns if c["role"] == "dimension"}
    measures = [c["name"] for c in edition.columns if c["role"] == "measure"]
    wanted = {}
    for name, values in (filters or {}).items():
        if name in dims:
            wanted[name] = sorted(
                {v for v in (_typed(str(x), dims[name]) for x in values) if v is not None}, key=str
            )

    def compute():
        cells = Cell.objects.filter(edition=edition)
        for name, values in wanted.items():
            condition = Q()
            for value in values:
                condition |= Q(**{f"dims__{name}": value})
            cells = cells.filter(condition) if values else cells.none()
        return [c.row(measures) for c in cells.order_by("position").only("dims", "values", "suppressed")]

    return cache.cached("rows", (edition.pk, sorted(wanted.items())), compute)


def feature_release(feature: str) -> Release | None:
    """The live release shown as `feature` on the insight pages (cached)."""

    def compute():
        return releases_listed().filter(feature=feature).first()

    return cache.cached("feature", (feature,), compute)


def feature_rows(feature: str, **filters) -> list[dict]:
    """Rows of the release shown as `feature`, filtered by dimension values (a value or a list
    of values per dimension); [] when no such release was published."""
    release = feature_release(feature)
    if release is None:
        return []
    return edition_rows(
        release.current,
        {k: (v if isinstance(v, list | tuple) else [v]) for k, v in filters.items() if v not in (None, "")},
    )


def feature_values(feature: str, dimension: str) -> list:
    """The distinct values of one dimension of a feature's release (for pickers), in order."""
    seen = {}
    for row in feature_rows(feature):
        seen.setdefault(row.get(dimension), None)
    return [v for v in seen if v is not None]

"""Catalog reads: what a caller may see, search with facets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum

from accounts.models import Organization
from accounts.selectors import is_operator, roles_by_organization
from catalog.models import Dataset, DatasetRegion, DatasetVersion, Offer, Sensitivity
from catalog.vocabularies import regions_by_code

SORTS = {
    "newest": ["-published_at", "-id"],
    "updated": ["-updated_at", "-id"],
    "title": ["title", "id"],
    "price": ["min_price", "title", "id"],
}


def _own_center_ids(user) -> list[int]:
    return list(roles_by_organization(user))


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Published datasets for everyone; drafts and retired ones for their center and operators."""
    qs = Dataset.objects.all()
    if user is not None and getattr(user, "is_authenticated", False) and is_operator(user):
        return qs
    visible = Q(status=Dataset.Status.PUBLISHED)
    own = _own_center_ids(user) if user is not None and getattr(user, "is_authenticated", False) else []
    if own:
        visible |= Q(center_id__in=own)
    return qs.filter(visible)


def versions_visible_to(user) -> QuerySet[DatasetVersion]:
    """Every version of the caller's own centers' datasets (or all, for operators); for others
    only the published current version of a published dataset."""
    qs = DatasetVersion.objects.select_related("dataset", "dataset__center")
    if user is not None and getattr(user, "is_authenticated", False):
        if is_operator(user):
            return qs
        own = _own_center_ids(user)
    else:
        own = []
    public = Q(dataset__status=Dataset.Status.PUBLISHED, current_of__isnull=False)
    return qs.filter(public | Q(dataset__center_id__in=own))


# Profile entries that say nothing about any single value: shown for every column.
VALUE_FREE_PROFILE_KEYS = ("null_count", "distinct_estimate")


def field_profile_shown(field, *, full: bool) -> dict:
    """A column's profile as a caller may see it: whole for public columns and for the dataset's
    own center and operators (`full`); otherwise only counts, never values (no minimum, maximum,
    frequent values or histogram of an identifier, quasi-identifier or excluded column)."""
    profile = field.profile or {}
    if full or field.sensitivity == Sensitivity.PUBLIC:
        return profile
    return {key: profile[key] for key in VALUE_FREE_PROFILE_KEYS if key in profile}


def offers_visible_to(user, dataset: Dataset) -> QuerySet[Offer]:
    qs = dataset.offers.select_related("current_terms")
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    if authenticated and (is_operator(user) or dataset.center_id in roles_by_organization(user)):
        return qs
    return qs.filter(is_active=True)


@dataclass
class SearchParams:
    q: str = ""
    theme: str = ""
    center: int | None = None
    region: str = ""
    price: str = ""  # "free" | "paid"
    approval: str = ""
    sort: str = ""


def _text_filter(qs: QuerySet[Dataset], q: str) -> QuerySet[Dataset]:
    """Every word of the query must occur in the dataset's text (substring match, so 지역화폐
    finds 경기지역화폐; the text is stored lower-cased, so a plain LIKE is case-blind and can use
    PostgreSQL's trigram GIN index). On PostgreSQL, results are ranked by full-text rank over a
    stored tsvector (the "simple" configuration: PostgreSQL has no Korean stemmer) plus trigram
    word similarity, which catches partial words."""
    for word in q.lower().split()[:10]:
        qs = qs.filter(search_text__contains=word)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import TrigramWordSimilarity
        from django.db.models import FloatField
        from django.db.models.expressions import RawSQL

        rank = RawSQL(
            "ts_rank(catalog_dataset.search_tsv, plainto_tsquery('simple', %s))",
            (q,),
            output_field=FloatField(),
        )
        qs = qs.annotate(relevance=TrigramWordSimilarity(q.lower(), "search_text") + rank)
    return qs


def dataset_search(user, params: SearchParams) -> QuerySet[Dataset]:
    qs = datasets_visible_to(user)
    if params.q.strip():
        qs = _text_filter(qs, params.q.strip())
    if params.theme:
        qs = qs.filter(theme=params.theme)
    if params.center:
        qs = qs.filter(center_id=params.center)
    if params.region:
        qs = qs.filter(Exists(DatasetRegion.objects.filter(dataset=OuterRef("pk"), code=params.region)))
    active_offers = Offer.objects.filter(dataset=OuterRef("pk"), is_active=True)
    if params.price == "free":
        qs = qs.filter(Exists(active_offers.filter(price_krw=0)))
    elif params.price == "paid":
        qs = qs.filter(Exists(active_offers.filter(price_krw__gt=0)))
    if params.approval:
        qs = qs.filter(Exists(active_offers.filter(approval=params.approval)))
    qs = qs.annotate(
        min_price=Subquery(
            active_offers.order_by().values("dataset").annotate(m=Min("price_krw")).values("m")[:1]
        )
    )
    if params.sort in SORTS:
        qs = qs.order_by(*SORTS[params.sort])
    elif params.q.strip() and connection.vendor == "postgresql":
        qs = qs.order_by("-relevance", "-published_at", "-id")
    else:
        qs = qs.order_by(*SORTS["newest"])
    return qs.select_related("center", "current_version")


def dataset_facets(qs: QuerySet[Dataset]) -> dict[str, dict[str, int]]:
    """Counts of the current results by theme, center and region: one query, whose rows (three
    small columns each) are streamed and counted here, whatever the number of results."""
    known = regions_by_code()
    themes: Counter[str] = Counter()
    centers: Counter[str] = Counter()
    regions: Counter[str] = Counter()
    rows = qs.order_by().values_list("theme", "center_id", "regions")
    for theme, center_id, codes in rows.iterator(chunk_size=5000):
        themes[theme] += 1
        centers[str(center_id)] += 1
        regions.update(code for code in set(codes or ()) if code in known)
    return {"theme": dict(themes), "center": dict(centers), "region": dict(regions)}


def _preview_key(dataset: Dataset) -> bytes:
    """Pseudonyms in previews: keyed per dataset, unrelated to any license's key."""
    import hashlib
    import hmac

    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), f"preview:{dataset.pk}".encode(), hashlib.sha256).digest()


def offer_spec(offer: Offer | None, fields) -> dict:
    """An offer as the privacy planner reads it. No offer: a records view of every public
    and identifier column (quasi-identifiers withheld), the strictest reading."""
    if offer is None:
        return {"kind": "records", "fields": [f.name for f in fields], "quasi_identifiers_allowed": False}
    return offer_spec_from_snapshot({key: getattr(offer, key) for key in PLANNED_OFFER_KEYS})


def version_preview(
    version: DatasetVersion, offer: Offer | None = None, *, limit: int = 20, fields=None
) -> dict:
    """Sample rows of a ready or published version with the privacy rules of `offer` applied
    (excluded columns are never read). `fields`: the version's fields, when already read."""
    from catalog import privacy
    from catalog.ingestion.profile import jsonable
    from catalog.storage import local_path
    from marketplace.duckdb import reader

    fields = list(version.fields.all()) if fields is None else fields
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in fields]
    spec = offer_spec(offer, fields)
    try:
        query = privacy.plan(
            parquet=str(local_path(version.parquet)),
            schema=schema,
            offer=spec,
            scope={},
            key=_preview_key(version.dataset),
            limit=limit,
        )
    except privacy.PlanError:
        return {"columns": [], "rows": []}
    con = reader()
    try:
        rows = con.execute(query.sql, query.params).fetchall()
    finally:
        con.close()
    return {"columns": query.columns, "rows": [[jsonable(v) for v in row] for row in rows]}


PLANNED_OFFER_KEYS = (
    "kind",
    "fields",
    "region_field",
    "date_field",
    "dimensions",
    "measures",
    "subject_field",
    "dominance_field",
    "k",
    "dominance",
    "date_granularity",
    "quasi_identifiers_allowed",
)


def offer_spec_from_snapshot(snapshot: dict) -> dict:
    """The privacy planner's reading of an offer as a license snapshotted it at issue (later
    edits of the offer do not change what the license delivers)."""
    spec = {key: snapshot.get(key) for key in PLANNED_OFFER_KEYS}
    spec["dominance"] = float(spec["dominance"]) if spec.get("dominance") is not None else 0.85
    return spec


# --- platform-wide figures and lists ------------------------------------------------------------


def published_datasets() -> QuerySet[Dataset]:
    """Every published dataset with its center, by title (e.g. for an operator's choice)."""
    return (
        Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
        .select_related("center", "current_version")
        .order_by("title", "pk")
    )


def published_theme_counts() -> dict[str, int]:
    """Published datasets per theme (one query)."""
    published = Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
    return dict(published.order_by().values_list("theme").annotate(n=Count("pk")))


def platform_figures() -> dict:
    """Published datasets, the centers publishing them, rows published and verified buyers
    (two queries)."""
    published = Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
    totals = published.aggregate(
        datasets=Count("pk"), centers=Count("center", distinct=True), rows=Sum("current_version__row_count")
    )
    return {
        "datasets": totals["datasets"] or 0,
        "centers": totals["centers"] or 0,
        "rows": totals["rows"] or 0,
        "buyers": Organization.objects.filter(
            kind=Organization.Kind.BUYER, verification=Organization.Verification.VERIFIED
        ).count(),
    }


# --- catalog reads for other catalogs' clients (catalog/ckan/) ----------------------------------


def datasets_with_keyword(qs: QuerySet[Dataset], keyword: str) -> QuerySet[Dataset]:
    """Datasets among `qs` that list `keyword` exactly (a JSON array element), in the database."""
    if connection.vendor == "postgresql":
        return qs.filter(keywords__contains=[keyword])
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    listed = RawSQL(
        "EXISTS (SELECT 1 FROM json_each(catalog_dataset.keywords) WHERE json_each.value = %s)",
        (keyword,),
        output_field=BooleanField(),
    )
    return qs.filter(listed)


def datasets_with_open_offers(qs: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """Datasets among `qs` with at least one offer open for requests."""
    return qs.filter(Exists(Offer.objects.filter(dataset=OuterRef("pk"), is_active=True)))


def dataset_listing_facts(qs: QuerySet[Dataset]):
    """(center id, theme, keywords, has an open offer) of every dataset in `qs`: one query, rows
    streamed, for counting facets whatever the number of results."""
    rows = (
        qs.order_by()
        .annotate(open_offers=Exists(Offer.objects.filter(dataset=OuterRef("pk"), is_active=True)))
        .values_list("center_id", "theme", "keywords", "open_offers")
    )
    return rows.iterator(chunk_size=5000)


def published_dataset_counts() -> dict[int, int]:
    """Published datasets per center id (one query)."""
    published = Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
    return dict(published.order_by().values_list("center_id").annotate(n=Count("pk")))

"""Catalog reads: what a caller may see, search with facets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.selectors import is_operator, organizations_visible_to, roles_by_organization
from catalog import permissions
from catalog.models import Dataset, DatasetRegion, DatasetVersion, Offer, Sensitivity
from catalog.policy import DEFAULT_K, OfferPolicy
from catalog.vocabularies import regions_by_code

SORTS = {
    "newest": ["-published_at", "-id"],
    "updated": ["-updated_at", "-id"],
    "title": ["title", "id"],
    "price": ["min_price", "title", "id"],
}


def _own_center_ids(user) -> list[int]:
    return list(roles_by_organization(user))


def centers_visible_to(user) -> QuerySet[Organization]:
    return organizations_visible_to(user).filter(kind=Organization.Kind.CENTER)


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Published datasets for everyone; drafts and retired ones for their center and operators."""
    return Dataset.objects.filter(permissions.dataset_visible(user))


def versions_visible_to(user) -> QuerySet[DatasetVersion]:
    """Every version of the caller's own centers' datasets (or all, for operators); for others
    only the published current version of a published dataset."""
    return DatasetVersion.objects.select_related("dataset", "dataset__center").filter(
        permissions.version_visible(user)
    )


# Profile entries that say nothing about any single value: shown for every column.
VALUE_FREE_PROFILE_KEYS = ("null_count", "distinct_estimate")


def field_profile_shown(field, *, full: bool) -> dict:
    """A column's profile as a caller may see it: whole for public columns and for the dataset's
    own center and operators (`full`); otherwise only counts, never values (no minimum, maximum,
    frequent values or histogram of an identifier, quasi-identifier or excluded column)."""
    profile = field.profile or {}
    if full:
        return profile
    if field.sensitivity != Sensitivity.PUBLIC:
        return {key: profile[key] for key in VALUE_FREE_PROFILE_KEYS if key in profile}
    return outsider_profile(profile, field.type)


def outsider_profile(profile: dict, type_: str, *, k: int = DEFAULT_K) -> dict:
    """A public column's profile as released to people outside its center, under the rules
    of aggregates: no single record's value (numbers lose their minimum and maximum, and the
    histogram's outer edges are open), no value seen fewer than k times, histogram bins
    merged with their neighbours until each holds k records or none."""
    shown = dict(profile)
    if type_ in ("integer", "number"):
        for key in ("min", "max", "values"):  # the list of every value holds the extremes too
            shown.pop(key, None)
    elif type_ in ("date", "datetime"):  # the period covered, to the month
        for key in ("min", "max"):
            if isinstance(shown.get(key), str):
                shown[key] = shown[key][:7]
    if isinstance(shown.get("top_values"), list):
        shown["top_values"] = [t for t in shown["top_values"] if t.get("count", 0) >= k]
    if isinstance(shown.get("histogram"), list) and shown["histogram"]:
        shown["histogram"] = _merged_bins(shown["histogram"], k, open_ends=type_ in ("integer", "number"))
    return shown


def _merged_bins(bins: list[dict], k: int, *, open_ends: bool) -> list[dict]:
    merged: list[dict] = []
    for b in bins:
        if merged and 0 < merged[-1]["count"] < k:
            merged[-1] = {**merged[-1], "upper": b["upper"], "count": merged[-1]["count"] + b["count"]}
        else:
            merged.append(dict(b))
    while len(merged) > 1 and 0 < merged[-1]["count"] < k:  # a small last bin joins the one before
        last = merged.pop()
        merged[-1] = {**merged[-1], "upper": last["upper"], "count": merged[-1]["count"] + last["count"]}
    if len(merged) == 1 and 0 < merged[0]["count"] < k:
        merged[0]["count"] = 0  # fewer than k records in all: no count at all
    if open_ends:
        merged[0]["lower"], merged[-1]["upper"] = None, None
    return merged


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


# Korean particles people type after a place or a thing ("수원의 카페", "성남에서"): a word
# that ends with one also matches without it. Longest first; the stem keeps two syllables.
_PARTICLES = (
    "에서는",
    "에서",
    "으로",
    "에는",
    "까지",
    "부터",
    "의",
    "에",
    "은",
    "는",
    "을",
    "를",
    "와",
    "과",
    "로",
)


def _without_particle(word: str) -> str:
    for particle in _PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


def _text_filter(qs: QuerySet[Dataset], q: str) -> QuerySet[Dataset]:
    """Every word of the query must occur in the dataset's text (substring match, so 지역화폐
    finds 경기지역화폐; the text is stored lower-cased, so a plain LIKE is case-blind and can use
    PostgreSQL's trigram GIN index). On PostgreSQL, results are ranked by full-text rank over a
    stored tsvector (the "simple" configuration: PostgreSQL has no Korean stemmer) plus trigram
    word similarity, which catches partial words."""
    for word in q.lower().split()[:10]:
        matches = Q(search_text__contains=word)
        stem = _without_particle(word)
        if stem != word:
            matches |= Q(search_text__contains=stem)
        qs = qs.filter(matches)
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
        # Only a center the caller may see filters anything (verified centers; one's own; all for
        # operators): any other id answers like an unknown one, never with what it names.
        qs = qs.filter(center_id=params.center, center__in=centers_visible_to(user))
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


def offer_spec(offer: Offer | None, fields) -> OfferPolicy:
    """An offer's policy as the privacy planner reads it. No offer: a records view of every
    public and identifier column (quasi-identifiers withheld), the strictest reading."""
    if offer is None:
        return OfferPolicy(kind="records", fields=tuple(f.name for f in fields))
    return offer.policy


def offer_snapshot(offer: Offer) -> dict:
    """What an approval fixes of an offer: its privacy policy and its terms (price, duration,
    quota, updates). A license delivers under this snapshot, whatever the offer says later."""
    return {
        "id": offer.pk,
        "name": offer.name,
        **offer.policy.to_snapshot(),
        # OfferPolicy.sample_by: records licenses from now on draw their sample from the values.
        **({"sample_by": "values"} if not offer.policy.is_aggregate else {}),
        "price_krw": offer.price_krw,
        "duration_days": offer.duration_days,
        "download_quota": offer.download_quota,
        "deliver_updates": offer.deliver_updates,
    }


def version_files(version: DatasetVersion, *, policy: OfferPolicy | None = None, scope: dict | None = None):
    """The files the engine scans for `version`, as local paths: its Parquet file (a str) for a
    single-file version, its partition files (a list, sorted by storage name) for a partitioned
    one. The one place that says which files a version is made of.

    With a records `policy` and a `scope`, only the partition files whose recorded date and
    region ranges can hold rows of the scope, chosen from the manifest in the database before
    any file is opened; the plan's own filters still apply to the rows. An aggregate always
    gets every file: its protection (k, dominance, secondary suppression, noise) is computed
    over the whole table, and a table built from some files only would be a different table,
    whose cells could be differenced against the whole one."""
    from catalog.storage import local_path

    rows = list(
        version.parts.order_by("path").values_list("path", "date_min", "date_max", "region_min", "region_max")
    )
    if not rows:
        return str(local_path(version.parquet))
    chosen = rows
    if policy is not None and not policy.is_aggregate and scope:
        chosen = _pruned(rows, version.dataset, policy, scope) or rows[:1]
        # No file can hold the scope: one file still gives the plan its columns, and the same
        # filters return no row from it.
    return [str(local_path(path)) for path, *_ in chosen]


def _pruned(rows: list[tuple], dataset: Dataset, policy: OfferPolicy, scope: dict) -> list[tuple]:
    from datetime import date

    from catalog.ingestion.partition import prune

    def day(value):
        try:
            return date.fromisoformat(str(value)) if value not in (None, "") else None
        except ValueError:
            return None  # malformed: the plan refuses it

    dated = bool(policy.date_field) and policy.date_field == dataset.period_field
    regions = scope.get("regions") or None
    by_region = (
        bool(policy.region_field)
        and policy.region_field == dataset.partition_region_field
        and isinstance(regions, list | tuple)
    )
    return prune(
        rows,
        date_from=day(scope.get("date_from")) if dated else None,
        date_to=day(scope.get("date_to")) if dated else None,
        regions=list(regions) if by_region else None,
    )


def version_preview(
    version: DatasetVersion, offer: Offer | None = None, *, limit: int = 20, fields=None
) -> dict:
    """Sample rows of a ready or published version with the privacy rules of `offer` applied
    (excluded columns are never read). `fields`: the version's fields, when already read."""
    from catalog import privacy, released_cache
    from catalog.ingestion.profile import jsonable
    from marketplace.duckdb import reader

    fields = list(version.fields.all()) if fields is None else fields
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in fields]
    spec = offer_spec(offer, fields)
    files = version_files(version)
    try:
        query = privacy.plan(
            parquet=files,
            schema=schema,
            policy=spec,
            scope={},
            key=_preview_key(version.dataset),
            limit=limit,
            noise_seed=version.cell_key_seed,
        )
    except privacy.PlanError:
        return {"columns": [], "rows": []}
    con = reader()
    try:
        # An aggregate's protected table is the whole version's: kept, not rebuilt per page view.
        released_cache.prepare(con, table=query.released, setup=query.setup, files=files)
        rows = con.execute(query.sql, query.params).fetchall()
    finally:
        con.close()
    return {"columns": query.columns, "rows": [[jsonable(v) for v in row] for row in rows]}


def preview_for(user, dataset: Dataset, offer: Offer | None = None, *, limit: int = 20, fields=None) -> dict:
    """The preview `user` may see (issue 14): under `offer` when they could request it (else
    NotFound: "not visible"); without one, the center and operators see the strict records view,
    everyone else the first offer they could request that is aggregate (never raw record rows),
    or no rows at all."""
    from catalog import permissions
    from marketplace import errors

    version = dataset.current_version
    if offer is not None and not permissions.offer_preview(user, offer):
        raise errors.NotFound(_("This offer is not visible to you."))
    if offer is None and not permissions.dataset_manage_view(user, dataset):
        offer = next(
            (
                o
                for o in offers_visible_to(user, dataset).filter(kind=Offer.Kind.AGGREGATE).order_by("pk")
                if permissions.offer_preview(user, o)
            ),
            None,
        )
        if offer is None:
            return {"columns": [], "rows": [], "offer": None}
    if version is None or not version.parquet:
        return {"columns": [], "rows": [], "offer": offer.pk if offer else None}
    rows = version_preview(version, offer, limit=limit, fields=fields)
    return {**rows, "offer": offer.pk if offer else None}


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

"""CKAN actions over the catalog: each takes the caller and the action's parameters (a dict of
what the client sent, strings from a query string or JSON values) and returns the `result`.
Only what the caller may see: datasets through `catalog.selectors.datasets_visible_to` (drafts
and retired datasets only for their own center and operators), organizations through
`accounts.selectors.organizations_visible_to` (unverified centers only for their members and
operators). A dataset is a package; a center an organization; a theme a group; an open offer,
in each format it is delivered in, a resource."""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.models import Organization
from accounts.selectors import organizations_visible_to
from catalog import feeds, selectors
from catalog.models import Dataset, Offer
from catalog.vocabularies import Theme, regions_by_code
from marketplace import errors
from marketplace.api import is_id

ROWS_DEFAULT, ROWS_MAX = 10, 1000
LIST_MAX = 1000
FACET_FIELDS = ("organization", "tags", "res_format", "groups")
FORMAT_LABELS = [label for _code, label, _type, _media in feeds.DELIVERY_FORMATS]
SORTS = {
    "score desc, metadata_modified desc": None,  # CKAN's default: the catalog's own relevance order
    "metadata_modified desc": ["-updated_at", "-id"],
    "metadata_modified asc": ["updated_at", "id"],
    "metadata_created desc": ["-created_at", "-id"],
    "metadata_created asc": ["created_at", "id"],
    "name asc": ["slug"],
    "name desc": ["-slug"],
    "title_string asc": ["title", "id"],
    "title_string desc": ["-title", "-id"],
}
ORGANIZATION_PREFIX = "center-"


class SearchQueryError(errors.ApplicationError):
    """A search the catalog cannot run (CKAN's "Search Query Error", HTTP 409)."""

    status_code = 409


# --- reading parameters -------------------------------------------------------------------------


def _int(params: dict, name: str, default: int, *, maximum: int | None = None) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not is_id(value):
        raise errors.ApplicationError(
            _("%(name)s must be a whole number.") % {"name": name}, errors={name: [_("Invalid integer")]}
        )
    value = int(value)
    return min(value, maximum) if maximum is not None else value


def _bool(params: dict, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _str(params: dict, name: str) -> str:
    value = params.get(name)
    return value.strip() if isinstance(value, str) else ""


def _list(params: dict, name: str) -> list[str]:
    """A list parameter: a JSON list (CKAN's `facet.field=["tags"]`) or one value."""
    value = params.get(name)
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.ApplicationError(
            _("%(name)s must be a list of names.") % {"name": name}, errors={name: [_("Not a list")]}
        )
    return value


def _english() -> bool:
    return (get_language() or "ko").startswith("en")


def _pick(ko: str, en: str) -> str:
    return en if _english() and en else ko


def _iso(value: datetime.datetime | None) -> str | None:
    # CKAN writes naive UTC timestamps; clients parse them as such.
    return timezone.localtime(value, datetime.UTC).replace(tzinfo=None).isoformat() if value else None


# --- shapes -------------------------------------------------------------------------------------


def organization_name(organization_id: int) -> str:
    return f"{ORGANIZATION_PREFIX}{organization_id}"


def _organization_id(name_or_id) -> int | None:
    value = str(name_or_id or "").strip()
    if value.startswith(ORGANIZATION_PREFIX):
        value = value[len(ORGANIZATION_PREFIX) :]
    return int(value) if is_id(value) else None


def organization_dict(org: Organization, package_count: int | None = None) -> dict:
    title = _pick(org.name, org.name_en)
    data = {
        "id": str(org.pk),
        "name": organization_name(org.pk),
        "title": title,
        "display_name": title,
        "title_translated": {"ko": org.name, "en": org.name_en},
        "description": "",
        "image_url": "",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved" if org.is_verified else "pending",
        "created": _iso(org.created_at),
        "url": feeds.publisher_iri(org.pk),
    }
    if package_count is not None:
        data["package_count"] = package_count
    return data


def _group(theme: str) -> dict:
    label = str(dict(Theme.choices).get(theme, theme))
    return {"id": theme, "name": theme, "title": label, "display_name": label, "type": "group"}


def _tag(keyword: str) -> dict:
    return {"id": keyword, "name": keyword, "display_name": keyword, "state": "active", "vocabulary_id": None}


def _resources(dataset: Dataset, offers) -> list[dict]:
    page = feeds.dataset_page_url(dataset)
    resources = []
    for offer in offers:
        for code, label, _type, media_type in feeds.DELIVERY_FORMATS:
            resources.append(
                {
                    "id": f"{dataset.pk}-{offer.pk}-{code}",
                    "package_id": str(dataset.pk),
                    "name": f"{_pick(offer.name, offer.name_en)} ({label})",
                    "description": feeds.offer_rights_text(offer),
                    "format": label,
                    "mimetype": media_type,
                    "url": f"{page}#offer-{offer.pk}",
                    "url_type": None,
                    "state": "active",
                    "position": len(resources),
                    "created": _iso(offer.created_at),
                    "last_modified": _iso(offer.updated_at),
                    "offer_id": offer.pk,
                    "offer_kind": offer.kind,
                    "approval": offer.approval,
                    "price_krw": offer.price_krw,
                    "license_url": feeds.terms_url(dataset, offer),
                }
            )
    return resources


STATES = {
    Dataset.Status.PUBLISHED: "active",
    Dataset.Status.DRAFT: "draft",
    Dataset.Status.RETIRED: "deleted",
}


def package_dict(dataset: Dataset) -> dict:
    """A dataset as a CKAN package. Reads `dataset.center`, `.current_version` and the open
    offers prefetched as `dataset.open_offers` (see `_packages`)."""
    offers = getattr(dataset, "open_offers", None)
    if offers is None:
        offers = list(dataset.offers.filter(is_active=True).order_by("pk"))
    keywords = [k for k in dataset.keywords if isinstance(k, str) and k.strip()]
    known = regions_by_code()
    regions = [known[c] for c in dataset.regions if c in known]
    resources = _resources(dataset, offers) if dataset.status == Dataset.Status.PUBLISHED else []
    notes = _pick(dataset.description or dataset.summary, dataset.description_en or dataset.summary_en)
    extras = {
        "frequency": feeds.EU + "frequency/" + feeds.FREQUENCIES.get(dataset.update_frequency, "IRREG"),
        "theme": json.dumps(feeds.theme_iris(dataset.theme)),
        "language": feeds.KOREAN,
        "spatial_codes": ",".join(r.code for r in regions),
        "spatial_text": ", ".join(_pick(r.name, r.name_en) for r in regions),
        "temporal_start": dataset.temporal_start.isoformat() if dataset.temporal_start else "",
        "temporal_end": dataset.temporal_end.isoformat() if dataset.temporal_end else "",
        "dcat_uri": feeds.dataset_page_url(dataset),
    }
    return {
        "id": str(dataset.pk),
        "name": dataset.slug,
        "title": _pick(dataset.title, dataset.title_en),
        "title_translated": {"ko": dataset.title, "en": dataset.title_en},
        "notes": notes,
        "notes_translated": {
            "ko": dataset.description or dataset.summary,
            "en": dataset.description_en or dataset.summary_en,
        },
        "url": feeds.dataset_page_url(dataset),
        "type": "dataset",
        "state": STATES.get(dataset.status, "active"),
        "private": dataset.status != Dataset.Status.PUBLISHED,
        "version": str(dataset.current_version.number) if dataset.current_version_id else None,
        "metadata_created": _iso(dataset.created_at),
        "metadata_modified": _iso(dataset.updated_at),
        "author": dataset.center.name,
        "maintainer": dataset.center.name,
        "license_id": "other-closed",
        "license_title": "Other (Not Open)",
        "license_url": feeds.terms_url(dataset, offers[0]) if offers else None,
        "owner_org": str(dataset.center_id),
        "organization": organization_dict(dataset.center),
        "groups": [_group(dataset.theme)],
        "tags": [_tag(k) for k in keywords],
        "num_tags": len(keywords),
        "resources": resources,
        "num_resources": len(resources),
        "extras": [{"key": k, "value": v} for k, v in extras.items() if v],
    }


def _packages(qs: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """`qs` with what `package_dict` reads, in a constant number of queries."""
    return qs.select_related("center", "current_version").prefetch_related(
        Prefetch(
            "offers",
            queryset=Offer.objects.filter(is_active=True).select_related("current_terms").order_by("pk"),
            to_attr="open_offers",
        )
    )


# --- search -------------------------------------------------------------------------------------

FQ_TERM = re.compile(r'\s*([+-]?)([A-Za-z_.]+):(\[[^\]]*\]|"[^"]*"|\S+)')


def _datetime_bound(value: str) -> datetime.datetime | None:
    if value == "*":
        return None
    value = value.replace("Z", "+00:00")
    parsed = parse_datetime(value) or (
        datetime.datetime.combine(parse_date(value), datetime.time()) if parse_date(value) else None
    )
    if parsed is None:
        raise SearchQueryError(_("Cannot read the date %(value)s in fq.") % {"value": value})
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


def _fq_condition(field: str, value: str) -> Q | None:
    """The condition `field:value` of a filter query, or None when every package matches."""
    if field == "organization" or field == "owner_org":
        org = _organization_id(value)
        return Q(center_id=org) if org is not None else Q(pk__in=[])
    if field == "tags":
        return Q(pk__in=selectors.datasets_with_keyword(Dataset.objects.all(), value).values("pk"))
    if field == "res_format":
        if value.lower() not in {label.lower() for label in FORMAT_LABELS}:
            return Q(pk__in=[])
        return Q(pk__in=selectors.datasets_with_open_offers(Dataset.objects.all()).values("pk"))
    if field == "groups":
        return Q(theme=value)
    if field == "name":
        return Q(slug=value)
    if field == "metadata_modified":
        if not (value.startswith("[") and value.endswith("]") and " TO " in value):
            raise SearchQueryError(_("metadata_modified takes a range: [FROM TO UNTIL]."))
        start, end = (_datetime_bound(part.strip()) for part in value[1:-1].split(" TO ", 1))
        condition = Q()
        if start:
            condition &= Q(updated_at__gte=start)
        if end:
            condition &= Q(updated_at__lte=end)
        return condition
    if field == "dataset_type":
        return None if value == "dataset" else Q(pk__in=[])
    if field in ("capacity", "state"):
        return None if value in ("public", "active") else Q(pk__in=[])
    raise SearchQueryError(
        _(
            "Cannot filter on %(field)s; fq accepts organization, tags, res_format, groups, name and "
            "metadata_modified."
        )
        % {"field": field}
    )


def _apply_fq(qs: QuerySet[Dataset], fq: str) -> QuerySet[Dataset]:
    position = 0
    fq = fq.strip()
    while position < len(fq):
        match = FQ_TERM.match(fq, position)
        if match is None:
            raise SearchQueryError(_("Cannot read the filter query; write field:value pairs."))
        sign, field, value = match.groups()
        position = match.end()
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise SearchQueryError(_("A quoted value in the filter query has no closing quote."))
            value = value[1:-1]
        condition = _fq_condition(field, value)
        if condition is not None:
            qs = qs.exclude(condition) if sign == "-" else qs.filter(condition)
    return qs


def _facets(qs: QuerySet[Dataset], fields: list[str], limit: int) -> tuple[dict, dict]:
    counts = {field: Counter() for field in fields}
    for center_id, theme, keywords, open_offers in selectors.dataset_listing_facts(qs):
        if "organization" in counts:
            counts["organization"][organization_name(center_id)] += 1
        if "groups" in counts:
            counts["groups"][theme] += 1
        if "tags" in counts:
            counts["tags"].update({k for k in keywords or () if isinstance(k, str) and k.strip()})
        if "res_format" in counts and open_offers:
            counts["res_format"].update(FORMAT_LABELS)
    orgs = {}
    if "organization" in counts:
        ids = [_organization_id(name) for name in counts["organization"]]
        named = Organization.objects.filter(pk__in=ids)
        orgs = {organization_name(o.pk): _pick(o.name, o.name_en) for o in named}
    themes = dict(Theme.choices)
    facets, search_facets = {}, {}
    for field, counter in counts.items():
        top = counter.most_common(None if limit < 0 else limit)
        facets[field] = dict(top)
        labels = orgs if field == "organization" else themes if field == "groups" else {}
        search_facets[field] = {
            "title": field,
            "items": [{"name": n, "display_name": str(labels.get(n, n)), "count": c} for n, c in top],
        }
    return facets, search_facets


# --- actions ------------------------------------------------------------------------------------


def _listed(user, params: dict) -> QuerySet[Dataset]:
    """What the caller may see; by default only published datasets, like CKAN leaves out
    drafts and private datasets unless asked (`include_drafts`, `include_private`)."""
    qs = selectors.datasets_visible_to(user)
    if not (_bool(params, "include_drafts") or _bool(params, "include_private")):
        qs = qs.filter(status=Dataset.Status.PUBLISHED)
    return qs


def package_list(user, params: dict) -> list[str]:
    """Names of the datasets (published ones), by name; `limit`, `offset`."""
    limit = _int(params, "limit", LIST_MAX, maximum=LIST_MAX)
    offset = _int(params, "offset", 0)
    qs = selectors.datasets_visible_to(user).filter(status=Dataset.Status.PUBLISHED).order_by("slug")
    return list(qs.values_list("slug", flat=True)[offset : offset + limit])


def package_search(user, params: dict) -> dict:
    """Search datasets: `q` (words, as the catalog's search), `fq` (organization:, tags:,
    res_format:, groups:, name:, metadata_modified:[FROM TO UNTIL]), `rows`, `start`, `sort`,
    `facet.field`, `facet.limit`, `include_drafts`."""
    q = _str(params, "q")
    if q in ("*:*", "*"):
        q = ""
    rows = _int(params, "rows", ROWS_DEFAULT, maximum=ROWS_MAX)
    start = _int(params, "start", 0)
    sort = _str(params, "sort") or "score desc, metadata_modified desc"
    if sort not in SORTS:
        raise SearchQueryError(
            _("Cannot sort by %(sort)s; use one of: %(sorts)s.") % {"sort": sort, "sorts": ", ".join(SORTS)}
        )
    facet_fields = _list(params, "facet.field") if _bool(params, "facet", True) else []
    unknown = [f for f in facet_fields if f not in FACET_FIELDS]
    if unknown:
        raise SearchQueryError(
            _("Cannot count facets of %(fields)s; facet.field accepts %(known)s.")
            % {"fields": ", ".join(unknown), "known": ", ".join(FACET_FIELDS)}
        )
    facet_limit = params.get("facet.limit")
    facet_limit = -1 if str(facet_limit).strip() == "-1" else _int(params, "facet.limit", 50)

    qs = selectors.dataset_search(user, selectors.SearchParams(q=q))
    if not (_bool(params, "include_drafts") or _bool(params, "include_private")):
        qs = qs.filter(status=Dataset.Status.PUBLISHED)
    qs = _apply_fq(qs, _str(params, "fq"))
    if SORTS[sort]:
        qs = qs.order_by(*SORTS[sort])
    facets, search_facets = _facets(qs, facet_fields, facet_limit) if facet_fields else ({}, {})
    page = list(_packages(qs)[start : start + rows]) if rows else []
    return {
        "count": qs.count(),
        "sort": sort,
        "results": [package_dict(d) for d in page],
        "facets": facets,
        "search_facets": search_facets,
    }


def package_show(user, params: dict) -> dict:
    """One dataset by name (or id): any dataset the caller may see, drafts of their own center
    included."""
    ref = _str(params, "id") or _str(params, "name")
    visible = _packages(selectors.datasets_visible_to(user))
    dataset = visible.filter(slug=ref).first() if ref else None
    if dataset is None and is_id(ref):
        dataset = visible.filter(pk=int(ref)).first()
    if dataset is None:
        raise errors.NotFound(_("Not found."))
    return package_dict(dataset)


def _centers(user) -> QuerySet[Organization]:
    return organizations_visible_to(user).filter(kind=Organization.Kind.CENTER)


ORGANIZATION_SORTS = {
    "name asc": (lambda o, counts: organization_name(o.pk), False),
    "name desc": (lambda o, counts: organization_name(o.pk), True),
    "title asc": (lambda o, counts: (o.name, o.pk), False),
    "title desc": (lambda o, counts: (o.name, o.pk), True),
    "package_count asc": (lambda o, counts: (counts.get(o.pk, 0), o.pk), False),
    "package_count desc": (lambda o, counts: (counts.get(o.pk, 0), -o.pk), True),
}


def organization_list(user, params: dict) -> list:
    """The data centers the caller may see (verified ones, plus their own): names, or whole
    organizations with `all_fields`; `sort` by name, title or package_count (asc or desc);
    `limit`, `offset`."""
    limit = _int(params, "limit", LIST_MAX, maximum=LIST_MAX)
    offset = _int(params, "offset", 0)
    sort = _str(params, "sort") or "name asc"
    if sort not in ORGANIZATION_SORTS:
        raise errors.ApplicationError(
            _("Cannot sort organizations by %(sort)s.") % {"sort": sort}, errors={"sort": [_("Unknown sort")]}
        )
    key, descending = ORGANIZATION_SORTS[sort]
    counts = selectors.published_dataset_counts()
    # Centers are few (tens): sorted here so names sort as CKAN clients see them.
    centers = sorted(_centers(user), key=lambda o: key(o, counts), reverse=descending)
    chosen = centers[offset : offset + limit]
    if _bool(params, "all_fields"):
        return [organization_dict(o, counts.get(o.pk, 0)) for o in chosen]
    return [organization_name(o.pk) for o in chosen]


def organization_show(user, params: dict) -> dict:
    """One data center by name (`center-<id>`) or id; `include_datasets` adds its published
    datasets (at most 1,000)."""
    org_id = _organization_id(_str(params, "id") or params.get("id"))
    org = _centers(user).filter(pk=org_id).first() if org_id is not None else None
    if org is None:
        raise errors.NotFound(_("Not found."))
    published = selectors.datasets_visible_to(user).filter(center=org, status=Dataset.Status.PUBLISHED)
    data = organization_dict(org, published.count())
    if _bool(params, "include_datasets"):
        data["packages"] = [package_dict(d) for d in _packages(published.order_by("slug"))[:LIST_MAX]]
    return data


def tag_list(user, params: dict) -> list:
    """Keywords of the published datasets, sorted; `query` keeps those containing it;
    `all_fields` returns tag objects."""
    query = _str(params, "query").lower()
    names: set[str] = set()
    qs = selectors.datasets_visible_to(user).filter(status=Dataset.Status.PUBLISHED)
    for _center, _theme, keywords, _open in selectors.dataset_listing_facts(qs):
        names.update(k for k in keywords or () if isinstance(k, str) and k.strip())
    chosen = sorted(n for n in names if query in n.lower())
    return [_tag(n) for n in chosen] if _bool(params, "all_fields") else chosen


def status_show(user, params: dict) -> dict:
    return {
        "site_title": "장터 Jangteo",
        "site_description": _("A data exchange for regional economic data."),
        "site_url": settings.SITE_URL,
        "ckan_version": "2.10.0",
        "error_emails_to": None,
        "locale_default": "ko",
        "extensions": [],
    }


ACTIONS: dict[str, Callable[[object, dict], object]] = {
    "package_list": package_list,
    "package_search": package_search,
    "package_show": package_show,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "tag_list": tag_list,
    "status_show": status_show,
}


def help_show(user, params: dict) -> str:
    """What an action does and the parameters it takes."""
    name = _str(params, "name")
    if name not in ACTIONS and name != "help_show":
        raise errors.NotFound(_("Not found."))
    return (ACTIONS.get(name) or help_show).__doc__ or ""


ACTIONS["help_show"] = help_show

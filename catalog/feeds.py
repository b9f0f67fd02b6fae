"""Machine-readable catalog feeds: DCAT-AP 3.0.1 JSON-LD for harvesters (data.europa.eu, CKAN's
DCAT harvester and other portals), schema.org Dataset JSON-LD for search engines.

The DCAT-AP feed validates against the official SHACL shapes and class ranges (tests/catalog/
test_feeds.py runs pySHACL over it): controlled values are IRIs from the EU vocabularies (file
types, frequencies, languages, data themes, access rights), and every object is typed with the
class DCAT-AP expects (licences are `dct:LicenseDocument`s, publishers `foaf:Agent`s…).

What the feed lists comes from one place, `catalog_entries()`: add other kinds of entries there."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from catalog.models import Dataset, Offer
from catalog.vocabularies import regions_by_code

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"

# Our themes → the EU data-theme vocabulary (a dataset may sit under several). Everything on
# Jangteo is regional economic data, so a theme without a closer match is "Regions and cities".
EU_THEMES = {
    "ECON": ("경제·재정", "Economy and finance"),
    "SOCI": ("인구·사회", "Population and society"),
    "REGI": ("지역·도시", "Regions and cities"),
}
THEME_CODES = {
    "local_currency": ["ECON"],
    "business": ["ECON"],
    "jobs": ["ECON", "SOCI"],
    "commercial_district": ["ECON", "REGI"],
    "population": ["SOCI"],
    "finance": ["ECON"],
    "real_estate": ["ECON", "REGI"],
    "other": ["REGI"],
}
FREQUENCIES = {  # UpdateFrequency → EU frequency vocabulary
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}
# The files a license can be delivered as (one distribution each per offer): label, EU file
# type (None where the vocabulary has none: JSON Lines), IANA media type. Every file comes
# inside a zip with its manifest and datapackage.json.
DELIVERY_FORMATS = [
    ("csv", "CSV", "CSV", "text/csv"),
    ("parquet", "Parquet", "PARQUET", "application/vnd.apache.parquet"),
    ("jsonl", "JSON Lines", None, None),
    ("xlsx", "XLSX", "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
]
KOREAN = EU + "language/KOR"
ENGLISH = EU + "language/ENG"


def _url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _lang(ko: str, en: str = "") -> list[dict]:
    values = [{"@value": ko, "@language": "ko"}]
    if en:
        values.append({"@value": en, "@language": "en"})
    return values


def _in_both(render) -> list[dict]:
    """`render()` (which uses gettext) in Korean and in English, as language-tagged literals."""
    with translation.override("ko"):
        ko = render()
    with translation.override("en"):
        en = render()
    return _lang(ko, en)


def _datetime(value) -> dict:
    return {"@value": value.isoformat(timespec="seconds"), "@type": "xsd:dateTime"}


def _date(value) -> dict:
    return {"@value": value.isoformat(), "@type": "xsd:date"}


def dataset_page_url(dataset: Dataset) -> str:
    return _url(reverse("dataset-page", args=[dataset.slug]))


def publisher_iri(organization_id: int) -> str:
    """A center's IRI: its datasets in the catalog."""
    return _url(f"/datasets/?center={organization_id}")


def terms_url(dataset: Dataset, offer: Offer) -> str:
    """Where a person reads an offer's license terms (an anchor on the dataset page)."""
    return f"{dataset_page_url(dataset)}#offer-{offer.pk}-terms"


def theme_iris(theme: str) -> list[str]:
    return [EU + "data-theme/" + code for code in THEME_CODES.get(theme, THEME_CODES["other"])]


class _Graph:
    """Shared objects (themes, languages, file types, publishers, licences) written once,
    referred to by IRI wherever they are used."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}

    def ref(self, iri: str, type_: str | list[str], **properties) -> dict:
        self.nodes.setdefault(iri, {"@id": iri, "@type": type_, **properties})
        return {"@id": iri}


def offer_rights_text(offer: Offer) -> str:
    """An offer's conditions in a line (approval, price, duration, quota), in the active language."""
    price = _("Free") if offer.is_free else _("%(price)s won + VAT") % {"price": f"{offer.price_krw:,}"}
    return " · ".join(
        [
            f"{_('Approval')}: {offer.get_approval_display()}",
            price,
            f"{_('License duration')}: {_('%(n)s days') % {'n': offer.duration_days}}",
            f"{_('Download quota')}: {_('%(n)s downloads') % {'n': offer.download_quota}}",
        ]
    )


def _distributions(dataset: Dataset, offers, graph: _Graph) -> list[dict]:
    page = dataset_page_url(dataset)
    items = []
    for offer in offers:
        licence = graph.ref(
            terms_url(dataset, offer),
            "dct:LicenseDocument",
            **{
                "dct:title": _in_both(lambda o=offer: _("License terms of %(offer)s") % {"offer": o.name}),
                **(
                    {"dct:description": _lang(offer.current_terms.text)}
                    if offer.current_terms and offer.current_terms.text.strip()
                    else {}
                ),
            },
        )
        rights = graph.ref(
            f"{page}#offer-{offer.pk}-rights",
            "dct:RightsStatement",
            **{"dct:description": _in_both(lambda o=offer: offer_rights_text(o))},
        )
        for code, label, file_type, media_type in DELIVERY_FORMATS:
            node = {
                "@id": f"{page}#offer-{offer.pk}-{code}",
                "@type": "dcat:Distribution",
                "dct:title": _lang(
                    f"{offer.name} ({label})", f"{offer.name_en} ({label})" if offer.name_en else ""
                ),
                "dct:description": _in_both(
                    lambda o=offer, lbl=label: (
                        _(
                            "%(kind)s data delivered as %(format)s in a zip with its manifest, "
                            "once a request is licensed."
                        )
                        % {"kind": o.get_kind_display(), "format": lbl}
                    )
                ),
                "dcat:accessURL": {"@id": f"{page}#offer-{offer.pk}"},
                "dct:license": licence,
                "dct:rights": rights,
                "dcat:packageFormat": graph.ref(IANA + "application/zip", "dct:MediaType"),
            }
            if file_type:
                node["dct:format"] = graph.ref(EU + "file-type/" + file_type, "dct:MediaTypeOrExtent")
            if media_type:
                node["dcat:mediaType"] = graph.ref(IANA + media_type, "dct:MediaType")
            if dataset.current_version_id:
                node["dct:conformsTo"] = {"@id": _table_schema_url(dataset)}
            items.append(node)
    return items


def _table_schema_url(dataset: Dataset) -> str:
    return _url(f"/api/v1/versions/{dataset.current_version_id}/tableschema.json")


def _themes(theme: str, graph: _Graph) -> list[dict]:
    """The EU data themes of a dataset's theme, as SKOS concepts."""
    return [
        graph.ref(
            iri,
            "skos:Concept",
            **{
                "skos:prefLabel": _lang(*EU_THEMES[iri.rsplit("/", 1)[1]]),
                "skos:inScheme": {"@id": EU + "data-theme"},
            },
        )
        for iri in theme_iris(theme)
    ]


def _spatial(codes) -> list[dict]:
    """The 시·군 a dataset covers, as dct:Location (unknown codes left out)."""
    known = regions_by_code()
    return [
        {
            "@type": "dct:Location",
            "dct:identifier": code,
            "skos:prefLabel": _lang(known[code].name, known[code].name_en),
        }
        for code in codes
        if code in known
    ]


def dcat_dataset(dataset: Dataset, graph: _Graph, offers=None) -> dict:
    """One dataset as a DCAT-AP `dcat:Dataset`; its shared objects go into `graph`.
    `offers`: the offers it lists (default: the active ones)."""
    offers = [o for o in dataset.offers.all() if o.is_active] if offers is None else offers
    page = dataset_page_url(dataset)
    description = dataset.description or dataset.summary or dataset.title
    description_en = dataset.description_en or dataset.summary_en
    publisher = graph.ref(
        publisher_iri(dataset.center_id),
        ["foaf:Agent", "foaf:Organization"],
        **{"foaf:name": _lang(dataset.center.name, dataset.center.name_en)},
    )
    node = {
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.slug,
        "dct:title": _lang(dataset.title, dataset.title_en),
        "dct:description": _lang(description, description_en),
        "dcat:keyword": [{"@value": k, "@language": "ko"} for k in dataset.keywords if isinstance(k, str)],
        "dcat:theme": _themes(dataset.theme, graph),
        "dcat:landingPage": graph.ref(page, "foaf:Document"),
        "dct:publisher": publisher,
        "dct:creator": publisher,
        "dct:language": [graph.ref(KOREAN, "dct:LinguisticSystem")],
        "dct:accessRights": graph.ref(EU + "access-right/RESTRICTED", "dct:RightsStatement"),
        "dct:accrualPeriodicity": graph.ref(
            EU + "frequency/" + FREQUENCIES.get(dataset.update_frequency, "IRREG"), "dct:Frequency"
        ),
        "dct:spatial": _spatial(dataset.regions),
        "dct:modified": _datetime(dataset.updated_at),
    }
    if dataset.published_at:
        node["dct:issued"] = _datetime(dataset.published_at)
    if dataset.temporal_start or dataset.temporal_end:
        period = {"@type": "dct:PeriodOfTime"}
        if dataset.temporal_start:
            period["dcat:startDate"] = _date(dataset.temporal_start)
        if dataset.temporal_end:
            period["dcat:endDate"] = _date(dataset.temporal_end)
        node["dct:temporal"] = period
    if dataset.current_version_id:
        node["dcat:version"] = str(dataset.current_version.number)
        node["dct:conformsTo"] = graph.ref(
            _table_schema_url(dataset),
            "dct:Standard",
            **{"dct:title": _lang(f"Table Schema v{dataset.current_version.number}")},
        )
    node["dcat:distribution"] = _distributions(dataset, offers, graph)
    return node


def feed_datasets() -> QuerySet[Dataset]:
    """The datasets the public feed lists: published ones (their centers are verified: an
    unverified center cannot create a dataset), with what their entries read."""
    return (
        Dataset.objects.filter(status=Dataset.Status.PUBLISHED)
        .select_related("center", "current_version")
        .prefetch_related(
            Prefetch(
                "offers",
                queryset=Offer.objects.filter(is_active=True).select_related("current_terms").order_by("pk"),
            )
        )
        .order_by("slug")
    )


# Later apps add their own dcat:Dataset nodes (registered in their AppConfig.ready):
# callables taking the graph and yielding nodes.
EXTRA_DATASETS: list = []


def register_dcat_datasets(provider) -> None:
    if provider not in EXTRA_DATASETS:
        EXTRA_DATASETS.append(provider)


def catalog_entries(graph: _Graph) -> Iterator[dict]:
    """Every dataset node of the catalog feed, shared objects into `graph`. The one place that
    decides what the feed lists: the registered providers' entries are yielded from here too."""
    for dataset in feed_datasets().iterator(chunk_size=500):
        yield dcat_dataset(dataset, graph)
    for provider in EXTRA_DATASETS:
        yield from provider(graph)


def dcat_catalog() -> dict:
    """The whole catalog as DCAT-AP 3.0.1 JSON-LD (a `dcat:Catalog` and the objects it uses)."""
    graph = _Graph()
    publisher = graph.ref(
        _url("/#publisher"), ["foaf:Agent", "foaf:Organization"], **{"foaf:name": _lang("장터", "Jangteo")}
    )
    catalog = {
        "@id": _url("/catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": _lang("장터 지역경제 데이터 카탈로그", "Jangteo regional economic data catalog"),
        "dct:description": _lang(
            "경기도 지역경제 데이터 거래소", "A data exchange for Gyeonggi regional economic data"
        ),
        "dct:publisher": publisher,
        "foaf:homepage": graph.ref(_url("/"), "foaf:Document"),
        "dct:language": [
            graph.ref(KOREAN, "dct:LinguisticSystem"),
            graph.ref(ENGLISH, "dct:LinguisticSystem"),
        ],
        "dcat:themeTaxonomy": graph.ref(
            EU + "data-theme", "skos:ConceptScheme", **{"dct:title": _lang("데이터 주제", "Data theme")}
        ),
        "dcat:dataset": list(catalog_entries(graph)),
    }
    return {"@context": CONTEXT, "@graph": [catalog, *graph.nodes.values()]}


def _schema_org_description(dataset: Dataset) -> str:
    """Search engines want 50 to 5,000 characters: a short summary gets a sentence about who
    provides the data and where to ask for it."""
    text = (dataset.description or dataset.summary or dataset.title).strip()
    if len(text) < 50:
        with translation.override("ko"):
            text = f"{text} — " + _(
                "%(center)s provides this dataset on Jangteo, the regional economic data exchange; "
                "request access on its page."
            ) % {"center": dataset.center.name}
    return text[:5000]


def _conditions_of_access() -> str:
    with translation.override("ko"):
        return _(
            "Licensed on request: choose an offer on the dataset page, state a purpose and accept its terms."
        )


def schema_org_dataset(dataset: Dataset, offers=None) -> dict:
    """schema.org Dataset markup for the dataset's page; `offers` when already read."""
    offers = dataset.offers.all() if offers is None else offers
    active = [o for o in offers if o.is_active]
    page = dataset_page_url(dataset)
    known = regions_by_code()
    center = {"@type": "Organization", "name": dataset.center.name, "url": publisher_iri(dataset.center_id)}
    data = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": page,
        "url": page,
        "identifier": page,
        "name": dataset.title,
        "alternateName": dataset.title_en or None,
        "description": _schema_org_description(dataset),
        "keywords": [k for k in dataset.keywords if isinstance(k, str)],
        "inLanguage": "ko",
        "creator": center,
        "publisher": center,
        "license": [{"@type": "CreativeWork", "name": o.name, "url": terms_url(dataset, o)} for o in active],
        "conditionsOfAccess": _conditions_of_access(),
        "spatialCoverage": [
            {"@type": "AdministrativeArea", "name": known[c].name, "identifier": c}
            for c in dataset.regions
            if c in known
        ],
        "isAccessibleForFree": any(o.price_krw == 0 for o in active),
        "distribution": [
            {
                "@type": "DataDownload",
                "name": f"{o.name} ({label})",
                "encodingFormat": media_type or "application/jsonl",
                "contentUrl": f"{page}#offer-{o.pk}",
            }
            for o in active
            for _code, label, _type, media_type in DELIVERY_FORMATS
        ],
        "includedInDataCatalog": {"@type": "DataCatalog", "name": "장터", "url": _url("/datasets/")},
        "version": str(dataset.current_version.number) if dataset.current_version_id else None,
        "datePublished": dataset.published_at.isoformat(timespec="seconds") if dataset.published_at else None,
        "dateModified": dataset.updated_at.isoformat(timespec="seconds"),
    }
    if dataset.temporal_start or dataset.temporal_end:
        start = dataset.temporal_start.isoformat() if dataset.temporal_start else ".."
        end = dataset.temporal_end.isoformat() if dataset.temporal_end else ".."
        data["temporalCoverage"] = f"{start}/{end}"
    return {k: v for k, v in data.items() if v not in (None, [], "")}

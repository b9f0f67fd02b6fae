"""Machine-readable catalog feeds: DCAT-AP JSON-LD for harvesters (CKAN's DCAT harvester and
other portals), schema.org Dataset JSON-LD for search engines."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from catalog.models import Dataset
from catalog.vocabularies import regions_by_code

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}
THEME_URIS = {  # EU data theme vocabulary, as DCAT-AP expects
    "local_currency": "http://publications.europa.eu/resource/authority/data-theme/ECON",
    "business": "http://publications.europa.eu/resource/authority/data-theme/ECON",
    "jobs": "http://publications.europa.eu/resource/authority/data-theme/SOCI",
    "commercial_district": "http://publications.europa.eu/resource/authority/data-theme/ECON",
    "population": "http://publications.europa.eu/resource/authority/data-theme/SOCI",
    "finance": "http://publications.europa.eu/resource/authority/data-theme/ECON",
    "real_estate": "http://publications.europa.eu/resource/authority/data-theme/ECON",
    "other": "http://publications.europa.eu/resource/authority/data-theme/OP_DATPRO",
}


def _url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _lang(ko: str, en: str) -> list[dict]:
    values = [{"@value": ko, "@language": "ko"}]
    if en:
        values.append({"@value": en, "@language": "en"})
    return values


def dcat_dataset(dataset: Dataset) -> dict:
    page = _url(reverse("dataset-page", args=[dataset.slug]))
    known = regions_by_code()
    node = {
        "@id": page,
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.slug,
        "dct:title": _lang(dataset.title, dataset.title_en),
        "dct:description": _lang(
            dataset.description or dataset.summary, dataset.description_en or dataset.summary_en
        ),
        "dcat:keyword": dataset.keywords,
        "dcat:theme": [{"@id": THEME_URIS.get(dataset.theme, THEME_URIS["other"])}],
        "dcat:landingPage": {"@id": page},
        "dct:publisher": {
            "@id": _url(f"/api/v1/organizations/{dataset.center_id}/"),
            "@type": "foaf:Organization",
            "foaf:name": _lang(dataset.center.name, dataset.center.name_en),
        },
        "dct:spatial": [
            {"@type": "dct:Location", "dct:identifier": code, "skos:prefLabel": known[code].name}
            for code in dataset.regions
            if code in known
        ],
        "dct:accrualPeriodicity": dataset.update_frequency,
        "dct:issued": {"@value": dataset.published_at.isoformat(), "@type": "xsd:dateTime"}
        if dataset.published_at
        else None,
        "dct:modified": {"@value": dataset.updated_at.isoformat(), "@type": "xsd:dateTime"},
    }
    if dataset.temporal_start or dataset.temporal_end:
        node["dct:temporal"] = {
            "@type": "dct:PeriodOfTime",
            **(
                {"dcat:startDate": {"@value": dataset.temporal_start.isoformat(), "@type": "xsd:date"}}
                if dataset.temporal_start
                else {}
            ),
            **(
                {"dcat:endDate": {"@value": dataset.temporal_end.isoformat(), "@type": "xsd:date"}}
                if dataset.temporal_end
                else {}
            ),
        }
    node["dcat:distribution"] = [
        {
            "@id": f"{page}#offer-{offer.pk}",
            "@type": "dcat:Distribution",
            "dct:title": _lang(offer.name, offer.name_en),
            "dcat:accessURL": {"@id": page},
            "dct:format": "Parquet, CSV, JSON Lines, XLSX",
            "dct:license": {
                "@id": f"{page}#offer-{offer.pk}-terms",
                "dct:description": offer.current_terms.text if offer.current_terms else "",
            },
            "dct:rights": offer.get_approval_display(),
        }
        for offer in dataset.offers.all()
        if offer.is_active
    ]
    if dataset.current_version_id:
        node["dct:conformsTo"] = {
            "@id": _url(f"/api/v1/versions/{dataset.current_version_id}/tableschema.json")
        }
    node["@context"] = {**CONTEXT, "skos": "http://www.w3.org/2004/02/skos/core#"}
    return {k: v for k, v in node.items() if v is not None}


# Later apps add their own dcat:Dataset nodes (in their AppConfig.ready): callables → [node].
EXTRA_DATASETS: list = []


def register_dcat_datasets(provider) -> None:
    if provider not in EXTRA_DATASETS:
        EXTRA_DATASETS.append(provider)


def dcat_catalog(datasets) -> dict:
    items = [dcat_dataset(d) for d in datasets] + [node for provider in EXTRA_DATASETS for node in provider()]
    for item in items:
        item.pop("@context", None)
    return {
        "@context": {
            **CONTEXT,
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "owl": "http://www.w3.org/2002/07/owl#",
        },
        "@id": _url("/catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": _lang("장터 지역경제 데이터 카탈로그", "Jangteo regional economic data catalog"),
        "dct:description": _lang(
            "경기도 지역경제 데이터 거래소", "A data exchange for Gyeonggi regional economic data"
        ),
        "foaf:homepage": {"@id": _url("/")},
        "dct:language": ["ko", "en"],
        "dcat:dataset": items,
    }


def schema_org_dataset(dataset: Dataset, offers=None) -> dict:
    """schema.org Dataset markup for the dataset's page; `offers` when already read."""
    offers = dataset.offers.all() if offers is None else offers
    page = _url(reverse("dataset-page", args=[dataset.slug]))
    known = regions_by_code()
    data = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": page,
        "url": page,
        "name": dataset.title,
        "alternateName": dataset.title_en or None,
        "description": (dataset.description or dataset.summary or dataset.title)[:5000],
        "keywords": dataset.keywords,
        "inLanguage": "ko",
        "creator": {"@type": "Organization", "name": dataset.center.name},
        "publisher": {"@type": "Organization", "name": dataset.center.name},
        "spatialCoverage": [
            {"@type": "AdministrativeArea", "name": known[c].name, "identifier": c}
            for c in dataset.regions
            if c in known
        ],
        "isAccessibleForFree": any(o.price_krw == 0 for o in offers if o.is_active),
        "dateModified": dataset.updated_at.isoformat(),
    }
    if dataset.temporal_start and dataset.temporal_end:
        data["temporalCoverage"] = f"{dataset.temporal_start.isoformat()}/{dataset.temporal_end.isoformat()}"
    return {k: v for k, v in data.items() if v not in (None, [], "")}

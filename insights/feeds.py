"""Open statistics releases as DCAT datasets in /catalog.jsonld (registered with catalog.feeds
in InsightsConfig.ready, so catalog never imports insights)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from insights import selectors


def _url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _lang(ko: str, en: str) -> list[dict]:
    values = [{"@value": ko, "@language": "ko"}]
    if en:
        values.append({"@value": en, "@language": "en"})
    return values


def dcat_release_datasets() -> list[dict]:
    """One dcat:Dataset per listed release: free, open, with a CSV and a JSON distribution."""
    nodes = []
    for release in selectors.releases_listed():
        api = _url(reverse("v1:insight-detail", args=[release.slug]))
        edition = release.current
        node = {
            "@id": api,
            "@type": "dcat:Dataset",
            "dct:identifier": f"insights/{release.slug}",
            "dct:title": _lang(release.title, release.title_en),
            "dct:description": _lang(release.method, release.method_en),
            "dcat:keyword": ["공개 통계", "open statistics", *release.dimension_names],
            "dcat:theme": [{"@id": "http://publications.europa.eu/resource/authority/data-theme/ECON"}],
            "dcat:landingPage": {"@id": _url(reverse("insights"))},
            "dct:publisher": {
                "@type": "foaf:Organization",
                "foaf:name": _lang(release.dataset.center.name, release.dataset.center.name_en),
            },
            "dct:source": {"@id": _url(reverse("dataset-page", args=[release.dataset.slug]))},
            "owl:versionInfo": str(edition.number),
            "dct:license": {"@id": "https://www.kogl.or.kr/info/license.do#05-tab"},
            "dcat:distribution": [
                {
                    "@type": "dcat:Distribution",
                    "dcat:accessURL": {"@id": api},
                    "dcat:mediaType": "application/json",
                },
                {
                    "@type": "dcat:Distribution",
                    "dcat:downloadURL": {"@id": _url(reverse("insights-release-csv", args=[release.slug]))},
                    "dcat:mediaType": "text/csv",
                },
            ],
        }
        if edition.period_start and edition.period_end:
            node["dct:temporal"] = {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": {"@value": edition.period_start.isoformat(), "@type": "xsd:date"},
                "dcat:endDate": {"@value": edition.period_end.isoformat(), "@type": "xsd:date"},
            }
        if edition.built_at:
            node["dct:modified"] = {"@value": edition.built_at.isoformat(), "@type": "xsd:dateTime"}
        nodes.append(node)
    return nodes

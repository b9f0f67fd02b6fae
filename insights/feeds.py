"""Open statistics releases as DCAT-AP datasets in /catalog.jsonld (registered with catalog.feeds
in InsightsConfig.ready, so catalog never imports insights). Typed the way the catalog's own
entries are, so the feed stays free of SHACL violations."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import reverse

from catalog import feeds
from insights import selectors

KOGL_TYPE_1 = "https://www.kogl.or.kr/info/license.do#05-tab"


def _release_distributions(graph, api: str, csv_url: str, licence) -> list[dict]:
    """A release's JSON (the API answer) and CSV distributions."""
    return [
        {
            "@id": f"{api}#json",
            "@type": "dcat:Distribution",
            "dcat:accessURL": {"@id": api},
            "dct:license": licence,
            "dcat:mediaType": graph.ref(feeds.IANA + "application/json", "dct:MediaType"),
            "dct:format": graph.ref(feeds.EU + "file-type/JSON", "dct:MediaTypeOrExtent"),
        },
        {
            "@id": f"{api}#csv",
            "@type": "dcat:Distribution",
            "dcat:accessURL": {"@id": csv_url},
            "dcat:downloadURL": {"@id": csv_url},
            "dct:license": licence,
            "dcat:mediaType": graph.ref(feeds.IANA + "text/csv", "dct:MediaType"),
            "dct:format": graph.ref(feeds.EU + "file-type/CSV", "dct:MediaTypeOrExtent"),
        },
    ]


def dcat_release_datasets(graph) -> Iterator[dict]:
    """One dcat:Dataset per listed release: free, open, with a JSON and a CSV distribution."""
    licence = graph.ref(
        KOGL_TYPE_1,
        "dct:LicenseDocument",
        **{"dct:title": feeds._lang("공공누리 제1유형(출처표시)", "KOGL Type 1 (attribution)")},
    )
    econ = feeds.EU + "data-theme/ECON"
    for release in selectors.releases_listed():
        api = feeds._url(reverse("v1:insight-detail", args=[release.slug]))
        csv_url = feeds._url(reverse("insights-release-csv", args=[release.slug]))
        keywords = ("공개 통계", *release.dimension_names)
        page = feeds._url(reverse("insights"))
        edition = release.current
        center = release.dataset.center
        publisher = graph.ref(
            feeds.publisher_iri(center.pk),
            ["foaf:Agent", "foaf:Organization"],
            **{"foaf:name": feeds._lang(center.name, center.name_en)},
        )
        node = {
            "@id": api,
            "@type": "dcat:Dataset",
            "dct:identifier": f"insights/{release.slug}",
            "dct:title": feeds._lang(release.title, release.title_en),
            "dct:description": feeds._lang(release.method or release.title, release.method_en),
            "dcat:keyword": [{"@value": k, "@language": "ko"} for k in keywords],
            "dcat:theme": [
                graph.ref(
                    econ,
                    "skos:Concept",
                    **{
                        "skos:prefLabel": feeds._lang(*feeds.EU_THEMES["ECON"]),
                        "skos:inScheme": {"@id": feeds.EU + "data-theme"},
                    },
                )
            ],
            "dcat:landingPage": graph.ref(page, "foaf:Document"),
            "dct:publisher": publisher,
            "dct:creator": publisher,
            "dct:language": [graph.ref(feeds.KOREAN, "dct:LinguisticSystem")],
            "dct:accessRights": graph.ref(feeds.EU + "access-right/PUBLIC", "dct:RightsStatement"),
            "dct:source": {"@id": feeds.dataset_page_url(release.dataset)},
            "dcat:version": str(edition.number),
            "dcat:distribution": _release_distributions(graph, api, csv_url, licence),
        }
        if edition.period_start and edition.period_end:
            node["dct:temporal"] = {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": feeds._date(edition.period_start),
                "dcat:endDate": feeds._date(edition.period_end),
            }
        if edition.built_at:
            node["dct:modified"] = feeds._datetime(edition.built_at)
        yield node

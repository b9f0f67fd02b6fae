"""The machine-readable catalog read as its real consumers read it: `/catalog.jsonld` parsed with
rdflib and validated with pySHACL against the official DCAT-AP 3.0.1 shapes and class ranges
(a harvester rejects a feed that violates them), and the dataset page's schema.org markup taken
from the HTML's JSON-LD scripts (as search engines' extractors do) and read with rdflib, checked
for what search engines require and recommend for a Dataset."""

from __future__ import annotations

import datetime
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import translation
from pyshacl import validate
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from catalog.models import Offer
from tests import factories

pytestmark = pytest.mark.django_db

SHAPES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "dcat-ap-3.0.1"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
EU = "http://publications.europa.eu/resource/authority/"


@pytest.fixture(autouse=True)
def _language_left_as_found():
    """Requests made here activate their language in this thread; put back the one found, so
    later tests that (wrongly) rely on an earlier test's language are not disturbed."""
    found = translation.get_language()
    yield
    translation.activate(found) if found else translation.deactivate()


@pytest.fixture(scope="module")
def shapes() -> Graph:
    """The official shapes and ranges, from ../shared beside the repository (CI puts a copy
    there). Absent, the tests skip — a failure under REQUIRE_SERVICES=1 (tests/conftest.py)."""
    if not (SHAPES_DIR / "shapes.ttl").exists() or not (SHAPES_DIR / "range.ttl").exists():
        pytest.skip(f"DCAT-AP 3.0.1 shapes not found in {SHAPES_DIR}")
    graph = Graph()
    graph.parse(SHAPES_DIR / "shapes.ttl", format="turtle")
    graph.parse(SHAPES_DIR / "range.ttl", format="turtle")
    return graph


def harvest(client) -> Graph:
    response = client.get("/catalog.jsonld")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ld+json"
    return Graph().parse(data=response.content.decode("utf-8"), format="json-ld")


def assert_conforms(data: Graph, shapes: Graph) -> None:
    conforms, _results, text = validate(data, shacl_graph=shapes, inference="none", allow_warnings=False)
    assert conforms, text


class _JsonLdScripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.blocks, self._inside = [], False

    def handle_starttag(self, tag, attrs):
        self._inside = tag == "script" and dict(attrs).get("type") == "application/ld+json"
        if self._inside:
            self.blocks.append("")

    def handle_endtag(self, tag):
        self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.blocks[-1] += data


SCHEMA = Namespace("https://schema.org/")


def page_markup(html: str) -> dict:
    """The page's one JSON-LD block, as JSON; also read as RDF (the schema.org context cannot be
    fetched here, so its vocabulary is given inline) to show it is well-formed JSON-LD."""
    parser = _JsonLdScripts()
    parser.feed(html)
    (block,) = parser.blocks
    data = json.loads(block)
    assert data["@context"] == "https://schema.org/"
    graph = Graph().parse(data=json.dumps({**data, "@context": {"@vocab": str(SCHEMA)}}), format="json-ld")
    assert (URIRef(data["@id"]), SCHEMA.name, Literal(data["name"])) in graph
    return data


def _world():
    """Two centers; published datasets with offers of every kind (free automatic, paid
    center review, one closed), coverage, frequencies and themes; a draft and a retired one."""
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", name_en="Card center")
    other = factories.OrganizationFactory(kind="center", name="경기일자리재단", name_en="")
    cards = factories.published_dataset(
        center,
        slug="card-payments",
        title="경기지역화폐 결제 내역",
        keywords=["지역화폐", "카드"],
        theme="local_currency",
        update_frequency="monthly",
        temporal_start=datetime.date(2024, 1, 1),
        temporal_end=datetime.date(2024, 6, 30),
    )
    free = factories.OfferFactory(dataset=cards, name="무료 집계", approval=Offer.Approval.AUTOMATIC)
    factories.OfferFactory(dataset=cards, name="유료 레코드", name_en="Paid records", price_krw=250_000)
    factories.OfferFactory(dataset=cards, name="마감된 제공", is_active=False)
    jobs = factories.published_dataset(
        other, slug="job-postings", title="구인 공고", theme="jobs", update_frequency="yearly", summary=""
    )
    factories.OfferFactory(dataset=jobs, kind=Offer.Kind.AGGREGATE, price_krw=0)
    factories.published_dataset(other, slug="no-offers", title="제공 없는 데이터", theme="other", regions=[])
    factories.DatasetFactory(center=center, slug="draft-one", title="초안")
    retired = factories.published_dataset(center, slug="retired-one", title="폐기")
    retired.status = "retired"
    retired.save()
    return cards, free


def test_the_catalog_feed_has_no_dcat_ap_violations(client, shapes):
    _cards, free = _world()
    data = harvest(client)
    assert_conforms(data, shapes)

    datasets = {str(d) for d in data.subjects(RDF.type, DCAT.Dataset)}
    assert datasets == {
        f"http://127.0.0.1:8000/datasets/{slug}/" for slug in ("card-payments", "job-postings", "no-offers")
    }  # drafts and retired datasets are not harvested
    (catalog,) = data.subjects(RDF.type, DCAT.Catalog)
    assert (catalog, DCT.publisher, None) in data

    ds = URIRef("http://127.0.0.1:8000/datasets/card-payments/")
    assert set(data.objects(ds, DCAT.theme)) == {URIRef(EU + "data-theme/ECON")}
    assert data.value(ds, DCT.accrualPeriodicity) == URIRef(EU + "frequency/MONTHLY")
    assert data.value(ds, DCT.language) == URIRef(EU + "language/KOR")
    assert data.value(ds, DCAT.version) == Literal("1")
    assert (data.value(ds, DCT.publisher), RDF.type, FOAF.Agent) in data
    assert Literal("지역화폐", lang="ko") in set(data.objects(ds, DCAT.keyword))
    period = data.value(ds, DCT.temporal)
    assert data.value(period, DCAT.startDate).toPython() == datetime.date(2024, 1, 1)

    # Two open offers × four delivery formats; the closed offer is not listed.
    distributions = set(data.objects(ds, DCAT.distribution))
    assert len(distributions) == 8
    formats = {data.value(d, DCT["format"]) for d in distributions} - {None}
    assert formats == {URIRef(EU + "file-type/" + t) for t in ("CSV", "PARQUET", "XLSX")}
    licence = URIRef(f"http://127.0.0.1:8000/datasets/card-payments/#offer-{free.pk}-terms")
    assert (licence, RDF.type, DCT.LicenseDocument) in data
    assert str(data.value(licence, DCT.description)) == free.current_terms.text
    csv = URIRef(f"http://127.0.0.1:8000/datasets/card-payments/#offer-{free.pk}-csv")
    assert data.value(csv, DCT.license) == licence
    assert (data.value(csv, DCT.rights), RDF.type, DCT.RightsStatement) in data

    jobs = URIRef("http://127.0.0.1:8000/datasets/job-postings/")
    assert set(data.objects(jobs, DCAT.theme)) == {
        URIRef(EU + "data-theme/ECON"),
        URIRef(EU + "data-theme/SOCI"),
    }
    assert data.value(jobs, DCT.accrualPeriodicity) == URIRef(EU + "frequency/ANNUAL")


HOSTILE_TITLES = [
    "Quotes \"double\" and 'single' and \\backslash",
    "<script>alert('x')</script> 결제",
    "Line one\nLine two\r\nTab\there",
    "이모지 🎉👩‍👩‍👧 지역화폐 💳",
    "긴 제목 " + "가" * 190,
]


def test_hostile_titles_stay_valid_and_round_trip(client, shapes):
    center = factories.OrganizationFactory(kind="center", name='센터 "따옴표" <b>', name_en="Center\nnewline")
    for n, title in enumerate(HOSTILE_TITLES):
        dataset = factories.published_dataset(
            center,
            slug=f"hostile-{n}",
            title=title,
            title_en=title[::-1],
            description=title + "\n\n" + "설명 " * 5000,
            keywords=[title, "</script>", ""],
        )
        factories.OfferFactory(dataset=dataset, name=title, terms='약관 "</script>" 🎉\n둘째 줄')
    data = harvest(client)
    assert_conforms(data, shapes)
    titles = {str(t) for t in data.objects(None, DCT.title) if t.language == "ko"}
    assert set(HOSTILE_TITLES) <= titles


def test_dataset_page_schema_org_has_what_search_engines_read(client):
    _cards, free = _world()
    html = client.get("/datasets/card-payments/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    data = page_markup(html)
    assert data["@type"] == "Dataset"
    # Required: name and description (50 to 5,000 characters).
    assert data["name"] == "경기지역화폐 결제 내역"
    assert 50 <= len(data["description"]) <= 5000
    # Recommended.
    assert data["url"] == data["identifier"] == "http://127.0.0.1:8000/datasets/card-payments/"
    assert data["keywords"] == ["지역화폐", "카드"]
    assert data["creator"]["@type"] == data["publisher"]["@type"] == "Organization"
    assert data["publisher"]["name"] == "경기지역화폐 운영센터"
    assert data["temporalCoverage"] == "2024-01-01/2024-06-30"
    assert {p["identifier"] for p in data["spatialCoverage"]} == {"41110", "41130"}
    assert data["isAccessibleForFree"] is True
    assert data["inLanguage"] == "ko"
    assert data["version"] == "1"
    licences = {lic["url"] for lic in data["license"]}
    assert f"http://127.0.0.1:8000/datasets/card-payments/#offer-{free.pk}-terms" in licences
    assert len(licences) == 2  # the closed offer's terms are not offered
    formats = {d["encodingFormat"] for d in data["distribution"]}
    assert {"text/csv", "application/vnd.apache.parquet"} <= formats
    assert all(d["@type"] == "DataDownload" and d["contentUrl"] for d in data["distribution"])
    # The licence URL points at an element of the page that holds the terms.
    assert f'id="offer-{free.pk}-terms"' in html


def test_schema_org_markup_survives_hostile_text(client):
    center = factories.OrganizationFactory(kind="center", name="센터")
    title = '</script><script>alert(1)</script> "따옴표" 🎉\n줄바꿈'
    dataset = factories.published_dataset(center, slug="hostile-page", title=title, summary="짧음")
    factories.OfferFactory(dataset=dataset)
    html = client.get("/datasets/hostile-page/").content.decode()
    assert "<script>alert(1)" not in html
    data = page_markup(html)
    assert data["name"] == title
    assert 50 <= len(data["description"]) <= 5000
    assert json.dumps(data)  # plain JSON all the way down

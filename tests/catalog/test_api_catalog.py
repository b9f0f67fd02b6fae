import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from catalog.models import Offer
from tests import factories
from tests.catalog.conftest import CARD_CSV

RECORDS_OFFER = {
    "name": "가명 거래 내역",
    "kind": "records",
    "fields": ["시군코드", "업종", "카드번호", "금액", "승인일시", "연령대", "성명"],
    "region_field": "시군코드",
    "date_field": "승인일시",
    "approval": "center_operator",
    "price_krw": 1_000_000,
    "terms": "연구 목적 외 이용 금지",
    "duration_days": 180,
    "download_quota": 5,
}


@pytest.fixture
def published(curator, ingested):
    services.version_publish(actor=curator, version=ingested)
    ingested.dataset.refresh_from_db()
    return ingested.dataset


@pytest.mark.django_db
def test_upload_over_the_api_answers_202_then_the_version_shows_progress(
    login, curator, dataset, django_capture_on_commit_callbacks
):
    client = login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/datasets/{dataset.slug}/versions/",
            {"file": SimpleUploadedFile("../../etc/카드 결제.csv", CARD_CSV.encode("cp949"))},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    body = client.get(f"/api/v1/versions/{response.json()['id']}/").json()
    assert (body["status"], body["progress"], body["row_count"], body["encoding"]) == (
        "ready",
        100,
        60,
        "cp949",
    )
    assert body["original_filename"] == "카드 결제.csv"  # directories stripped
    assert {f["name"]: f["sensitivity"] for f in body["fields"]}["카드번호"] == "identifier"


@pytest.mark.django_db
def test_upload_declared_too_large_gets_413_and_stores_nothing(login, curator, dataset, settings):
    settings.UPLOAD_MAX_BYTES = 100
    response = login(curator).post(
        f"/api/v1/datasets/{dataset.slug}/versions/",
        {"file": SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 400_000)},
        format="multipart",
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not dataset.versions.exists()


@pytest.mark.django_db
def test_create_dataset_over_the_api(login, curator):
    response = login(curator).post(
        "/api/v1/datasets/",
        {
            "title": "경기 일자리",
            "title_en": "Gyeonggi jobs",
            "theme": "jobs",
            "regions": ["41110"],
            "keywords": ["일자리"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "gyeonggi-jobs"
    bad = login(curator).post("/api/v1/datasets/", {"title": "x", "theme": "weather"}, format="json")
    assert bad.status_code == 400 and "theme" in bad.json()["errors"]


@pytest.mark.django_db
def test_drafts_are_404_for_everyone_but_their_center(api, login, dataset, curator, buyer, operator):
    assert api.get(f"/api/v1/datasets/{dataset.slug}/").status_code == 404
    assert (
        login(factories.member(buyer, "analyst")).get(f"/api/v1/datasets/{dataset.slug}/").status_code == 404
    )
    assert login(curator).get(f"/api/v1/datasets/{dataset.slug}/").status_code == 200
    assert login(operator).get(f"/api/v1/datasets/{dataset.slug}/").status_code == 200
    assert dataset.slug not in {d["slug"] for d in api.get("/api/v1/datasets/").json()["results"]}


@pytest.mark.django_db
def test_unpublished_versions_are_404_to_others(api, login, ingested, curator):
    assert api.get(f"/api/v1/versions/{ingested.pk}/").status_code == 404
    assert login(curator).get(f"/api/v1/versions/{ingested.pk}/").status_code == 200


@pytest.mark.django_db
def test_publish_and_offer_over_the_api(login, curator, ingested):
    client = login(curator)
    assert client.post(f"/api/v1/versions/{ingested.pk}/publish/").json()["status"] == "published"
    created = client.post(f"/api/v1/datasets/{ingested.dataset.slug}/offers/", RECORDS_OFFER, format="json")
    assert created.status_code == 400  # 성명 is excluded, 연령대 needs quasi_identifiers_allowed
    assert set(created.json()["errors"]) == {"fields"}
    ok = {**RECORDS_OFFER, "fields": RECORDS_OFFER["fields"][:-1], "quasi_identifiers_allowed": True}
    created = client.post(f"/api/v1/datasets/{ingested.dataset.slug}/offers/", ok, format="json")
    assert created.status_code == 201, created.content
    offer = created.json()
    assert (offer["price_krw"], offer["approval"], offer["terms_version"]) == (
        1_000_000,
        "center_operator",
        1,
    )
    changed = client.patch(f"/api/v1/offers/{offer['id']}/", {"terms": "새 약관"}, format="json").json()
    assert changed["terms_version"] == 2 and changed["terms"] == "새 약관"


@pytest.mark.django_db
def test_preview_applies_the_privacy_rules(api, login, curator, published):
    fields = {f.name: f for f in published.current_version.fields.all()}
    # Visitors never get raw record rows by default (issue 14); the center sees the strict view.
    assert api.get(f"/api/v1/datasets/{published.slug}/preview/").json()["rows"] == []
    body = login(curator).get(f"/api/v1/datasets/{published.slug}/preview/").json()
    assert "성명" not in body["columns"] and "연락처" not in body["columns"]  # excluded
    assert "연령대" not in body["columns"]  # quasi-identifier withheld without an offer allowing it
    card = body["columns"].index("카드번호")
    assert all(len(row[card]) == 64 and not row[card].startswith("C") for row in body["rows"])
    assert fields["카드번호"].sensitivity == "identifier"
    offer = services.offer_create(
        actor=curator,
        dataset=published,
        terms="약관",
        kind="aggregate",
        name="월별 집계",
        dimensions=["시군명", "승인일시"],
        measures=[{"field": "금액", "agg": "sum"}],
        subject_field="카드번호",
        k=3,
        approval="automatic",
    )
    agg = api.get(f"/api/v1/datasets/{published.slug}/preview/?offer={offer.pk}").json()
    assert agg["columns"] == ["시군명", "승인일시", "records", "sum_금액"]
    assert all(row[1].endswith("-01") for row in agg["rows"])  # month granularity
    assert "카드번호" not in json.dumps(agg)


@pytest.mark.django_db
def test_search_finds_korean_substrings_with_facets(api, center):
    a = factories.published_dataset(
        center=center, title="경기지역화폐 결제 내역", theme="local_currency", regions=["41110"]
    )
    other_center = factories.OrganizationFactory(kind="center", buyer_category="", name="기업데이터 센터")
    b = factories.published_dataset(
        center=other_center,
        title="기업 현황",
        summary="사업체 목록",
        theme="business",
        regions=["41110", "41590"],
    )
    for d in (a, b):
        services.dataset_update(
            actor=factories.member(d.center, "curator"), dataset=d, title=d.title
        )  # search text
    body = api.get("/api/v1/datasets/", {"q": "지역화폐"}).json()
    assert [d["slug"] for d in body["results"]] == [a.slug]
    everything = api.get("/api/v1/datasets/").json()
    assert everything["facets"]["theme"] == {"local_currency": 1, "business": 1}
    assert everything["facets"]["region"] == {"41110": 2, "41590": 1}
    assert [d["slug"] for d in api.get("/api/v1/datasets/", {"region": "41590"}).json()["results"]] == [
        b.slug
    ]
    assert api.get("/api/v1/datasets/", {"theme": "weather"}).status_code == 400


@pytest.mark.django_db
def test_price_filters_follow_offers(api):
    free = factories.OfferFactory(price_krw=0).dataset
    paid = factories.OfferFactory(price_krw=50_000).dataset
    assert [d["slug"] for d in api.get("/api/v1/datasets/", {"price": "free"}).json()["results"]] == [
        free.slug
    ]
    results = api.get("/api/v1/datasets/", {"price": "paid"}).json()["results"]
    assert [(d["slug"], d["min_price_krw"]) for d in results] == [(paid.slug, 50_000)]


@pytest.mark.django_db
def test_list_query_count_does_not_grow_with_page_size(api, center, django_assert_max_num_queries):
    for _ in range(30):
        factories.OfferFactory(dataset=factories.published_dataset(center=center))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (5, 30):
        with CaptureQueriesContext(connection) as ctx:
            assert len(api.get("/api/v1/datasets/", {"page_size": size}).json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db
def test_table_schema_and_feeds(api, client, curator, published):
    schema = api.get(f"/api/v1/versions/{published.current_version_id}/tableschema.json").json()
    assert schema["fields"][4] == {"name": "카드번호", "type": "string", "jangteo:sensitivity": "identifier"}
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types["금액"] == "integer" and types["승인일시"] == "datetime"

    services.offer_create(
        actor=curator,
        dataset=published,
        terms="약관",
        kind="records",
        name="공개",
        fields=["시군명", "금액"],
        price_krw=0,
    )
    catalog = client.get("/catalog.jsonld")
    assert catalog["Content-Type"] == "application/ld+json"
    doc = json.loads(catalog.content)
    catalog_node, *shared = doc["@graph"]
    nodes = {n["@id"]: n for n in shared}
    assert catalog_node["@type"] == "dcat:Catalog"
    (entry,) = catalog_node["dcat:dataset"]
    assert entry["dct:title"][0] == {"@value": "경기지역화폐 결제 내역", "@language": "ko"}
    assert nodes[entry["dct:publisher"]["@id"]]["foaf:name"][0]["@value"] == published.center.name
    assert {s["dct:identifier"] for s in entry["dct:spatial"]} == {"41110", "41130"}
    licence = nodes[entry["dcat:distribution"][0]["dct:license"]["@id"]]
    assert licence["@type"] == "dct:LicenseDocument"
    assert licence["dct:description"] == [{"@value": "약관", "@language": "ko"}]

    page = client.get(f"/datasets/{published.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    start = html.index('<script type="application/ld+json">') + len('<script type="application/ld+json">')
    data = json.loads(html[start : html.index("</script>", start)])
    assert data["@type"] == "Dataset" and data["name"] == "경기지역화폐 결제 내역"
    assert data["isAccessibleForFree"] is True


@pytest.mark.django_db
def test_markdown_description_is_rendered_safely(login, curator, published):
    client = login(curator)
    client.patch(
        f"/api/v1/datasets/{published.slug}/",
        {"description": "**굵게** <script>alert(1)</script> [링크](javascript:alert(1))"},
        format="json",
    )
    html = client.get(f"/api/v1/datasets/{published.slug}/").json()["description_html"]
    assert "<strong>굵게</strong>" in html
    assert "<script" not in html and "javascript:" not in html


@pytest.mark.django_db
def test_anonymous_pages_are_cached_but_a_change_shows_at_once(
    api, curator, ingested, django_capture_on_commit_callbacks
):
    assert api.get("/api/v1/datasets/").json()["count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.version_publish(actor=curator, version=ingested)
    assert api.get("/api/v1/datasets/").json()["count"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_update(actor=curator, dataset=ingested.dataset, title="바뀐 제목")
    assert api.get("/api/v1/datasets/").json()["results"][0]["title"] == "바뀐 제목"


@pytest.mark.django_db
def test_profiles_show_values_of_non_public_columns_only_to_the_center(api, login, curator, buyer, published):
    """Names, phone numbers and card numbers must not leak through column profiles (frequent
    values, minimum, maximum, histogram) to anyone outside the dataset's center."""
    analyst = factories.member(buyer, "analyst")
    version_url = f"/api/v1/versions/{published.current_version_id}/"
    outsiders = {
        "anonymous": api,
        "buyer": login(analyst),
    }
    for who, client in outsiders.items():
        for url in (f"/api/v1/datasets/{published.slug}/", version_url):
            body = client.get(url).json()
            fields = {f["name"]: f for f in body.get("current_version", body)["fields"]}
            names = fields["성명"]
            assert names["sensitivity"] != "public"
            assert set(names["profile"]) <= {"null_count", "distinct_estimate"}, (who, url, names)
            assert "홍길동" not in json.dumps(body, ensure_ascii=False), (who, url)
            assert fields["시군코드"]["profile"]["top_values"], (who, url)  # public: values shown
    own = login(curator).get(f"/api/v1/datasets/{published.slug}/").json()
    names = {f["name"]: f for f in own["current_version"]["fields"]}["성명"]
    assert names["profile"]["top_values"]  # the center sees its own data's profile


@pytest.mark.django_db
def test_dataset_representation_is_cached_but_a_field_change_shows_at_once(
    api, curator, published, django_capture_on_commit_callbacks
):
    url = f"/api/v1/datasets/{published.slug}/"
    first = api.get(url).json()
    assert api.get(url).json() == first
    with django_capture_on_commit_callbacks(execute=True):
        services.version_fields_update(
            actor=curator, version=published.current_version, changes=[{"name": "금액", "title": "결제 금액"}]
        )
    fields = {f["name"]: f for f in api.get(url).json()["current_version"]["fields"]}
    assert fields["금액"]["title"] == "결제 금액"


@pytest.mark.django_db
def test_a_visitors_cached_answers_count_views_and_end_when_the_dataset_is_retired(
    api, client, curator, published, django_capture_on_commit_callbacks
):
    from catalog.models import DatasetView

    urls = [f"/api/v1/datasets/{published.slug}/", f"/datasets/{published.slug}/"]
    for url in urls:
        assert api.get(url).status_code == 200  # made and cached
    before = DatasetView.objects.filter(dataset=published).count()
    for url in urls:
        assert api.get(url).status_code == 200  # from the cache
    assert DatasetView.objects.filter(dataset=published).count() == before + 2  # still counted
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_retire(actor=curator, dataset=published)
    for url in urls:
        assert api.get(url).status_code == 404, url


@pytest.mark.django_db
def test_made_up_query_parameters_do_not_fill_the_cache(api, published, monkeypatch):
    from catalog import cache as catalog_cache

    stored = []
    real_store = catalog_cache.store
    monkeypatch.setattr(
        catalog_cache, "store", lambda found, value: stored.append(found.key) or real_store(found, value)
    )
    assert api.get("/api/v1/datasets/", {"q": "카드", "junk": "1"}).status_code == 200
    assert api.get(f"/datasets/{published.slug}/", {"utm": "x"}).status_code == 200
    by_query = [k for k in stored if k.startswith(("catalog:list-json:", "catalog:visitor-page:"))]
    assert by_query == []  # (the page's article, keyed by the dataset alone, may be kept)
    api.get("/api/v1/datasets/", {"q": "카드", "page": "1"})
    api.get(f"/datasets/{published.slug}/")
    assert {k.split(":")[1] for k in stored} >= {"list-json", "visitor-page"}


@pytest.mark.django_db
def test_an_offer_whose_risk_cannot_be_measured_is_refused_open_with_a_clear_error(
    login, curator, ingested, monkeypatch
):
    """On a version too large for the worker's memory the risk report fails: the offer is not
    opened blind, the center is told why (Korean and English) and nothing is saved."""
    import duckdb

    from catalog import risk

    client = login(curator)
    client.post(f"/api/v1/versions/{ingested.pk}/publish/")

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")

    monkeypatch.setattr(risk, "assess_policy", out_of_memory)
    offer = {**RECORDS_OFFER, "fields": RECORDS_OFFER["fields"][:-1], "quasi_identifiers_allowed": True}
    url = f"/api/v1/datasets/{ingested.dataset.slug}/offers/"
    refused = client.post(url, offer, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400
    assert "could not be measured" in refused.json()["errors"]["is_active"][0]
    korean = client.post(url, offer, format="json", HTTP_ACCEPT_LANGUAGE="ko")
    assert korean.status_code == 400 and "위험" in korean.json()["errors"]["is_active"][0]
    assert not Offer.objects.filter(dataset=ingested.dataset).exists()


@pytest.mark.django_db
def test_cached_answers_are_the_fresh_answers_byte_for_byte(api, published):
    """Cached list and dataset answers are kept as the JSON sent: a visitor gets exactly what
    the first visitor got (body and headers), and the browsable API still renders its page."""
    for url in ["/api/v1/datasets/?q=%EC%B9%B4%EB%93%9C", f"/api/v1/datasets/{published.slug}/"]:
        fresh, cached = api.get(url), api.get(url)
        assert fresh.status_code == cached.status_code == 200
        assert cached.content == fresh.content and json.loads(cached.content)
        assert {k: v for k, v in cached.headers.items()} == {k: v for k, v in fresh.headers.items()}
        assert cached["Content-Type"] == "application/json"
        browsable = api.get(url, HTTP_ACCEPT="text/html")
        assert browsable["Content-Type"].startswith("text/html") and published.title in browsable.text
        indented = api.get(url, HTTP_ACCEPT="application/json; indent=2")
        assert json.loads(indented.content) == json.loads(fresh.content) and b"\n  " in indented.content

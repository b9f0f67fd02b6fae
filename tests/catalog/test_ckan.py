"""The CKAN-compatible Action API (/api/3/action/), driven as portals and scripts drive it: with
the real `ckanapi` client library against a live server, and through the test client for the
envelope, the error shapes and what each kind of caller may see."""

from __future__ import annotations

import datetime

import pytest
from ckanapi import NotFound, RemoteCKAN, SearchQueryError, ValidationError
from django.utils import translation

from catalog import services
from catalog.models import Offer
from tests import factories
from tests.conftest import english_client


@pytest.fixture(autouse=True)
def _language_left_as_found():
    """Requests made here activate their language in this thread; put back the one found, so
    later tests that (wrongly) rely on an earlier test's language are not disturbed."""
    found = translation.get_language()
    yield
    translation.activate(found) if found else translation.deactivate()


def _searchable(dataset, curator, **changes):
    """Save through the real service so the search text and region rows are what the catalog
    builds (the factory writes the row directly)."""
    return services.dataset_update(actor=curator, dataset=dataset, title=dataset.title, **changes)


@pytest.fixture
def catalog_world(db):
    """A verified card center with two published datasets (one in 수원시), a draft and a retired
    one; a second verified center with one published dataset; a center still pending
    verification (it could not have published)."""
    cards = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", name_en="Card center")
    jobs = factories.OrganizationFactory(kind="center", name="경기일자리재단", name_en="Jobs foundation")
    pending = factories.OrganizationFactory(
        kind="center", name="미인증 센터", verification="pending", verified_at=None
    )
    curator = factories.member(cards, "curator", email="curator@cards.kr")
    suwon = factories.published_dataset(
        cards,
        slug="suwon-payments",
        title="수원시 지역화폐 결제",
        title_en="Suwon local currency payments",
        keywords=["지역화폐", "수원"],
        regions=["41110"],
        temporal_start=datetime.date(2024, 1, 1),
        temporal_end=datetime.date(2024, 12, 31),
    )
    _searchable(suwon, curator)
    factories.OfferFactory(dataset=suwon, name="무료", approval=Offer.Approval.AUTOMATIC)
    factories.OfferFactory(dataset=suwon, name="유료", price_krw=100_000)
    seongnam = factories.published_dataset(
        cards,
        slug="seongnam-payments",
        title="성남시 지역화폐 결제",
        keywords=["지역화폐"],
        regions=["41130"],
    )
    _searchable(seongnam, curator)
    postings = factories.published_dataset(
        jobs,
        slug="job-postings",
        title="수원 구인 공고",
        theme="jobs",
        keywords=["일자리"],
        regions=["41110"],
    )
    _searchable(postings, curator=factories.member(jobs, "curator"))
    factories.OfferFactory(dataset=postings, kind=Offer.Kind.AGGREGATE)
    draft = factories.DatasetFactory(center=cards, slug="suwon-draft", title="수원 초안", keywords=["비밀"])
    _searchable(draft, curator)
    retired = factories.published_dataset(cards, slug="suwon-retired", title="수원 폐기")
    retired.status = "retired"
    retired.save()
    return {
        "cards": cards,
        "jobs": jobs,
        "pending": pending,
        "curator": curator,
        "suwon": suwon,
        "draft": draft,
        "pending_curator": factories.member(pending, "curator"),
    }


def call(action, client=None, method="get", **params):
    client = client or english_client()
    response = getattr(client, method)(
        f"/api/3/action/{action}", params, **({"format": "json"} if method == "post" else {})
    )
    return response.status_code, response.json()


# --- with the real client library, against a live server -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ckanapi_drives_the_catalog(live_server, catalog_world, login):
    cards = catalog_world["cards"]
    with RemoteCKAN(live_server.url) as ckan:
        assert ckan.action.status_show()["site_url"]

        found = ckan.action.package_search(q="수원")
        assert found["count"] == 2
        assert {p["name"] for p in found["results"]} == {
            "suwon-payments",
            "job-postings",
        }  # no draft, no retired

        by_org = ckan.action.package_search(
            q="수원",
            fq=f"organization:center-{cards.pk}",
            **{"facet.field": ["organization", "tags", "res_format"]},
        )
        (package,) = by_org["results"]
        assert package["organization"]["name"] == f"center-{cards.pk}"
        assert package["title"] == "수원시 지역화폐 결제"
        assert package["num_resources"] == 8  # two open offers × four delivery formats
        assert {r["format"] for r in package["resources"]} == {"CSV", "Parquet", "JSON Lines", "XLSX"}
        assert {t["name"] for t in package["tags"]} == {"지역화폐", "수원"}
        assert by_org["facets"]["tags"] == {"지역화폐": 1, "수원": 1}
        assert by_org["search_facets"]["res_format"]["items"][0]["count"] == 1

        everything = ckan.action.package_search(**{"facet.field": ["organization"], "rows": 1, "start": 1})
        assert everything["count"] == 3 and len(everything["results"]) == 1
        assert everything["facets"]["organization"] == {
            f"center-{cards.pk}": 2,
            f"center-{catalog_world['jobs'].pk}": 1,
        }

        tagged = ckan.action.package_search(fq="tags:지역화폐 res_format:CSV")
        assert {p["name"] for p in tagged["results"]} == {"suwon-payments"}  # 성남's has no open offer

        shown = ckan.action.package_show(id="suwon-payments")
        assert shown["extras"] and shown["url"].endswith("/datasets/suwon-payments/")
        assert ckan.action.package_list() == ["job-postings", "seongnam-payments", "suwon-payments"]
        assert ckan.action.organization_list() == sorted(
            [f"center-{cards.pk}", f"center-{catalog_world['jobs'].pk}"]
        )  # the pending center is not listed
        org = ckan.action.organization_show(id=f"center-{cards.pk}", include_datasets=True)
        assert org["package_count"] == 2 and len(org["packages"]) == 2
        assert ckan.action.tag_list() == ["수원", "일자리", "지역화폐"]

        with pytest.raises(NotFound):
            ckan.action.package_show(id="suwon-draft")
        with pytest.raises(NotFound):
            ckan.action.organization_show(id=f"center-{catalog_world['pending'].pk}")
        with pytest.raises(SearchQueryError):
            ckan.action.package_search(fq="secret_field:1")
        with pytest.raises(ValidationError):
            ckan.action.package_search(rows="many")

    # With its API key (our token, sent bare as CKAN clients send it), the center sees its draft.
    token = login(catalog_world["curator"])._credentials["HTTP_AUTHORIZATION"].split()[1]
    with RemoteCKAN(live_server.url, apikey=token) as ckan:
        assert ckan.action.package_show(id="suwon-draft")["state"] == "draft"
        drafts = ckan.action.package_search(q="수원", include_drafts=True)
        assert "suwon-draft" in {p["name"] for p in drafts["results"]}
    with RemoteCKAN(live_server.url, get_only=True) as ckan:  # GET with a query string, too
        assert ckan.action.package_search(q="성남")["count"] == 1


# --- envelope, errors and visibility --------------------------------------------------------------


@pytest.mark.django_db
def test_envelope_and_errors_are_ckans(catalog_world):
    status, body = call("package_show", id="suwon-payments")
    assert status == 200
    assert set(body) == {"help", "success", "result"} and body["success"] is True
    assert body["help"].endswith("/api/3/action/help_show?name=package_show")

    status, body = call("package_show", id="no-such-dataset")
    assert status == 404
    assert body["success"] is False
    assert body["error"] == {"__type": "Not Found Error", "message": "Not found."}

    status, body = call("package_delete", method="post", id="suwon-payments")
    assert status == 400 and body["error"]["__type"] == "Bad Request"
    assert "package_delete" in body["error"]["message"]

    status, body = call("package_search", rows="-1")
    assert status == 409
    assert body["error"]["__type"] == "Validation Error" and body["error"]["rows"] == ["Invalid integer"]

    status, body = call("package_search", fq='organization:"unclosed')
    assert status == 409 and body["error"]["__type"] == "Search Query Error"

    status, body = call("package_search", sort="random")
    assert status == 409 and body["error"]["__type"] == "Search Query Error"

    client = english_client()
    client.credentials(HTTP_AUTHORIZATION="not-a-real-key")
    status, body = call("package_list", client=client)
    assert status == 403 and body["error"]["__type"] == "Authorization Error"

    # POST with a JSON body answers the same as GET with a query string.
    assert call("package_search", method="post", q="성남")[1]["result"]["count"] == 1
    assert call("help_show", name="package_search")[1]["result"].startswith("Search datasets")


@pytest.mark.django_db
def test_each_caller_sees_only_what_the_catalog_shows_them(catalog_world, operator):
    def names(user, **params):
        client = english_client()
        if user is not None:
            client.force_authenticate(user)
        search = call("package_search", client=client, rows=100, **params)[1]["result"]
        orgs = call("organization_list", client=client)[1]["result"]
        return {p["name"] for p in search["results"]}, set(orgs)

    public = {"suwon-payments", "seongnam-payments", "job-postings"}
    cards, jobs, pending = (catalog_world[k].pk for k in ("cards", "jobs", "pending"))
    verified_orgs = {f"center-{cards}", f"center-{jobs}"}
    buyer = factories.member(factories.OrganizationFactory(kind="buyer"), "analyst")

    assert names(None) == (public, verified_orgs)
    assert names(buyer, include_drafts=True) == (public, verified_orgs)
    # A center's member: its own draft and retired datasets on request, and its own pending center.
    assert names(catalog_world["curator"], include_drafts=True) == (
        public | {"suwon-draft", "suwon-retired"},
        verified_orgs,
    )
    assert names(catalog_world["curator"]) == (public, verified_orgs)
    assert names(catalog_world["pending_curator"]) == (public, verified_orgs | {f"center-{pending}"})
    assert names(operator, include_drafts=True)[1] == verified_orgs | {f"center-{pending}"}

    draft = catalog_world["draft"]
    for user in (None, buyer, catalog_world["pending_curator"]):
        client = english_client()
        if user is not None:
            client.force_authenticate(user)
        assert call("package_show", client=client, id=draft.slug)[0] == 404
        assert call("package_show", client=client, id=str(draft.pk))[0] == 404
        assert "비밀" not in call("tag_list", client=client)[1]["result"]
    assert call("organization_show", id=f"center-{pending}")[0] == 404


@pytest.mark.django_db
def test_search_filters_paging_and_incremental_harvest(catalog_world):
    result = call("package_search", fq="groups:jobs")[1]["result"]
    assert [p["name"] for p in result["results"]] == ["job-postings"]
    assert result["results"][0]["groups"][0]["title"] == "Jobs"

    result = call("package_search", fq="-tags:수원", sort="name asc")[1]["result"]
    assert [p["name"] for p in result["results"]] == ["job-postings", "seongnam-payments"]

    pages = [
        [
            p["name"]
            for p in call("package_search", sort="name asc", rows=2, start=start)[1]["result"]["results"]
        ]
        for start in (0, 2)
    ]
    assert pages == [["job-postings", "seongnam-payments"], ["suwon-payments"]]

    # CKAN's harvester asks for what changed since its last run.
    future = "2999-01-01T00:00:00Z"
    assert call("package_search", fq=f"metadata_modified:[{future} TO *]")[1]["result"]["count"] == 0
    assert (
        call("package_search", fq="metadata_modified:[2000-01-01T00:00:00Z TO *]")[1]["result"]["count"] == 3
    )

    facets = call("package_search", **{"facet.field": '["groups","res_format"]', "rows": 0})[1]["result"]
    assert facets["results"] == []
    assert facets["facets"]["groups"] == {"local_currency": 2, "jobs": 1}
    assert facets["facets"]["res_format"] == {"CSV": 2, "Parquet": 2, "JSON Lines": 2, "XLSX": 2}

"""`?center=<id>` filters the catalog only by a center the caller may see: the name of a buyer or
of a center pending verification is never printed for its id (web and API)."""

import pytest
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def orgs(center):
    factories.published_dataset(center, title="공개 데이터")
    return {
        "buyer": factories.OrganizationFactory(kind="buyer", name="비밀구매자상호"),
        "pending": factories.OrganizationFactory(
            kind="center", name="심사중센터상호", buyer_category="", verification="pending", verified_at=None
        ),
        "center": center,
    }


def _web(user=None, language="ko") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("kind", ["buyer", "pending"])
def test_the_web_catalog_names_no_organization_it_may_not_show(orgs, kind, buyer):
    org = orgs[kind]
    analyst = factories.member(buyer, "analyst")
    for client in (_web(), _web(language="en"), _web(analyst), _web(analyst, language="en")):
        response = client.get(f"/datasets/?center={org.pk}")
        assert response.status_code == 200
        html = response.content.decode()
        assert org.name not in html and org.name_en not in html
    assert "Unknown center" in _web(language="en").get(f"/datasets/?center={org.pk}").content.decode()


@pytest.mark.parametrize("kind", ["buyer", "pending"])
def test_the_api_answers_an_invisible_center_like_an_unknown_one(orgs, kind, api):
    org = orgs[kind]
    hidden = api.get(f"/api/v1/datasets/?center={org.pk}").json()
    unknown = api.get("/api/v1/datasets/?center=999999").json()
    assert hidden == unknown
    assert org.name not in str(hidden) and org.name_en not in str(hidden)


def test_a_verified_center_filters_and_is_named(orgs, api):
    center = orgs["center"]
    html = _web().get(f"/datasets/?center={center.pk}").content.decode()
    assert center.name in html and "공개 데이터" in html
    body = api.get(f"/api/v1/datasets/?center={center.pk}").json()
    assert body["count"] == 1 and body["results"][0]["center"]["name"] == center.name


def test_members_and_operators_still_see_their_pending_center_named(orgs, operator):
    pending = orgs["pending"]
    for user in (factories.member(pending, "curator"), operator):
        assert pending.name in _web(user).get(f"/datasets/?center={pending.pk}").content.decode()

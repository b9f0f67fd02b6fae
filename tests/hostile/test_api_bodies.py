"""Hostile request bodies and parameters get a clear 4xx, and change nothing."""

import json

import pytest

from accounts.models import Organization, User
from tests import factories

SIGNUP = "/api/v1/auth/signup/"


def counts():
    return User.objects.count(), Organization.objects.count()


@pytest.mark.django_db
def test_oversize_json_body_is_413(api, settings):
    before = counts()
    body = json.dumps({"email": "a@b.kr", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    response = api.post(SIGNUP, body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert counts() == before


@pytest.mark.django_db
def test_deeply_nested_json_is_400(api):
    before = counts()
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(SIGNUP, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert counts() == before


@pytest.mark.django_db
def test_invalid_utf8_body_is_400(api):
    response = api.post(SIGNUP, b'{"email": "\xff\xfe@b.kr"}', content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["email", "password", "name"])
def test_nul_and_lone_surrogates_in_text_fields_are_refused(api, field):
    before = counts()
    data = {
        "email": "lab@univ.ac.kr",
        "password": "a-long-enough-passphrase",
        "name": "연구자",
        "organization": {
            "kind": "buyer",
            "name": "연구실",
            "business_number": "220-81-62517",
            "buyer_category": "research",
        },
    }
    for bad in ("a\x00b", "\ud800"):
        response = api.post(SIGNUP, json.dumps({**data, field: bad}), content_type="application/json")
        assert response.status_code == 400, (field, bad, response.content)
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "지역\x00화폐"},
        {"q": "' OR 1=1; DROP TABLE catalog_dataset; --"},
        {"region": "41110' OR '1'='1"},
        {"center": "1 OR 1=1"},
        {"q": "%" * 500},
        {"sort": "-title; DROP"},
    ],
)
def test_search_parameters_that_look_like_sql_are_just_text(api, params):
    factories.published_dataset(title="경기지역화폐 결제 내역")
    response = api.get("/api/v1/datasets/", params)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["count"] == 0
    else:
        assert response.json()["detail"]
    assert api.get("/api/v1/datasets/").json()["count"] == 1

"""Answers outside the views: paths no route matches, and Django's refusals of a form body,
are JSON under /api/ and in the caller's language."""

import pytest
from django.conf import settings
from django.utils import translation

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production_debug(settings):
    # Django uses the URLconf's handler404 only with DEBUG off, as in production.
    settings.DEBUG = False


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v1/datasets/x/y/z/", "/api/v1/requests/0.5/", "/api/nothing"]
)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_a_path_no_api_route_matches_is_a_json_404(api, path, method):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No API operation has this address; the operations are listed at /api/docs/."
    }


def test_the_api_404_is_in_the_callers_language(api):
    response = api.get("/api/v1/nope/", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail != "No API operation has this address; the operations are listed at /api/docs/."
    assert "/api/docs/" in detail


def test_an_object_the_api_does_not_find_keeps_its_404(api):
    response = api.get("/api/v1/datasets/no-such-dataset/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_other_paths_keep_the_sites_html_404_page(api):
    response = api.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_too_many_fields_refusal_is_translated_into_korean(login, buyer):
    analyst = factories.member(buyer, "analyst", email="analyst@cafe.kr")
    body = "&".join(f"fields=column_{i}" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = login(analyst).generic(
        "POST",
        "/api/v1/requests/",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert response.status_code == 400
    english = "The form has too many fields or files; send the request as JSON."
    with translation.override("ko"):
        assert translation.gettext(english) != english
        assert response.json()["detail"] == translation.gettext(english)

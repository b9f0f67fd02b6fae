"""Server errors the API fuzzing found (issue 8), each pinned by a focused test."""

import pytest
from django.conf import settings

from tests import factories

pytestmark = pytest.mark.django_db

BEYOND_64_BITS = "99999999999999999999"


@pytest.fixture
def analyst(buyer):
    return factories.member(buyer, "analyst", email="analyst@cafe.kr")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/requests/", "offer"),
        ("/api/v1/requests/", "organization"),
        ("/api/v1/licenses/", "offer"),
        ("/api/v1/licenses/", "organization"),
        ("/api/v1/invoices/", "organization"),
    ],
)
@pytest.mark.parametrize("value", [BEYOND_64_BITS, "-9.7e99"])
def test_an_id_filter_beyond_the_database_range_is_a_400(login, analyst, path, parameter, value):
    """It was compared with a foreign key column as is: OverflowError on SQLite (out of range on
    PostgreSQL), a 500."""
    response = login(analyst).get(path, {parameter: value})
    assert response.status_code == 400, response.content
    assert parameter in response.json()["errors"]


@pytest.mark.parametrize("value", [BEYOND_64_BITS, "²", "١٢"])
@pytest.mark.parametrize(
    ("path", "parameter"), [("/api/v1/audit/", "organization"), ("/api/v1/datasets/", "center")]
)
def test_an_id_parameter_that_is_not_an_ascii_number_in_range_is_a_400(
    login, analyst, path, parameter, value
):
    """`str.isdigit()` let "²" through to `int()` (ValueError) and huge numbers through to the
    database (OverflowError): both were 500s."""
    response = login(analyst).get(path, {parameter: value})
    assert response.status_code == 400, response.content
    assert parameter in response.json()["errors"]


@pytest.mark.parametrize("value", [BEYOND_64_BITS, "²"])
def test_preview_with_an_offer_that_is_not_an_id_is_a_400(api, center, value):
    dataset = factories.published_dataset(center)
    response = api.get(f"/api/v1/datasets/{dataset.slug}/preview/", {"offer": value})
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"offer": ["A number."]}


def test_too_many_form_fields_is_a_json_400(login, analyst):
    """Django refuses a form body with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields
    (TooManyFieldsSent); the API answered with Django's HTML error page instead of JSON."""
    fields = [("fields", f"column_{i}") for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)]
    body = "&".join(f"{name}={value}" for name, value in fields)
    response = login(analyst).generic(
        "POST", "/api/v1/requests/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert "fields" in response.json()["detail"]

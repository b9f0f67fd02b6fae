"""Issue 17, item 4: the offer form shows every error at once, opens the section that holds
one, and excluded columns cannot be ticked."""

import re

import pytest

from catalog import services
from tests.catalog.conftest import CARD_CSV, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(curator, center, django_capture_on_commit_callbacks):
    dataset = services.dataset_create(
        actor=curator, center=center, title="카드 결제", theme="local_currency", regions=["41110"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        version = upload(curator, dataset, CARD_CSV, encoding="cp949")
    version.refresh_from_db()
    assert version.status == "ready"
    assert version.fields.get(name="성명").sensitivity == "excluded"
    return dataset


def checkbox(html: str, name: str, value: str) -> str:
    match = re.search(rf'<input type="checkbox" name="{name}" value="{value}"[^>]*>', html)
    assert match, (name, value)
    return match.group(0)


def test_excluded_columns_are_listed_but_cannot_be_ticked(as_user, curator, dataset):
    html = (
        as_user(curator, language="en").get(f"/center/datasets/{dataset.slug}/offers/new/").content.decode()
    )
    assert "disabled" in checkbox(html, "columns", "성명")
    assert "disabled" in checkbox(html, "dimensions", "성명")
    assert "disabled" not in checkbox(html, "columns", "업종")
    assert "Excluded columns are never delivered" in html


def test_every_error_shows_in_one_round_trip_with_its_section_open(as_user, curator, dataset):
    client = as_user(curator, language="en")
    response = client.post(
        f"/center/datasets/{dataset.slug}/offers/new/",
        {
            "name": "",  # the form refuses
            "kind": "aggregate",
            "dimensions": [],  # the offer's rules refuse: an aggregate groups by something
            "measures": ["sum:금액"],
            "k": 5,
            "date_granularity": "month",
            "approval": "center",
            "price_krw": 1000,
            "duration_days": 30,
            "download_quota": 3,
            "terms": "약관",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_name_error"' in html
    assert 'id="id_dimensions_error"' in html  # found by the rules in the same answer
    assert re.search(r"<details[^>]* open>", html), "the aggregate section opens on its errors"

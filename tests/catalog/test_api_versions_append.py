"""`POST /api/v1/datasets/{slug}/versions/` with `mode` and `replace_periods` (API.md, second
wave): an append grows the published table; what cannot be appended is a 400 naming `mode`."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services
from tests.catalog.test_services_partitions import card_csv


@pytest.fixture
def partitioned(curator, center):
    return services.dataset_create(
        actor=curator, center=center, title="월별 카드 결제", theme="local_currency", period_field="거래일자"
    )


def post(client, dataset, text, **fields):
    return client.post(
        f"/api/v1/datasets/{dataset.slug}/versions/",
        {"file": SimpleUploadedFile("cards.csv", text.encode()), **fields},
        format="multipart",
    )


@pytest.mark.django_db
def test_append_over_the_api_reports_the_whole_tables_row_count(
    login, curator, partitioned, django_capture_on_commit_callbacks
):
    client = login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, partitioned, card_csv([1, 2]))
    assert first.status_code == 202, first.content
    assert client.post(f"/api/v1/versions/{first.json()['id']}/publish/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        second = post(client, partitioned, card_csv([3], start=100), mode="append")
    assert second.status_code == 202, second.content
    body = client.get(f"/api/v1/versions/{second.json()['id']}/").json()
    assert (body["status"], body["mode"], body["row_count"]) == ("ready", "append", 36)

    assert client.post(f"/api/v1/versions/{second.json()['id']}/publish/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, partitioned, card_csv([3], start=200), mode="append")
    assert again.status_code == 202
    failed = client.get(f"/api/v1/versions/{again.json()['id']}/").json()
    # The period is named in the error, with the way to replace it (both in any language).
    assert (
        failed["status"] == "failed" and "2024-03" in failed["error"] and "replace_periods" in failed["error"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        replaced = post(client, partitioned, card_csv([3], start=200), mode="append", replace_periods="true")
    body = client.get(f"/api/v1/versions/{replaced.json()['id']}/").json()
    assert (body["status"], body["replace_periods"], body["row_count"]) == ("ready", True, 36)


@pytest.mark.django_db
def test_append_where_it_cannot_apply_is_a_400_on_mode(login, curator, dataset, partitioned):
    client = login(curator)
    no_period = post(client, dataset, card_csv([1]), mode="append")
    assert no_period.status_code == 400
    assert "mode" in no_period.json()["errors"]
    nothing_published = post(client, partitioned, card_csv([1]), mode="append")
    assert nothing_published.status_code == 400 and "mode" in nothing_published.json()["errors"]
    unknown = post(client, partitioned, card_csv([1]), mode="merge")
    assert unknown.status_code == 400
    assert not partitioned.versions.exists() and not dataset.versions.exists()

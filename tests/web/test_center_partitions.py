"""The center's web pages for partitioned datasets (issue 16): the dataset form sets the period
column; the upload page offers append once there is one."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from catalog import services
from catalog.models import Dataset, DatasetVersion
from tests.catalog.test_services_partitions import card_csv

pytestmark = pytest.mark.django_db


def test_a_center_partitions_a_dataset_and_appends_a_month_on_the_web(
    as_user, curator, django_capture_on_commit_callbacks
):
    client = as_user(curator)
    with translation.override("en"):
        form = client.get("/center/datasets/new/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="period_field"' in form and 'name="partition_region_field"' in form
    client.post(
        "/center/datasets/new/",
        {
            "title": "월별 카드 결제",
            "theme": "local_currency",
            "update_frequency": "monthly",
            "period_field": "거래일자",
            "period_unit": "month",
            "partition_region_field": "시군코드",
        },
    )
    dataset = Dataset.objects.get(title="월별 카드 결제")
    assert (dataset.period_field, dataset.partition_region_field) == ("거래일자", "시군코드")
    upload_page = client.get(f"/center/datasets/{dataset.slug}/upload/").content.decode()
    assert 'name="mode"' in upload_page and 'name="replace_periods"' in upload_page

    url = f"/center/datasets/{dataset.slug}/upload/"
    refused = client.post(
        url, {"file": SimpleUploadedFile("a.csv", card_csv([1]).encode()), "mode": "append"}
    )
    assert refused.status_code == 200 and "id_mode_error" in refused.content.decode()  # nothing published

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"file": SimpleUploadedFile("a.csv", card_csv([1]).encode()), "mode": "replace"})
    first = DatasetVersion.objects.get(dataset=dataset)
    services.version_publish(actor=curator, version=first)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"file": SimpleUploadedFile("b.csv", card_csv([2]).encode()), "mode": "append"}
        )
    second = DatasetVersion.objects.get(dataset=dataset, number=2)
    assert response.status_code == 302 and second.status == "ready", second.error
    assert (second.mode, second.row_count, second.parts.count()) == ("append", 24, 6)

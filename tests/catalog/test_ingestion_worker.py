"""Ingestion through a real Celery worker process: the API answers 202, the worker picks the
job from the broker, and the version row shows the result."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import DatasetVersion
from tests.catalog.conftest import CARD_CSV
from tests.services import wait_until


@pytest.mark.services
def test_upload_is_ingested_by_a_real_worker(celery_worker_process, login, curator, dataset):
    response = login(curator).post(
        f"/api/v1/datasets/{dataset.slug}/versions/",
        {"file": SimpleUploadedFile("카드.csv", CARD_CSV.encode("cp949"))},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "uploaded"
    version = wait_until(
        lambda: DatasetVersion.objects.filter(
            pk=response.json()["id"], status__in=["ready", "failed"]
        ).first(),
        timeout=90,
    )
    assert version.status == "ready", version.error
    assert (version.row_count, version.encoding, version.progress) == (60, "cp949", 100)
    assert version.fields.count() == 12

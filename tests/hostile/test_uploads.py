"""Upload refusals the corpus (test_corpus.py) does not cover: uploads over the size limit, and
what a failed version still allows. Every hostile file itself is in tests/data/hostile/."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import DatasetVersion
from tests.hostile.conftest import CORPUS, GOOD_CSV, Snapshot, post_file, unchanged, upload_url

pytestmark = pytest.mark.django_db


def test_an_upload_over_the_size_limit_is_413_and_changes_nothing(scene, login, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    before = Snapshot.take()
    response = post_file(login(scene.curator), scene.dataset, "big.csv", GOOD_CSV + b"1" * 2000)
    assert response.status_code == 413, response.content
    assert "the limit is 1,000 B" in response.json()["detail"]
    assert Snapshot.take().changes_since(before) == unchanged()


def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_read(scene, login, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    before = Snapshot.take()
    response = login(scene.curator).post(
        upload_url(scene.dataset),
        {"file": SimpleUploadedFile("big.csv", GOOD_CSV)},
        format="multipart",
        CONTENT_LENGTH=str(5 * 2**20),
    )
    assert response.status_code == 413, response.content
    assert "larger than the limit of 1,000 bytes" in response.json()["detail"]
    assert Snapshot.take().changes_since(before) == unchanged()


def test_a_failed_version_cannot_be_published_and_the_next_upload_still_works(
    scene, login, django_capture_on_commit_callbacks
):
    client = login(scene.curator)
    with django_capture_on_commit_callbacks(execute=True):
        bad = post_file(client, scene.dataset, "ragged.csv", (CORPUS / "ragged.csv").read_bytes())
    assert DatasetVersion.objects.get(pk=bad.json()["id"]).status == "failed"
    refused = client.post(f"/api/v1/versions/{bad.json()['id']}/publish/")
    assert refused.status_code == 409 and "failed" in refused.json()["detail"].lower(), refused.content
    scene.dataset.refresh_from_db()
    assert scene.dataset.current_version_id == scene.good_version.pk

    with django_capture_on_commit_callbacks(execute=True):
        good = post_file(client, scene.dataset, "good.csv", GOOD_CSV)
    assert client.post(f"/api/v1/versions/{good.json()['id']}/publish/").status_code == 200
    scene.dataset.refresh_from_db()
    assert scene.dataset.current_version_id == good.json()["id"]

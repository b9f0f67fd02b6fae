"""Resumable uploads over tus 1.0.0 (issue 16: files beyond the single-request limit, resumable
after a dropped connection). The journey runs tuspy, the tus project's own Python client, over
real HTTP against the live server; the protocol's refusals are checked request by request."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from tusclient import client as tus_client

from accounts.services import api_token_create
from catalog.models import DatasetVersion, ResumableUpload
from catalog.services import uploads
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests import factories
from tests.catalog.test_services_partitions import card_csv

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def meta(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def open_upload(client, dataset, length: int, filename="cards.csv"):
    return client.post(
        "/api/v1/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=meta(dataset=dataset.slug, filename=filename),
        **TUS,
    )


def send(client, location: str, data: bytes, offset: int, **headers):
    return client.generic(
        "PATCH", location, data, content_type=OCTETS, HTTP_UPLOAD_OFFSET=str(offset), **TUS, **headers
    )


def offset_of(client, location: str) -> int:
    response = client.head(location, **TUS)
    assert response.status_code == 200, response.content
    return int(response["Upload-Offset"])


@pytest.mark.django_db(transaction=True)
def test_a_file_past_the_upload_limit_arrives_in_pieces_with_tuspy_resumes_and_becomes_a_version(
    live_server, curator, dataset, settings
):
    text = card_csv([1, 2, 3], per_month=400).encode()
    settings.UPLOAD_MAX_BYTES = len(text) // 4  # the single-request upload refuses this file
    _token, key = api_token_create(actor=curator, user=curator)
    auth = {"Authorization": f"Token {key}"}
    single = requests.post(
        f"{live_server.url}/api/v1/datasets/{dataset.slug}/versions/",
        files={"file": ("cards.csv", text)},
        headers=auth,
        timeout=30,
    )
    assert single.status_code == 413

    client = tus_client.TusClient(f"{live_server.url}/api/v1/uploads/", headers=auth)
    first = client.uploader(
        file_stream=io.BytesIO(text),
        chunk_size=8 * 1024,
        metadata={"dataset": dataset.slug, "filename": "카드 결제.csv"},
        upload_checksum=True,  # each piece carries its sha1 (the checksum extension)
        retries=0,
    )
    first.upload(stop_at=24 * 1024)  # the connection "drops" after three pieces
    assert first.url.startswith(f"{live_server.url}/api/v1/uploads/")
    # A new client, as after a restart, resumes from where the server stands.
    resumed = client.uploader(file_stream=io.BytesIO(text), url=first.url, chunk_size=16 * 1024, retries=0)
    assert resumed.offset == 24 * 1024
    resumed.upload()

    upload_id = first.url.rstrip("/").rsplit("/", 1)[-1]
    response = requests.post(
        f"{live_server.url}/api/v1/datasets/{dataset.slug}/versions/",
        json={"upload": upload_id},
        headers=auth,
        timeout=60,
    )
    assert response.status_code == 202, response.text
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.status == DatasetVersion.Status.READY, version.error
    assert version.row_count == 1200 and version.original_filename == "카드 결제.csv"
    assert version.source_bytes == len(text)
    with version.source.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == hashlib.sha256(text).hexdigest()
    assert not ResumableUpload.objects.exists()  # the spool is now the version's file


@pytest.mark.django_db
def test_the_protocol_refuses_what_would_corrupt_the_file_and_keeps_what_arrived(login, curator, dataset):
    client = login(curator)
    data = card_csv([1]).encode()
    opened = open_upload(client, dataset, len(data))
    assert opened.status_code == 201 and opened["Tus-Resumable"] == "1.0.0"
    location = opened["Location"]
    assert send(client, location, data[:100], 0).status_code == 204
    # A piece sent for the wrong offset (a client that lost track) is refused with where to resume.
    wrong = send(client, location, data[100:200], 50)
    assert wrong.status_code == 409 and "resume from 100" in wrong.json()["detail"]
    # A piece whose checksum does not match is dropped whole.
    bad_sum = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    mismatch = send(client, location, data[100:200], 100, HTTP_UPLOAD_CHECKSUM=f"sha1 {bad_sum}")
    assert mismatch.status_code == 460
    # A piece past the declared length is refused and nothing of it is kept.
    assert send(client, location, data[100:] + b"extra", 100).status_code == 413
    assert offset_of(client, location) == 100
    # Without the protocol header, or as another content type: refused.
    assert (
        client.generic("PATCH", location, b"x", content_type=OCTETS, HTTP_UPLOAD_OFFSET="100").status_code
        == 412
    )
    plain = client.generic(
        "PATCH", location, b"x", content_type="text/plain", HTTP_UPLOAD_OFFSET="100", **TUS
    )
    assert plain.status_code == 415 and OCTETS in plain.json()["detail"]
    # An unfinished upload does not become a version.
    early = client.post(
        f"/api/v1/datasets/{dataset.slug}/versions/", {"upload": location.rstrip("/").rsplit("/", 1)[-1]}
    )
    assert early.status_code == 409 and f"100 of {len(data):,}" in early.json()["detail"]
    good_sum = base64.b64encode(hashlib.sha256(data[100:]).digest()).decode()
    done = send(client, location, data[100:], 100, HTTP_UPLOAD_CHECKSUM=f"sha256 {good_sum}")
    assert done.status_code == 204 and int(done["Upload-Offset"]) == len(data)
    assert send(client, location, b"", len(data)).status_code == 204  # nothing more to send
    assert not dataset.versions.exists()
    # Opened and completed (once) are in the center's audit log; the pieces between are not.
    verbs = list(AuditEvent.objects.filter(verb__startswith="catalog.upload.").values_list("verb", flat=True))
    assert sorted(verbs) == ["catalog.upload.completed", "catalog.upload.created"]


@pytest.mark.django_db
def test_an_upload_is_its_owners_alone(login, curator, center, dataset):
    owner = login(curator)
    location = open_upload(owner, dataset, 10)["Location"]
    colleague = factories.member(center, "curator", email="colleague@center.kr")
    other_client = login(colleague)
    assert other_client.head(location, **TUS).status_code == 404
    assert send(other_client, location, b"0123456789", 0).status_code == 404
    assert other_client.delete(location, **TUS).status_code == 404
    upload_id = location.rstrip("/").rsplit("/", 1)[-1]
    taken = other_client.post(f"/api/v1/datasets/{dataset.slug}/versions/", {"upload": upload_id})
    assert taken.status_code == 400 and "upload" in taken.json()["errors"]
    # A buyer cannot open an upload for the center's dataset.
    buyer = factories.member(factories.OrganizationFactory(kind="buyer"), "analyst", email="a@buyer.kr")
    assert open_upload(login(buyer), dataset, 10).status_code in (403, 404)
    assert offset_of(login(curator), location) == 0


@pytest.mark.django_db
def test_limits_cancel_and_expiry(login, curator, dataset, settings):
    client = login(curator)
    settings.RESUMABLE_UPLOAD_MAX_BYTES = 1000
    assert open_upload(client, dataset, 1001).status_code == 413
    assert open_upload(client, dataset, 0).status_code == 400
    options = client.options("/api/v1/uploads/")
    assert options.status_code == 204 and options["Tus-Max-Size"] == "1000"
    assert "checksum" in options["Tus-Extension"]
    settings.RESUMABLE_UPLOADS_PER_USER = 2
    first = open_upload(client, dataset, 10)["Location"]
    open_upload(client, dataset, 10)
    assert open_upload(client, dataset, 10).status_code == 429
    # Cancelling removes the bytes.
    send(client, first, b"01234", 0)
    spool = ResumableUpload.objects.get(pk=first.rstrip("/").rsplit("/", 1)[-1]).path
    assert spool.exists()
    assert client.delete(first, **TUS).status_code == 204
    assert not spool.exists() and client.head(first, **TUS).status_code == 404
    # An upload left untouched past its expiry is gone, bytes and all.
    left = ResumableUpload.objects.get()
    ResumableUpload.objects.filter(pk=left.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert uploads.uploads_sweep_expired(actor=SYSTEM) == 1
    assert not ResumableUpload.objects.exists() and not left.path.exists()
    ended = AuditEvent.objects.filter(verb__in=["catalog.upload.cancelled", "catalog.upload.expired"])
    assert sorted(ended.values_list("verb", "after__received")) == [
        ("catalog.upload.cancelled", 5),
        ("catalog.upload.expired", 0),
    ]

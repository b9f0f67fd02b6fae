"""Every file of the hostile-input corpus (tests/data/hostile/, see its MANIFEST.json) through the
real API: each ends as a clear 4xx with a JSON `detail`, or a `failed` version whose error says
what is wrong, and nothing else changes: row counts, audit events and stored files are compared
before and after, and the published version stays the current one."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services as catalog_services
from catalog.models import DatasetVersion, Offer
from tests.hostile.conftest import (
    CORPUS,
    ENDPOINT_NAMES,
    GOOD_CSV,
    MANIFEST,
    Snapshot,
    corpus_entries,
    unchanged,
    upload_url,
)
from transactions.models import Extract, License

pytestmark = pytest.mark.django_db

NOT_CORPUS = {"MANIFEST.json", "README.md", "make_corpus.py"}
DELIVERIES = {
    "upload",
    "expand_then_upload",
    "file_names",
    "access_request_scopes",
    "json_body",
    "field_values",  # tests/hostile/test_text_fields.py
}
MAX_CORPUS_BYTES = 1_500_000


# --- the manifest and the directory agree -------------------------------------------------------


def corpus_files() -> set[str]:
    return {
        p.name
        for p in CORPUS.iterdir()
        if p.is_file() and p.name not in NOT_CORPUS and not p.name.startswith(".")
    }


def test_every_corpus_file_has_a_manifest_entry_and_every_entry_a_file():
    assert corpus_files() - MANIFEST.keys() == set(), "files missing from MANIFEST.json"
    assert MANIFEST.keys() - corpus_files() == set(), "MANIFEST.json entries without a file"


@pytest.mark.parametrize("name, spec", corpus_entries(*DELIVERIES))
def test_manifest_entries_say_what_how_and_what_happens(name, spec):
    assert spec["what"].strip()
    assert spec["delivery"] in DELIVERIES
    expect = spec["expect"]
    assert len(expect.keys() & {"failed", "http", "ready"}) == 1, expect
    if "http" in expect:
        assert 400 <= expect["http"] < 500 and expect["detail"]
    if spec["delivery"] == "expand_then_upload":
        assert name.endswith(".gz") and spec["upload_name"] and spec["expanded_bytes"]


def test_unknown_deliveries_are_refused():
    assert {spec["delivery"] for spec in MANIFEST.values()} <= DELIVERIES


def test_the_corpus_stays_small_in_the_repository():
    assert sum((CORPUS / name).stat().st_size for name in corpus_files()) < MAX_CORPUS_BYTES


# --- uploads --------------------------------------------------------------------------------------


def upload_source(name: str, spec: dict, tmp_path):
    """An open file, or an uploaded-file object, named as the client sends it."""
    upload_name = spec.get("upload_name", name)
    if spec["delivery"] == "expand_then_upload":
        # The plain file really reaches the product: its size and shape, not a compressed stand-in.
        plain = tmp_path / upload_name
        with gzip.open(CORPUS / name, "rb") as src, plain.open("wb") as dest:
            shutil.copyfileobj(src, dest, 1 << 20)
        assert plain.stat().st_size == spec["expanded_bytes"]
        return plain.open("rb")
    return SimpleUploadedFile(upload_name, (CORPUS / name).read_bytes())


@pytest.mark.parametrize("name, spec", corpus_entries("upload", "expand_then_upload"))
def test_hostile_upload(name, spec, scene, login, settings, tmp_path, django_capture_on_commit_callbacks):
    for key, value in spec.get("settings", {}).items():
        setattr(settings, key, value)
    client = login(scene.curator)
    upload = upload_source(name, spec, tmp_path)
    before = Snapshot.take()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(upload_url(scene.dataset), {"file": upload}, format="multipart")
    finally:
        upload.close()
    changes = Snapshot.take().changes_since(before)
    expect = spec["expect"]

    if "http" in expect:
        assert response.status_code == expect["http"], response.content
        assert expect["detail"] in response.json()["detail"]
        assert changes == unchanged()
        return

    assert response.status_code == 202, response.content
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    shown = client.get(f"/api/v1/versions/{version.pk}/").json()
    if "failed" in expect:
        assert shown["status"] == "failed", shown
        assert expect["failed"] in shown["error"], shown["error"]
        assert version.parquet == "" and not version.fields.exists()
        assert changes == {
            **unchanged(),
            "rows": {"catalog.DatasetVersion": 1},
            "audit": {"catalog.version.uploaded": 1, "catalog.version.failed": 1},
            # Only the upload itself: no Parquet, no partial file, no scratch left behind.
            "media_added": {version.source.name},
        }
    else:
        ready = expect["ready"]
        assert shown["status"] == "ready", shown
        assert (version.file_kind, version.row_count) == (ready["file_kind"], ready["row_count"])
        types = {f["name"]: f["type"] for f in shown["fields"]}
        assert ready["types"].items() <= types.items(), types
        assert changes == {
            **unchanged(),
            "rows": {"catalog.DatasetVersion": 1, "catalog.Field": len(types)},
            "audit": {"catalog.version.uploaded": 1, "catalog.version.ingested": 1},
            "media_added": {version.source.name, version.parquet},
        }
    scene.dataset.refresh_from_db()
    assert scene.dataset.current_version_id == scene.good_version.pk
    assert client.get(f"/api/v1/datasets/{scene.dataset.slug}/preview/").json()["rows"] == [
        ["수원시", "2024-01-05", 1000],
        ["성남시", "2024-02-01", 2000],
    ]


def file_name_cases() -> list:
    cases = []
    for name, spec in MANIFEST.items():
        if spec["delivery"] == "file_names":
            for i, case in enumerate(json.loads((CORPUS / name).read_text(encoding="utf-8"))):
                cases.append(pytest.param(case["name"], case["shown"], id=f"{name}[{i}]"))
    return cases


@pytest.mark.parametrize("client_name, shown", file_name_cases())
def test_file_names_never_choose_where_files_go(
    client_name, shown, scene, login, django_capture_on_commit_callbacks
):
    client = login(scene.curator)
    before = Snapshot.take()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            upload_url(scene.dataset),
            {"file": SimpleUploadedFile(client_name, GOOD_CSV)},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    assert version.status == "ready", version.error
    assert version.original_filename == shown
    prefix = f"datasets/{scene.dataset.pk}/"
    assert version.source.name.startswith(prefix + "uploads/") and version.source.name.endswith(".bin")
    changes = Snapshot.take().changes_since(before)
    assert changes["media_added"] == {version.source.name, version.parquet}
    assert all(path.startswith(prefix) and ".." not in path for path in changes["media_added"])
    assert changes["rows"] == {"catalog.DatasetVersion": 1, "catalog.Field": 3}


# --- access-request scopes that look like SQL -----------------------------------------------------


def scope_cases() -> list:
    cases = []
    for name, spec in MANIFEST.items():
        if spec["delivery"] == "access_request_scopes":
            for case in json.loads((CORPUS / name).read_text(encoding="utf-8")):
                cases.append(pytest.param(spec, case, id=f"{name}[{case['id']}]"))
    return cases


@pytest.mark.parametrize("spec, case", scope_cases())
def test_scope_values_that_look_like_sql_are_refused(spec, case, scene, login):
    """On an ingested dataset: its region column's profile lists the values a region may take."""
    client = login(scene.analyst)
    body = {
        "offer": scene.offer.pk,
        "fields": ["지역", "금액"],
        "purpose": "지역 소비 연구",
        "purpose_category": "research",
        "accept_terms": True,
        **case["scope"],
    }
    before = Snapshot.take()
    response = client.post("/api/v1/requests/", body, format="json")
    assert response.status_code == spec["expect"]["http"], response.content
    assert response.json()["detail"]
    assert case["expect"] in response.json()["errors"], response.json()
    assert Snapshot.take().changes_since(before) == unchanged()


def test_a_clean_scope_is_accepted(scene, login):
    """The baseline for the cases above: the same body without the hostile value is a request."""
    response = login(scene.analyst).post(
        "/api/v1/requests/",
        {
            "offer": scene.offer.pk,
            "fields": ["지역", "금액"],
            "regions": ["수원시"],
            "purpose": "지역 소비 연구",
            "purpose_category": "research",
            "accept_terms": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content


# --- JSON bodies ----------------------------------------------------------------------------------


def json_body_cases() -> list:
    return [
        pytest.param(name, spec, endpoint, id=f"{name}-{endpoint}")
        for name, spec in MANIFEST.items()
        if spec["delivery"] == "json_body"
        for endpoint in ENDPOINT_NAMES
    ]


def body_of(name: str) -> bytes:
    path = CORPUS / name
    return gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()


@pytest.mark.parametrize("name, spec, endpoint", json_body_cases())
def test_hostile_json_bodies(name, spec, endpoint, light_scene, as_caller):
    method, path, caller = light_scene.endpoints()[endpoint]
    client = as_caller(caller)
    before = Snapshot.take()
    response = getattr(client, method)(path, body_of(name), content_type="application/json")
    assert response.status_code == spec["expect"]["http"], response.content
    assert response["Content-Type"].startswith("application/json")
    assert spec["expect"]["detail"] in response.json()["detail"]
    assert Snapshot.take().changes_since(before) == unchanged()


# --- formula cells: stored as text, neutralised in spreadsheet formats ----------------------------


@pytest.mark.parametrize("format", ["csv", "csv_bom", "xlsx"])
def test_formula_cells_are_stored_as_text_and_neutralised_in_extracts(
    format, scene, login, django_capture_on_commit_callbacks
):
    name = "formula_cells.csv"
    assert MANIFEST[name]["expect"]["ready"]
    raw = list(csv.reader(io.StringIO((CORPUS / name).read_text(encoding="utf-8"))))
    header, rows = raw[0], raw[1:]
    curator = login(scene.curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = curator.post(
            upload_url(scene.dataset),
            {"file": SimpleUploadedFile(name, (CORPUS / name).read_bytes())},
            format="multipart",
        )
    version = DatasetVersion.objects.get(pk=response.json()["id"])
    catalog_services.version_publish(actor=scene.curator, version=version)
    scene.dataset.refresh_from_db()
    assert curator.get(f"/api/v1/datasets/{scene.dataset.slug}/preview/").json()["rows"] == rows

    offer = catalog_services.offer_create(
        actor=scene.curator,
        dataset=scene.dataset,
        terms="약관",
        name="수식 시험",
        kind=Offer.Kind.RECORDS,
        fields=header,
        approval=Offer.Approval.AUTOMATIC,
    )
    buyer = login(scene.analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.post(
            "/api/v1/requests/",
            {
                "offer": offer.pk,
                "fields": header,
                "purpose": "수식 셀 시험",
                "purpose_category": "research",
                "accept_terms": True,
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    license = License.objects.get(access_request_id=response.json()["id"])
    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.post(f"/api/v1/licenses/{license.pk}/extracts/", {"format": format}, format="json")
    extract = Extract.objects.get(pk=response.json()["id"])
    assert extract.status == "succeeded", extract.error
    link = buyer.post(f"/api/v1/extracts/{extract.pk}/download-link/").json()["url"]
    bundle = b"".join(buyer.get(link.removeprefix("http://testserver")).streaming_content)
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        (data_name,) = [n for n in z.namelist() if n.startswith("data.")]
        data = z.read(data_name)
    if format == "xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        cells = list(sheet.iter_rows(min_row=2))
        got = [[c.value for c in row] for row in cells]
        assert all(c.data_type == "s" for row in cells for c in row)  # text, never a formula
    else:
        got = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    expected = [["'" + v if v[:1] in "=+-@\t\r" else v for v in row] for row in rows]
    assert got == expected

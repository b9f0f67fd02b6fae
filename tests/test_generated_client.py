"""A Python client generated from the OpenAPI schema (openapi-python-client, as `make client`
does) runs the buyer's main journey against a live server: search → request a free offer with
automatic approval → license → extract → download link → the zip. So the schema stays usable,
not only valid: a response the schema misdescribes fails here when the client parses it.

Extracts are built by the real task, run eagerly by the live server when the request commits
(the suite's CELERY_TASK_ALWAYS_EAGER)."""

from __future__ import annotations

import csv
import datetime
import importlib
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from catalog import services as catalog_services
from catalog.models import Offer
from tests import factories

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "jangteo_client"


@pytest.fixture(autouse=True)
def _language_left_as_found():
    """Requests made here activate their language in this thread; put back the one found, so
    later tests that (wrongly) rely on an earlier test's language are not disturbed."""
    found = translation.get_language()
    yield
    translation.activate(found) if found else translation.deactivate()


def generate(tmp_path: Path):
    """The schema as the server produces it (in-process, in the site's default language) and a
    client package generated from it, imported."""
    schema = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(schema), "--validate", "--fail-on-warn")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(schema),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(REPO / "openapi-client.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The generator warns about every operation or answer it had to leave out.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    return importlib.import_module(PACKAGE)


@pytest.fixture
def generated_client(tmp_path):
    try:
        yield generate(tmp_path)
    finally:
        sys.path.remove(str(tmp_path)) if str(tmp_path) in sys.path else None
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def market(db):
    """A center's published card data (with a real Parquet file) offered free with automatic
    approval, and a paid offer beside it; a buyer's analyst."""
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터")
    curator = factories.member(center, "curator")
    dataset = factories.published_dataset(
        center, slug="suwon-cards", title="수원시 지역화폐 결제", with_data=True, row_count=300
    )
    catalog_services.dataset_update(actor=curator, dataset=dataset, title=dataset.title)  # search text
    free = factories.OfferFactory(
        dataset=dataset,
        name="무료 레코드",
        fields=["sigungu_code", "industry", "amount", "approved_at"],
        approval=Offer.Approval.AUTOMATIC,
        price_krw=0,
    )
    factories.OfferFactory(dataset=dataset, name="유료", price_krw=50_000)
    buyer = factories.OrganizationFactory(kind="buyer", name="골목카페")
    analyst = factories.member(buyer, "analyst", email="analyst@cafe.kr")
    return {"dataset": dataset, "free": free, "analyst": analyst}


@pytest.mark.django_db(transaction=True)
def test_the_buyers_journey_through_the_generated_client(live_server, generated_client, market):
    jc = generated_client
    api = importlib.import_module(f"{PACKAGE}.api")
    auth = importlib.import_module(f"{PACKAGE}.api.auth.auth_token_create")
    datasets_list = importlib.import_module(f"{PACKAGE}.api.datasets.datasets_list")
    offers_list = importlib.import_module(f"{PACKAGE}.api.datasets.datasets_offers_list")
    requests_create = importlib.import_module(f"{PACKAGE}.api.requests.requests_create")
    licenses_retrieve = importlib.import_module(f"{PACKAGE}.api.licenses.licenses_retrieve")
    extracts_create = importlib.import_module(f"{PACKAGE}.api.licenses.licenses_extracts_create")
    extracts_retrieve = importlib.import_module(f"{PACKAGE}.api.extracts.extracts_retrieve")
    link_create = importlib.import_module(f"{PACKAGE}.api.extracts.extracts_download_link_create")
    download = importlib.import_module(f"{PACKAGE}.api.extracts.extracts_download_retrieve")
    models = importlib.import_module(f"{PACKAGE}.models")
    assert api  # the package's API modules import

    anonymous = jc.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    token = auth.sync(
        client=anonymous,
        body=models.TokenInputRequest(email="analyst@cafe.kr", password=factories.PASSWORD),
    ).token
    client = jc.AuthenticatedClient(
        base_url=live_server.url,
        token=token,
        prefix="Token",
        raise_on_unexpected_status=True,
        headers={"Accept-Language": "en"},
    )

    # Search.
    page = datasets_list.sync(client=client, q="수원")
    assert page.count == 1
    (found,) = page.results
    assert found.slug == "suwon-cards"

    # Request the free offer that is approved automatically.
    offers = offers_list.sync(found.slug, client=client)
    free = next(o for o in offers if o.price_krw == 0 and o.approval == models.ApprovalEnum.AUTOMATIC)
    assert free.id == market["free"].pk
    request = requests_create.sync(
        client=client,
        body=models.RequestCreateRequest(
            offer=free.id,
            fields=["sigungu_code", "industry", "amount"],
            regions=["41110"],
            date_from=datetime.date(2024, 1, 1),
            date_to=datetime.date(2024, 3, 31),
            purpose="골목상권 매출 분석",
            purpose_category=models.PurposeCategoryEnum.STATISTICS,
            accept_terms=True,
        ),
    )
    assert request.state == models.AccessStateEnum.LICENSED

    # The license.
    license = licenses_retrieve.sync(request.license_, client=client)
    assert license.state == models.LicenseStateEnum.ACTIVE
    assert license.downloads_used == 0

    # An extract in CSV, built by the task.
    extract = extracts_create.sync(
        license.id, client=client, body=models.ExtractRequestRequest(format_=models.FormatEnum.CSV)
    )
    deadline = time.monotonic() + 60
    while extract.status not in (models.ExtractStatusEnum.SUCCEEDED, models.ExtractStatusEnum.FAILED):
        assert time.monotonic() < deadline, extract.status
        time.sleep(0.2)
        extract = extracts_retrieve.sync(extract.id, client=client)
    assert extract.status == models.ExtractStatusEnum.SUCCEEDED, extract.error
    assert extract.format_ == models.FormatEnum.CSV

    # A signed link, and the zip behind it (the link is the credential: no token needed).
    link = link_create.sync(extract.id, client=client)
    assert link.expires_at > datetime.datetime.now(datetime.UTC)
    signed = link.url.rstrip("/").rsplit("/", 1)[1]
    bundle = download.sync(signed, client=anonymous)
    with zipfile.ZipFile(io.BytesIO(bundle.payload.read())) as z:
        files = {name: z.read(name) for name in z.namelist()}
    assert set(files) == {"data.csv", "manifest.json", "datapackage.json"}
    rows = list(csv.DictReader(io.StringIO(files["data.csv"].decode("utf-8"))))
    assert rows and list(rows[0]) == ["sigungu_code", "industry", "amount"]
    assert {r["sigungu_code"] for r in rows} == {"41110"}
    manifest = json.loads(files["manifest.json"])
    assert manifest["license"]["id"] == license.id
    assert manifest["file"]["sha256"] == extract.sha256
    assert licenses_retrieve.sync(license.id, client=client).downloads_used == 1

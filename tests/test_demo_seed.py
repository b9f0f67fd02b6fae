"""`seed_demo` builds a complete demo economy, and each demo user can do their main job on it
through the API: the analyst requests a free offer and downloads its extract, the curator
approves a request, the operator verifies an organization."""

import io
import zipfile

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts.models import Organization
from catalog.models import Dataset, Offer
from demo import organizations as demo
from insights.demo import OFFICIAL_FILE
from transactions.models import AccessRequest, Extract, Invoice, License

PASSWORD = "jangteo-demo"


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo seeded once for this file's tests (each runs in a transaction rolled back after
    it, so none sees another's changes); the database is emptied again after the last one, as
    after any test that commits."""
    # The real risk threshold, as `make run` has it (the suite relaxes it in tests/settings.py):
    # every record offer of the demo must open under it.
    with pytest.MonkeyPatch.context() as patch, override_settings(RISK_THRESHOLD_DEFAULTS={}):
        patch.delenv("DEMO_PASSWORD", raising=False)
        out = io.StringIO()
        with django_db_blocker.unblock():
            call_command("seed_demo", rows=5000, seed=7, stdout=out)
        try:
            yield out.getvalue()
        finally:
            with django_db_blocker.unblock():
                # Rows keep being numbered on: with its sequences reset (flush's default on
                # PostgreSQL), a later test's dataset took an id whose files an earlier test
                # left in storage (`datasets/<id>/…`), and a fault test found them as its own.
                call_command("flush", interactive=False, verbosity=0, reset_sequences=False)


@pytest.fixture(autouse=True)
def _in_a_transaction(db):
    """Each test's own changes are rolled back; the seeded demo stays for the next."""


def demo_login(api, email):
    response = api.post("/api/v1/auth/token/", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return api


def test_seed_makes_every_state_and_prints_the_users(seeded):
    assert "analyst@buyer.jangteo.test" in seeded and "jangteo-demo" in seeded
    assert Organization.objects.filter(kind="center").count() == 4
    assert Organization.objects.filter(kind="buyer").count() == 4
    # the four generated datasets, and the official statistics when the shared file is beside us
    assert Dataset.objects.filter(status="published").count() == 4 + OFFICIAL_FILE.exists()
    assert {o.kind for o in Offer.objects.all()} == {"records", "aggregate"}
    assert {o.approval for o in Offer.objects.all()} == {"automatic", "center", "center_operator"}
    assert set(AccessRequest.objects.values_list("state", flat=True)) >= {
        "center_review",
        "operator_review",
        "awaiting_payment",
        "licensed",
        "changes_requested",
        "rejected",
        "withdrawn",
        "lapsed",
    }
    assert set(License.objects.values_list("state", flat=True)) == {"active", "expired", "revoked"}
    assert set(Invoice.objects.values_list("state", flat=True)) == {"issued", "paid"}
    assert Extract.objects.filter(status="succeeded").exists()


def test_seeding_again_with_if_empty_changes_nothing(seeded):
    before = (Dataset.objects.count(), AccessRequest.objects.count())
    out = io.StringIO()
    call_command("seed_demo", if_empty=True, stdout=out)
    assert "already present" in out.getvalue()
    assert (Dataset.objects.count(), AccessRequest.objects.count()) == before


def test_analyst_requests_the_free_offer_and_downloads_its_extract(
    seeded, api, django_capture_on_commit_callbacks
):
    client = demo_login(api, "analyst@buyer.jangteo.test")
    offer = Offer.objects.get(dataset__title="경기도 기업 현황")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/requests/",
            {
                "offer": offer.pk,
                "fields": ["company_name", "ksic_code", "sigungu_name"],
                "purpose": "상권 분석",
                "purpose_category": "commercial",
                "accept_terms": True,
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "licensed"
    license_id = (
        response.json()["license"]["id"]
        if isinstance(response.json()["license"], dict)
        else response.json()["license"]
    )
    (extract,) = client.get(f"/api/v1/licenses/{license_id}/extracts/").json()
    assert extract["status"] == "succeeded"
    url = client.post(f"/api/v1/extracts/{extract['id']}/download-link/").json()["url"]
    download = client.get(url.removeprefix("http://testserver"))
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as z:
        header = (
            z.read(next(n for n in z.namelist() if n.startswith("data."))).decode("utf-8-sig").splitlines()[0]
        )
    assert header.split(",") == ["company_name", "ksic_code", "sigungu_name"]


def test_curator_approves_a_request(seeded, api):
    client = demo_login(api, "curator@center.jangteo.test")
    waiting = client.get("/api/v1/requests/", {"state": "center_review"}).json()["results"]
    assert waiting
    response = client.post(
        f"/api/v1/requests/{waiting[0]['id']}/approve/", {"note": "확인했습니다"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] in ("operator_review", "awaiting_payment", "licensed")


def test_operator_verifies_an_organization(seeded, api):
    signup = api.post(
        "/api/v1/auth/signup/",
        {
            "email": "new@shop.kr",
            "password": "a-long-enough-passphrase",
            "accept_terms": True,
            "accept_privacy": True,
            "organization": {
                "kind": "buyer",
                "name": "새 가게",
                "business_number": demo.demo_business_number("555550001"),
                "buyer_category": "sole_proprietor",
            },
        },
        format="json",
    )
    assert signup.status_code == 202
    pending = Organization.objects.get(name="새 가게")
    client = demo_login(api, "operator@jangteo.test")
    response = client.post(f"/api/v1/organizations/{pending.pk}/verify/")
    assert response.status_code == 200 and response.json()["verification"] == "verified"

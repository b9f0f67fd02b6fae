"""Finding: `make run` (DEBUG=1) served MEDIA_ROOT, so anyone could download every raw dataset
Parquet and every buyer's bundle from /media/… with no login. Files leave only through signed,
expiring links bound to the person who asked for them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from accounts.models import Membership
from accounts.services import membership_remove
from catalog.models import Offer
from tests import factories
from tests.transactions.factories import submit
from transactions import services
from transactions.models import License

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]
RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]


@pytest.fixture
def license(world, django_capture_on_commit_callbacks):
    dataset = factories.published_dataset(world.center, with_data=True, row_count=60)
    offer = factories.OfferFactory(dataset=dataset, fields=RECORDS, approval=Offer.Approval.AUTOMATIC)
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_analyst, offer, scope={"fields": RECORDS})
    return License.objects.get(access_request=request)


def _get_under_make_run_settings(paths: list[str]) -> dict[str, int]:
    """GET `paths` with the settings `make run` uses (config.settings, DEBUG=1), in a fresh
    process whose MEDIA_ROOT is this test's storage."""
    script = (
        "import django, json, sys\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "print(json.dumps({p: c.get(p, HTTP_HOST='127.0.0.1').status_code for p in sys.argv[1:]}))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JANGTEO_VAR_DIR": str(settings.VAR_DIR),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", script, *paths], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_make_run_serves_no_raw_parquet_and_no_bundle_under_media(license):
    (extract,) = license.extracts.all()
    assert extract.status == "succeeded", extract.error
    parquet = license.dataset.current_version.parquet
    assert default_storage.exists(parquet) and default_storage.exists(extract.file)
    paths = [f"/media/{parquet}", f"/media/{extract.file}"]
    assert _get_under_make_run_settings(paths) == {p: 404 for p in paths}


def _link(client, extract) -> str:
    response = client.post(f"/api/v1/extracts/{extract.pk}/download-link/")
    assert response.status_code == 200, response.content
    return response.json()["url"].removeprefix("http://testserver")


def test_a_removed_members_link_stops_working(world, license, login):
    (extract,) = license.extracts.all()
    url = _link(login(world.buyer_analyst), extract)
    membership = Membership.objects.get(user=world.buyer_analyst, organization=world.buyer)
    membership_remove(actor=world.buyer_manager, membership=membership)
    response = login(world.buyer_manager).get(url)
    assert response.status_code == 404
    assert License.objects.get(pk=license.pk).downloads_used == 0


def test_a_deactivated_persons_link_stops_working(world, license, login, api):
    (extract,) = license.extracts.all()
    url = _link(login(world.buyer_analyst), extract)
    world.buyer_analyst.is_active = False
    world.buyer_analyst.save(update_fields=["is_active"])
    assert api.get(url).status_code == 404


def test_a_revoked_licenses_link_stops_working(world, license, login, api):
    (extract,) = license.extracts.all()
    url = _link(login(world.buyer_analyst), extract)
    services.license_revoke(actor=world.center_manager, license=license, reason="목적 외 이용")
    response = api.get(url)
    assert response.status_code == 409
    assert "revoked" in response.json()["detail"]


def test_the_link_still_works_for_the_member_who_asked(world, license, login, api):
    (extract,) = license.extracts.all()
    url = _link(login(world.buyer_analyst), extract)
    response = api.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"

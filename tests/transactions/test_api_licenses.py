import datetime

import pytest

from marketplace.actors import SYSTEM
from tests.transactions.factories import request_in_state
from transactions import keystore, services
from transactions.models import AccessRequest, License

State = AccessRequest.State
pytestmark = pytest.mark.django_db


def licensed(world, **offer_kwargs) -> License:
    return License.objects.get(access_request=request_in_state(world, State.LICENSED, **offer_kwargs))


def test_license_detail_never_shows_the_secret(world, login):
    license = licensed(world, download_quota=5)
    for user in (world.buyer_analyst, world.center_curator, world.operator):
        response = login(user).get(f"/api/v1/licenses/{license.pk}/")
        assert response.status_code == 200
        assert keystore.license_key(license.pk).hex() not in response.content.decode()
        assert "secret" not in response.content.decode()
    body = response.json()
    assert {"id", "state", "scope", "valid_from", "valid_until", "download_quota", "downloads_used"} <= set(
        body
    )
    assert body["state"] == "active" and body["usable"] is True
    assert (body["download_quota"], body["downloads_used"]) == (5, 0)
    assert body["request"] == license.access_request_id
    assert body["terms_sha256"] == license.terms_sha256
    assert body["valid_until"].endswith("+09:00")
    assert body["scope"] == license.scope


def test_license_list_is_filtered_and_filterable(world, login):
    mine = licensed(world)
    revoked = services.license_revoke(actor=world.operator, license=licensed(world), reason="x")
    client = login(world.buyer_manager)
    assert {r["id"] for r in client.get("/api/v1/licenses/").json()["results"]} == {mine.pk, revoked.pk}
    assert [r["id"] for r in client.get("/api/v1/licenses/?state=revoked").json()["results"]] == [revoked.pk]
    assert login(world.other_buyer).get("/api/v1/licenses/").json()["count"] == 0
    assert login(world.other_center_curator).get("/api/v1/licenses/").json()["count"] == 0
    assert login(world.center_reviewer).get("/api/v1/licenses/").json()["count"] == 2


def test_revoke_over_the_api(world, login):
    license = licensed(world)
    client = login(world.center_manager)
    assert (
        client.post(f"/api/v1/licenses/{license.pk}/revoke/", {"reason": ""}, format="json").status_code
        == 400
    )
    response = client.post(f"/api/v1/licenses/{license.pk}/revoke/", {"reason": "재판매 확인"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["revoked_reason"], body["usable"]) == ("revoked", "재판매 확인", False)
    assert client.post(f"/api/v1/licenses/{license.pk}/renew/").status_code == 403
    renew = login(world.buyer_analyst).post(f"/api/v1/licenses/{license.pk}/renew/")
    assert renew.status_code == 409


def test_renew_over_the_api_creates_a_request(world, login):
    license = licensed(world)
    response = login(world.buyer_analyst).post(f"/api/v1/licenses/{license.pk}/renew/", {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "center_review"
    assert body["renewal_of"] == license.pk
    assert body["scope"] == license.scope


def test_expired_licenses_show_as_such(world, login):
    license = licensed(world)
    services.license_expire(
        actor=SYSTEM, license=license, now=license.valid_until + datetime.timedelta(hours=1)
    )
    body = login(world.buyer_analyst).get(f"/api/v1/licenses/{license.pk}/").json()
    assert (body["state"], body["usable"]) == ("expired", False)


def test_providers_see_who_downloaded_what(world, login):
    license = licensed(world)
    services.license_download_record(
        actor=world.buyer_analyst, license=license, extract_id=3, size_bytes=2048
    )
    body = login(world.center_manager).get(f"/api/v1/licenses/{license.pk}/downloads/").json()
    assert body["count"] == 1
    [row] = body["results"]
    assert (row["user"], row["extract_id"], row["bytes"]) == (world.buyer_analyst.email, 3, 2048)
    assert row["organization"]["id"] == world.buyer.pk
    assert login(world.buyer_analyst).get(f"/api/v1/licenses/{license.pk}/").json()["downloads_used"] == 1

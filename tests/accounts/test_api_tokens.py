"""API tokens expire, are listed and revoked by their owner, and die with a password change or
reset; django-axes also locks an account after failures from many addresses (issue 15)."""

import datetime
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.security import token_digest
from tests import factories
from tests.conftest import english_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(buyer):
    return factories.member(buyer, "analyst", email="analyst@cafe.kr")


def _token(user, **extra) -> tuple[str, dict]:
    response = english_client().post(
        "/api/v1/auth/token/", {"email": user.email, "password": factories.PASSWORD, **extra}
    )
    assert response.status_code == 200, response.content
    return response.json()["token"], response.json()


def _as(key):
    client = english_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_expires_after_the_configured_days(user, settings):
    settings.API_TOKEN_DAYS = 30
    key, body = _token(user)
    expires = datetime.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (timezone.now() + datetime.timedelta(days=30))) < datetime.timedelta(minutes=1)
    assert _as(key).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    expired = _as(key).get("/api/v1/me/")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_only_a_digest_of_the_key_is_stored(user):
    key, body = _token(user)
    token = ApiToken.objects.get(pk=body["id"])
    assert token.digest == token_digest(key) and key not in (token.digest, token.prefix)


def test_owners_list_and_revoke_their_tokens(user, buyer):
    first, _ = _token(user, name="laptop")
    second, body = _token(user, name="notebook")
    other_key, other = _token(factories.member(buyer, "manager"))
    listed = _as(first).get("/api/v1/auth/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"laptop", "notebook"}  # only one's own
    assert all("token" not in t and t["active"] for t in listed)
    assert _as(first).delete(f"/api/v1/auth/tokens/{other['id']}/").status_code == 404
    assert _as(first).delete(f"/api/v1/auth/tokens/{body['id']}/").status_code == 204
    assert _as(second).get("/api/v1/me/").status_code == 401
    assert _as(first).get("/api/v1/me/").status_code == 200
    assert _as(other_key).get("/api/v1/me/").status_code == 200
    revoked = next(
        t for t in _as(first).get("/api/v1/auth/tokens/").json()["results"] if t["id"] == body["id"]
    )
    assert revoked["active"] is False and revoked["revoked_at"]


def test_a_password_change_on_the_web_revokes_every_token(user):
    keys = [_token(user)[0] for _ in range(2)]
    web = Client()
    web.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = web.post(
        "/accounts/password_change/",
        {
            "old_password": factories.PASSWORD,
            "new_password1": "a-new-passphrase!",
            "new_password2": "a-new-passphrase!",
        },
    )
    assert response.status_code == 302
    assert [_as(k).get("/api/v1/me/").status_code for k in keys] == [401, 401]
    assert set(ApiToken.objects.values_list("revoked_reason", flat=True)) == {"password_changed"}


def test_a_password_reset_revokes_every_token(user, django_capture_on_commit_callbacks):
    key, _ = _token(user)
    web = Client()
    web.post("/accounts/password_reset/", {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form = web.get(link, follow=True)
    done = web.post(
        form.redirect_chain[-1][0],
        {"new_password1": "reset-passphrase!", "new_password2": "reset-passphrase!"},
    )
    assert done.status_code == 302
    assert _as(key).get("/api/v1/me/").status_code == 401
    assert ApiToken.objects.get().revoked_reason == "password_reset"


def test_a_password_set_any_other_way_stops_old_tokens_too(user):
    key, _ = _token(user)
    user.set_password("changed-in-the-admin")
    user.save()
    assert _as(key).get("/api/v1/me/").status_code == 401
    assert ApiToken.objects.get().revoked_at is not None


def test_failures_from_many_addresses_lock_the_account(api, user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 6
    for n in range(6):  # one guess each from six addresses: no pair reaches 5
        wrong = api.post(
            "/api/v1/auth/token/", {"email": user.email, "password": "guess"}, REMOTE_ADDR=f"198.51.100.{n}"
        )
        assert wrong.status_code in (400, 429)
    locked = api.post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": factories.PASSWORD},
        REMOTE_ADDR="203.0.113.77",
    )
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]


def test_a_few_failures_from_many_addresses_do_not_lock_the_account(api, user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 6
    for n in range(5):
        api.post(
            "/api/v1/auth/token/", {"email": user.email, "password": "guess"}, REMOTE_ADDR=f"198.51.100.{n}"
        )
    ok = api.post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": factories.PASSWORD},
        REMOTE_ADDR="203.0.113.77",
    )
    assert ok.status_code == 200

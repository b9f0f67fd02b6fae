"""Sign-up and password reset answer the same whatever the address (issue 15); the e-mail tells
the address's owner what happened."""

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Organization, User
from tests import factories

pytestmark = pytest.mark.django_db


def _body(email: str, number: int) -> dict:
    return {
        "email": email,
        "password": "a-long-enough-passphrase",
        "accept_terms": True,
        "accept_privacy": True,
        "organization": {
            "kind": "buyer",
            "name": f"가게 {number}",
            "business_number": factories.valid_business_number(number),
            "buyer_category": "sme",
        },
    }


def test_the_api_answers_a_known_and_a_new_address_alike(api, buyer, django_capture_on_commit_callbacks):
    factories.member(buyer, "analyst", email="known@shop.kr")
    with django_capture_on_commit_callbacks(execute=True):
        known = api.post("/api/v1/auth/signup/", _body("known@shop.kr", 901), format="json")
        new = api.post("/api/v1/auth/signup/", _body("new@shop.kr", 902), format="json")
    assert (known.status_code, known.json()) == (new.status_code, new.json())
    assert known.status_code == 202
    # nothing made for the known address; its owner is told by e-mail
    assert not Organization.objects.filter(name="가게 901").exists()
    to_known = [m for m in mail.outbox if m.to == ["known@shop.kr"]]
    assert len(to_known) == 1 and "/accounts/password_reset/" in to_known[0].body
    # the new account works only once the address is confirmed
    user = User.objects.get(email="new@shop.kr")
    assert not user.is_active
    assert (
        api.post(
            "/api/v1/auth/token/", {"email": user.email, "password": "a-long-enough-passphrase"}
        ).status_code
        == 400
    )
    to_new = [m for m in mail.outbox if m.to == ["new@shop.kr"]]
    link = re.search(r"https?://[^/\s]+(/signup/confirm/\S+/)", to_new[0].body).group(1)
    web = Client()
    assert web.get(link).status_code == 302
    assert User.objects.get(pk=user.pk).is_active
    assert web.get(link).status_code == 302 and "_auth_user_id" in web.session  # used: just a redirect
    token = api.post("/api/v1/auth/token/", {"email": user.email, "password": "a-long-enough-passphrase"})
    assert token.status_code == 200


def test_invalid_values_are_reported_whatever_the_address(api, buyer):
    factories.member(buyer, "analyst", email="known@shop.kr")
    known = api.post("/api/v1/auth/signup/", {**_body("known@shop.kr", 903), "password": "1"}, format="json")
    new = api.post("/api/v1/auth/signup/", {**_body("new@shop.kr", 904), "password": "1"}, format="json")
    assert known.status_code == new.status_code == 400
    assert known.json()["errors"].keys() == new.json()["errors"].keys() == {"password"}


def test_the_web_sign_up_page_answers_alike(buyer):
    factories.member(buyer, "analyst", email="known@shop.kr")

    def page(email, number):
        body = _body(email, number)
        html = (
            Client(HTTP_ACCEPT_LANGUAGE="en")
            .post(
                "/signup/",
                {
                    "email": email,
                    "name": "김사장",
                    "password1": body["password"],
                    "password2": body["password"],
                    "org_kind": "buyer",
                    "org_name": body["organization"]["name"],
                    "business_number": body["organization"]["business_number"],
                    "buyer_category": "sme",
                    "accept_terms": "on",
                    "accept_privacy": "on",
                },
            )
            .content.decode()
        )
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)  # differs per client
        return html.replace(email, "ADDRESS")

    known, new = page("known@shop.kr", 905), page("new@shop.kr", 906)
    assert known == new
    assert "Check your e-mail" in known


def test_password_reset_answers_alike(client, buyer):
    factories.member(buyer, "analyst", email="known@shop.kr")
    known = client.post("/accounts/password_reset/", {"email": "known@shop.kr"})
    unknown = client.post("/accounts/password_reset/", {"email": "nobody@shop.kr"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["known@shop.kr"]


def test_the_web_sign_up_is_throttled_like_the_api(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "2/min"},
    }
    web = Client(HTTP_ACCEPT_LANGUAGE="en")
    answers = [web.post("/signup/", {"email": f"p{n}@shop.kr"}).status_code for n in range(3)]
    assert answers == [200, 200, 429]
    assert web.get("/signup/").status_code == 200  # the page itself still shows
    reset = [web.post("/accounts/password_reset/", {"email": "x@shop.kr"}).status_code for _ in range(2)]
    assert reset[-1] == 429  # the same "auth" budget

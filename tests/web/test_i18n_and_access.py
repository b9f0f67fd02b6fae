"""Every page: who may open it (status codes per role), the language of the pages, the
shared layout (skip link, landmarks, navigation by role)."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_pages_are_korean_by_default_and_english_after_the_switch(web, published):
    page = web.get("/datasets/").content.decode()
    assert '<html lang="ko">' in page and "장터" in page
    assert '<option value="ko" lang="ko" selected>한국어</option>' in page
    response = web.post("/i18n/setlang/", {"language": "en", "next": "/datasets/"})
    assert response.status_code == 302 and response["Location"] == "/datasets/"
    page = web.get("/datasets/").content.decode()
    assert '<html lang="en">' in page and "Data catalog" in page and "Find data" in page
    assert '<option value="en" lang="en" selected>English</option>' in page
    web.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    assert '<html lang="ko">' in web.get("/").content.decode()


def test_the_browser_language_is_honoured(published):
    from django.test import Client

    english = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in english.get("/").content.decode()


def test_won_amounts_are_grouped(web, published):
    html = web.get(f"/datasets/{published.slug}/").content.decode()
    assert "1,100,000원" in html  # 1,000,000 + 10% VAT


def test_layout_has_skip_link_landmarks_and_role_navigation(as_user, analyst, curator, operator, published):
    buyer_page = as_user(analyst).get("/").content.decode()
    assert 'class="skip-link" href="#content"' in buyer_page and '<main id="content"' in buyer_page
    assert 'href="/requests/"' in buyer_page and 'href="/center/"' not in buyer_page
    center_page = as_user(curator).get("/").content.decode()
    assert 'href="/center/"' in center_page and 'href="/center/reviews/"' in center_page
    assert 'href="/requests/"' not in center_page
    operator_page = as_user(operator).get("/").content.decode()
    assert 'href="/operator/organizations/"' in operator_page and 'href="/audit/"' in operator_page


ANONYMOUS_OK = [
    "/",
    "/datasets/",
    "/signup/",
    "/accounts/login/",
    "/accounts/password_reset/",
    "/catalog.jsonld",
]
LOGIN_REQUIRED = [
    "/requests/",
    "/licenses/",
    "/invoices/",
    "/notifications/",
    "/audit/",
    "/center/",
    "/center/datasets/new/",
    "/center/reviews/",
    "/center/dashboard/",
    "/operator/",
    "/operator/organizations/",
    "/operator/reviews/",
    "/operator/requests/",
    "/operator/leaks/",
]
# role → pages that answer 200 (the rest of LOGIN_REQUIRED answer 404 for that role)
ALLOWED = {
    "analyst": {"/requests/", "/licenses/", "/invoices/", "/notifications/", "/audit/"},
    "curator": {
        "/requests/",
        "/licenses/",
        "/invoices/",
        "/notifications/",
        "/audit/",
        "/center/",
        "/center/datasets/new/",
        "/center/reviews/",
        "/center/dashboard/",
    },
    "operator": set(LOGIN_REQUIRED) - {"/center/datasets/new/", "/center/reviews/"},  # /center/: all datasets
}


@pytest.mark.parametrize("url", ANONYMOUS_OK)
def test_public_pages_answer_everyone(web, published, url):
    assert web.get(url).status_code == 200


@pytest.mark.parametrize("url", LOGIN_REQUIRED)
def test_private_pages_send_visitors_to_log_in(web, url):
    response = web.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_private_pages_by_role(as_user, analyst, curator, operator, published, role):
    user = {"analyst": analyst, "curator": curator, "operator": operator}[role]
    client = as_user(user)
    for url in LOGIN_REQUIRED:
        expected = 200 if url in ALLOWED[role] else 404
        assert client.get(url).status_code == expected, (role, url)


def test_unknown_and_unpublished_things_are_404(web, as_user, analyst, draft):
    assert web.get("/datasets/no-such-dataset/").status_code == 404
    assert web.get(f"/datasets/{draft.slug}/").status_code == 404
    client = as_user(analyst)
    for url in ("/requests/999/", "/licenses/999/", "/invoices/999/", f"/center/datasets/{draft.slug}/"):
        assert client.get(url).status_code == 404, url


def test_signup_shows_service_errors_on_fields_then_confirms_by_email(
    web, buyer, mailoutbox, django_capture_on_commit_callbacks
):
    response = web.post(
        "/signup/",
        {
            "email": "owner@cafe.kr",
            "name": "김사장",
            "password1": "correct-horse-battery-staple",
            "password2": "correct-horse-battery-staple",
            "org_kind": "buyer",
            "org_name": "새 카페",
            "business_number": "123-45-67890",
            "buyer_category": "sme",
            "accept_terms": "on",
            "accept_privacy": "on",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_business_number_error"' in html
    assert 'aria-describedby="id_business_number_helptext id_business_number_error"' in html
    from tests.factories import valid_business_number

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            "/signup/",
            {
                "email": "owner@cafe.kr",
                "name": "김사장",
                "password1": "correct-horse-battery-staple",
                "password2": "correct-horse-battery-staple",
                "org_kind": "buyer",
                "org_name": "새 카페",
                "business_number": valid_business_number(777),
                "buyer_category": "sme",
                "accept_terms": "on",
                "accept_privacy": "on",
            },
        )
    assert response.status_code == 200 and 'id="id_email"' not in response.content.decode()
    assert "김사장" not in web.get("/").content.decode()  # not logged in before confirming
    link = re.search(r"http://\S+(/signup/confirm/\S+/)", mailoutbox[-1].body).group(1)
    assert web.get(link).status_code == 302
    assert "김사장" in web.get("/").content.decode()  # confirmed and logged in
    from accounts.models import Organization

    assert Organization.objects.get(name="새 카페").verification == "pending"


def test_login_with_email_and_logout(web, analyst):
    from tests.factories import PASSWORD

    bad = web.post("/accounts/login/", {"username": analyst.email, "password": "wrong"})
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()
    good = web.post(
        "/accounts/login/", {"username": analyst.email, "password": PASSWORD, "next": "/requests/"}
    )
    assert good.status_code == 302 and good["Location"] == "/requests/"
    assert web.post("/accounts/logout/").status_code == 302
    assert web.get("/requests/").status_code == 302


def test_password_reset_sends_a_link(web, analyst, mailoutbox):
    response = web.post("/accounts/password_reset/", {"email": analyst.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body
    assert web.get(response["Location"]).status_code == 200

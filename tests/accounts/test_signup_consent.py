"""Sign-up asks for two separate, required agreements — 이용약관 (terms of service) and 개인정보
수집·이용 (collection and use of personal data) — with the documents one click away, and keeps
which versions each person agreed to and when; every page names the operator in its footer."""

import pytest
from django.test import Client

from accounts.models import Organization, User
from marketplace.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def body(**changes) -> dict:
    return {
        "email": "owner@cafe.kr",
        "password": "a-long-enough-passphrase",
        "organization": {
            "kind": "buyer",
            "name": "새 카페",
            "business_number": factories.valid_business_number(4242),
            "buyer_category": "sme",
        },
        **changes,
    }


def test_the_api_refuses_a_sign_up_without_both_agreements_and_creates_nothing(api):
    for missing in ({}, {"accept_terms": True}, {"accept_privacy": True}):
        response = api.post("/api/v1/auth/signup/", body(**missing), format="json")
        assert response.status_code == 400, response.content
        errors = response.json()["errors"]
        assert ("accept_terms" in errors) != ("accept_terms" in missing)
        assert ("accept_privacy" in errors) != ("accept_privacy" in missing)
    assert not User.objects.exists() and not Organization.objects.exists()


def test_the_versions_agreed_to_are_kept_with_the_account_and_in_the_audit_log(
    api, settings, django_capture_on_commit_callbacks
):
    settings.TERMS_VERSION, settings.PRIVACY_POLICY_VERSION = "2027-01-01", "2027-01-02"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/auth/signup/", body(accept_terms=True, accept_privacy=True), format="json"
        )
    assert response.status_code == 202, response.content
    user = User.objects.get(email="owner@cafe.kr")
    assert (user.terms_version, user.privacy_consent_version) == ("2027-01-01", "2027-01-02")
    assert user.consented_at is not None
    event = AuditEvent.objects.get(verb="accounts.user.signed_up")
    assert event.after == {"terms": "2027-01-01", "privacy_consent": "2027-01-02"}


def test_the_web_form_shows_both_agreements_and_refuses_without_them():
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    page = client.get("/signup/").content.decode()
    assert 'name="accept_terms"' in page and 'name="accept_privacy"' in page
    assert 'href="/terms/"' in page and 'href="/privacy-policy/"' in page
    assert "수집" in page and "보유" in page  # what is collected and how long, before agreeing
    data = body()
    refused = client.post(
        "/signup/",
        {
            "email": data["email"],
            "name": "김사장",
            "password1": data["password"],
            "password2": data["password"],
            "org_kind": "buyer",
            "org_name": "새 카페",
            "business_number": data["organization"]["business_number"],
            "buyer_category": "sme",
            "accept_terms": "on",
        },
    ).content.decode()
    assert 'id="id_accept_privacy_error"' in refused and 'id="id_accept_terms_error"' not in refused
    assert not User.objects.exists()


@pytest.mark.parametrize("language", ["ko", "en"])
def test_documents_and_the_operator_in_every_footer(language, settings):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    operator = settings.OPERATOR_DETAILS
    for path in ("/terms/", "/privacy-policy/", "/support/"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert operator["business_number"] in html and operator["address"] in html  # the footer
    home = client.get("/").content.decode()
    assert 'href="/privacy-policy/"' in home and operator["representative"] in home
    policy = client.get("/privacy-policy/").content.decode()
    assert operator["privacy_officer"] in policy
    assert ("개인정보 보호책임자" in policy) == (language == "ko")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _web_signup(client, **extra):
    data = body()
    return client.post(
        "/signup/",
        {
            "email": data["email"],
            "name": "김사장",
            "password1": data["password"],
            "password2": data["password"],
            "org_kind": "buyer",
            "org_name": "새 카페",
            "business_number": data["organization"]["business_number"],
            "buyer_category": "sme",
            "accept_terms": "on",
            "accept_privacy": "on",
            **extra,
        },
    )


def test_the_applicant_and_the_certificate_reach_the_operator_and_no_one_else(
    operator, buyer, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pdf = SimpleUploadedFile("사업자등록증.pdf", b"%PDF-1.4 certificate", content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = _web_signup(
            Client(), applicant_position="대표", applicant_phone="031-123-4567", certificate=pdf
        )
    assert response.status_code == 200
    org = Organization.objects.get(name="새 카페")
    assert (org.applicant_position, org.applicant_phone) == ("대표", "031-123-4567")
    assert org.registration_certificate.name.startswith("private/certificates/")
    assert org.business_status == "unchecked"
    path = f"/organizations/{org.pk}/certificate/"
    download = signed_in(operator).get(path)
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 certificate"
    assert download["Content-Disposition"].startswith("attachment")
    stranger = factories.member(buyer, "manager", email="other@shop.kr")
    assert signed_in(stranger).get(path).status_code == 404
    assert Client().get(path).status_code == 302  # to the log-in page
    page = signed_in(operator).get("/operator/organizations/").content.decode()
    assert "031-123-4567" in page and path in page


def test_a_certificate_that_is_not_a_pdf_or_an_image_is_refused_and_nothing_is_created():
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile(
        "사업자등록증.pdf", b"<html>not a certificate</html>", content_type="application/pdf"
    )
    html = _web_signup(Client(), certificate=fake).content.decode()
    assert 'id="id_certificate_error"' in html
    assert not User.objects.exists() and not Organization.objects.exists()


def test_only_a_business_in_operation_is_verified(operator, login):
    org = factories.OrganizationFactory(kind="buyer", name="폐업한 가게", verification="pending")
    client = signed_in(operator)
    client.post(f"/operator/organizations/{org.pk}/verify/", {"business_status": "closed"})
    org.refresh_from_db()
    assert org.verification == "pending" and org.business_status == "unchecked"
    client.post(f"/operator/organizations/{org.pk}/verify/", {"business_status": "active"})
    org.refresh_from_db()
    assert org.verification == "verified" and org.business_status == "active"

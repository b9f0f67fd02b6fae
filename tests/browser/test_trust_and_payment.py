"""Issue 17, items 5 and 7, in a real browser (Korean and English, desktop and phone): a new
company signs up, agreeing to the terms and to the collection of its personal data, with its
사업자등록증; a buyer opens its invoice, sees whom to pay and prints it. Screenshots go to
var/screenshots/trust-*.png and payment-*.png."""

import pytest

from accounts.models import Organization, User
from tests import factories
from tests.transactions.factories import make_world, request_in_state
from transactions.models import AccessRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_a_company_signs_up_with_both_agreements_and_its_certificate(new_page, shot, tmp_path, locale, size):
    page = new_page(**SIZES[size], locale=locale)
    page.goto("/signup/")
    page.fill("#id_email", "owner@cafe.kr")
    page.fill("#id_name", "김사장")
    page.fill("#id_password1", "correct-horse-battery-staple")
    page.fill("#id_password2", "correct-horse-battery-staple")
    page.check("input[name=org_kind][value=buyer]")
    page.fill("#id_org_name", "골목카페")
    page.fill("#id_business_number", factories.valid_business_number(5150))
    page.select_option("#id_buyer_category", "sme")
    page.fill("#id_applicant_position", "대표")
    page.fill("#id_applicant_phone", "031-123-4567")
    certificate = tmp_path / "사업자등록증.pdf"
    certificate.write_bytes(b"%PDF-1.4 certificate")
    page.set_input_files("#id_certificate", str(certificate))
    # Without the privacy agreement: refused on that box, nothing created.
    page.check("#id_accept_terms")
    page.click("main form button[type=submit]")
    # The refusal is the page the server sends back: wait for it (a click does not wait for
    # the form's navigation; asserting at once failed on a loaded machine).
    page.locator("#id_accept_privacy_error").wait_for(state="visible")
    assert not User.objects.exists()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the sign-up page scrolls sideways by {overflow}px"
    shot(page, "trust", f"signup-refused-{locale[:2]}-{size}")
    page.fill("#id_password1", "correct-horse-battery-staple")
    page.fill("#id_password2", "correct-horse-battery-staple")
    page.set_input_files("#id_certificate", str(certificate))
    page.check("#id_accept_terms")
    page.check("#id_accept_privacy")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    errors_shown = page.locator(".errorlist, .form-errors").all_inner_texts()
    assert Organization.objects.filter(name="골목카페").exists(), errors_shown
    organization = Organization.objects.get(name="골목카페")
    assert organization.registration_certificate and organization.applicant_phone == "031-123-4567"
    assert User.objects.get(email="owner@cafe.kr").terms_version
    shot(page, "trust", f"signup-sent-{locale[:2]}-{size}")
    page.goto("/privacy-policy/")
    assert page.locator("footer .operator-details").is_visible()
    shot(page, "trust", f"privacy-policy-{locale[:2]}-{size}")


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_a_buyer_sees_whom_to_pay_and_prints_the_invoice(
    new_page, shot, log_in, operator_org, operator, center, buyer, settings, locale, size
):
    world = make_world(operator_org, operator, center, buyer)
    request = request_in_state(world, AccessRequest.State.AWAITING_PAYMENT, price_krw=300_000)
    page = new_page(**SIZES[size], locale=locale)
    log_in(page, world.buyer_manager.email, factories.PASSWORD)
    page.goto(f"/invoices/{request.invoice.pk}/")
    body = page.locator("main").inner_text()
    assert settings.PAYMENT_BANK_ACCOUNT in body and settings.OPERATOR_DETAILS["business_number"] in body
    assert "330,000" in body
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the invoice page scrolls sideways by {overflow}px"
    shot(page, "payment", f"invoice-{locale[:2]}-{size}")
    page.click(f"a[href='/invoices/{request.invoice.pk}/print/']")
    page.wait_for_url(f"**/invoices/{request.invoice.pk}/print/")  # a click does not wait for it
    page.emulate_media(media="print")
    assert page.locator(".tax-invoice").is_visible()
    assert not page.locator(".no-print").is_visible()
    shot(page, "payment", f"invoice-print-{locale[:2]}-{size}")

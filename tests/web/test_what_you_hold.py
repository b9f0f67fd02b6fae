"""Issue 17, item 6: pages show a buyer what they already hold (a license, a request under
review) instead of a plain "request access"; no second license for the same offer; an
unverified organization learns it before filling the form."""

import pytest

from catalog.models import Offer
from marketplace import errors
from tests import factories
from tests.transactions.factories import submit
from transactions.models import AccessRequest, License

pytestmark = pytest.mark.django_db

SCOPE = {"fields": ["시군코드", "금액"]}


@pytest.fixture
def automatic(live_dataset):
    offer = live_dataset.offers.get()
    Offer.objects.filter(pk=offer.pk).update(approval=Offer.Approval.AUTOMATIC)
    offer.refresh_from_db()
    return offer


def test_a_license_holder_sees_their_license_not_a_request_button(
    as_user, analyst, automatic, live_dataset, django_capture_on_commit_callbacks
):
    page_url = f"/datasets/{live_dataset.slug}/"
    before = as_user(analyst, language="en").get(page_url).content.decode()
    assert "Request access" in before and "Open your license" not in before
    with django_capture_on_commit_callbacks(execute=True):
        submit(analyst, automatic, scope=SCOPE)
    license = License.objects.get()
    html = as_user(analyst, language="en").get(page_url).content.decode()
    assert f'href="/licenses/{license.pk}/"' in html and "Open your license" in html
    assert f"/datasets/{live_dataset.slug}/request/{automatic.pk}/" not in html
    korean = as_user(analyst, language="ko").get(page_url).content.decode()
    assert f"라이선스(#{license.pk}," in korean and "이용 신청</a>" not in korean
    # The form itself says so too, instead of taking a second request.
    form = as_user(analyst, language="en").get(f"/datasets/{live_dataset.slug}/request/{automatic.pk}/")
    assert (
        'id="request-blocked"' in form.content.decode() and 'id="request-form"' not in form.content.decode()
    )


def test_requesting_again_while_holding_a_license_is_refused(
    analyst, automatic, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(analyst, automatic, scope=SCOPE)
    with pytest.raises(errors.InvalidState, match="already holds license"):
        submit(analyst, automatic, scope=SCOPE)
    assert License.objects.count() == 1


def test_a_pending_request_shows_as_such(as_user, analyst, live_dataset):
    offer = live_dataset.offers.get()  # center review: stays open
    request = submit(analyst, offer, scope=SCOPE)
    assert request.state in AccessRequest.OPEN_STATES
    html = as_user(analyst, language="en").get(f"/datasets/{live_dataset.slug}/").content.decode()
    assert f'href="/requests/{request.pk}/"' in html and "Follow your request" in html
    # Another buyer still gets the plain button (the cached page is per what is held).
    other = factories.member(factories.OrganizationFactory(kind="buyer", name="다른 카페"), "analyst")
    assert (
        "Request access"
        in as_user(other, language="en").get(f"/datasets/{live_dataset.slug}/").content.decode()
    )


def test_an_unverified_organization_is_told_before_the_form(as_user, live_dataset):
    pending = factories.OrganizationFactory(kind="buyer", name="신규 카페", verification="pending")
    newcomer = factories.member(pending, "analyst", email="new@cafe.kr")
    offer = live_dataset.offers.get()
    response = as_user(newcomer, language="ko").get(f"/datasets/{live_dataset.slug}/request/{offer.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="request-blocked"' in html and 'id="request-form"' not in html
    assert "인증" in html and "신규 카페" in html

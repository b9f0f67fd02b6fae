"""Issue 17, item 8: the license and dataset pages on a phone (390 px), in Korean and English:
nothing wider than the screen, the download button within reach, the dataset page not a
scroll marathon. Screenshots go to var/screenshots/phone-*.png."""

import pytest

from tests import factories
from tests.browser.test_journeys import _published_dataset, people  # noqa: F401 - fixture
from tests.transactions.factories import submit
from transactions.models import License

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_license_page_fits_a_phone(new_page, shot, log_in, people, locale):  # noqa: F811
    dataset = _published_dataset(people)
    offer = dataset.offers.get()
    submit(people["analyst"], offer, scope={"fields": ["시군코드", "업종", "금액"]})
    license = License.objects.get()
    assert license.extracts.filter(status="succeeded").exists()
    page = new_page(**PHONE, locale=locale)
    log_in(page, people["analyst"].email, factories.PASSWORD)
    page.goto(f"/licenses/{license.pk}/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the license page scrolls sideways by {overflow}px"
    button = page.locator("button[id^=download-]").first
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    shot(page, "phone", f"license-{locale[:2]}")


@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_dataset_page_is_short_enough_on_a_phone(new_page, shot, people, locale):  # noqa: F811
    dataset = _published_dataset(people)
    page = new_page(**PHONE, locale=locale)
    page.goto(f"/datasets/{dataset.slug}/")
    height = page.evaluate("document.documentElement.scrollHeight")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    print("phone dataset height", height)
    assert overflow <= 0
    assert height <= 6000, f"the dataset page is {height}px tall on a phone"
    # Column profiles are one tap away, not all unfolded.
    assert page.locator("details.column-profile").count() > 0
    shot(page, "phone", f"dataset-{locale[:2]}")

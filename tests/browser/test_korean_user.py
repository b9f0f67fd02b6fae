"""Issue 17 in a real browser, as a new user would meet it (Korean and English, desktop and
phone): the home page's search finds a dataset by the place it covers; the dataset page reads
in words (Korean column titles, particles fitted, nothing wider than the screen); a buyer who
already holds a license is sent to it instead of asked to request again. Screenshots go to
var/screenshots/korean-user-*.png."""

import re

import pytest

from tests import factories
from tests.browser.test_journeys import _published_dataset, people  # noqa: F401 - fixture
from tests.transactions.factories import submit
from transactions.models import License

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
BOTH_FORMS = re.compile(r"을\(를\)|를\(을\)|이\(가\)|은\(는\)|와\(과\)|\(으\)로")


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["ko-KR", "en-US"])
def test_a_new_user_finds_by_place_reads_in_words_and_is_sent_to_what_they_hold(
    new_page,
    shot,
    log_in,
    people,  # noqa: F811
    locale,
    size,
):
    dataset = _published_dataset(people)
    page = new_page(**SIZES[size], locale=locale)
    # 1. Search by place: the dataset covers 수원시, and "수원" finds it from the home page.
    page.goto("/")
    page.fill("#home-q", "수원")
    page.press("#home-q", "Enter")
    page.wait_for_load_state()
    assert page.locator(f"a[href='/datasets/{dataset.slug}/']").count() > 0
    shot(page, "korean-user", f"search-{locale[:2]}-{size}")
    # 2. The dataset page in words, fitting the screen.
    page.goto(f"/datasets/{dataset.slug}/")
    text = page.locator("main").inner_text()
    assert not BOTH_FORMS.search(text), BOTH_FORMS.search(text)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the dataset page scrolls sideways by {overflow}px"
    # 3. A buyer holding a license for the offer is sent to it, not asked to request again.
    offer = dataset.offers.get()
    submit(people["analyst"], offer, scope={"fields": ["시군코드", "업종", "금액"]})
    license = License.objects.get()
    log_in(page, people["analyst"].email, factories.PASSWORD)
    page.goto(f"/datasets/{dataset.slug}/")
    held = page.locator(f"#held-{offer.pk}")
    assert held.is_visible()
    assert held.locator(f"a[href='/licenses/{license.pk}/']").count() == 1
    assert page.locator(f"a[href='/datasets/{dataset.slug}/request/{offer.pk}/']").count() == 0
    shot(page, "korean-user", f"holding-{locale[:2]}-{size}")

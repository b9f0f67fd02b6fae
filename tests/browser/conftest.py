"""Browser tests: headless Chromium (the system package) driven by Playwright against
pytest-django's live server. Skipped where Chromium or Playwright is absent — and so failed in
CI, where REQUIRE_SERVICES=1 turns skips into failures."""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (fixtures, assertions) would otherwise refuse to run next to it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """`new_page(width=1280, height=900, locale="ko-KR")` → a page in a fresh context (its
    own cookies) whose relative URLs go to the live server."""
    contexts = []

    def _new(width=1280, height=900, locale="ko-KR"):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}, locale=locale
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # confirm() before destructive actions
        return page

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """`shot(page, "buyer", "dataset")` saves var/screenshots/buyer-dataset.png (a test
    artifact: the key pages of each journey)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, journey: str, step: str) -> Path:
        path = SCREENSHOTS / f"{journey}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


@pytest.fixture
def log_in():
    def _log_in(page, email: str, password: str):
        page.goto("/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", password)
        page.click("main form button[type=submit]")
        page.wait_for_load_state()

    return _log_in

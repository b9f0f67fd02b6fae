"""The pages pass the Content-Security-Policy (issue 15): every main page, for each kind of
user, loads in Chromium with no violation reported (console or `securitypolicyviolation`
event). Inline scripts, event handlers or style attributes would each be one."""

import pytest

from tests import factories
from transactions import services as tx
from transactions.models import License

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = factories.PASSWORD

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


# The violations reported so far, once the tasks queued before this one have run.
SETTLED = "() => new Promise((done) => setTimeout(() => done(window.__csp), 50))"


@pytest.fixture
def scene(db):
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")
    buyer = factories.OrganizationFactory(kind="buyer", name="골목카페", buyer_category="sme")
    operators = factories.OrganizationFactory(kind="operator", name="장터 운영팀", buyer_category="")
    curator = factories.member(center, "curator", "reviewer", "manager", email="curator@center.kr")
    analyst = factories.member(buyer, "analyst", "manager", email="analyst@cafe.kr")
    operator = factories.member(operators, "operator", email="operator@jangteo.kr")
    dataset = factories.published_dataset(
        center, title="경기 카드 결제", slug="card", with_data=True, row_count=50
    )
    offer = factories.OfferFactory(
        dataset=dataset, fields=["sigungu_code", "industry", "amount"], price_krw=10_000
    )
    request = tx.access_request_submit(
        actor=analyst,
        offer=offer,
        scope={"fields": ["sigungu_code", "amount"]},
        purpose="상권 분석",
        purpose_category="research",
        accept_terms=True,
    )
    tx.access_request_approve(actor=curator, access_request=request)
    request.refresh_from_db()
    return {
        "dataset": dataset,
        "offer": offer,
        "request": request,
        "invoice": request.invoice,
        "version": dataset.current_version,
        "curator": curator,
        "analyst": analyst,
        "operator": operator,
        "license": License.objects.filter(access_request=request).first(),
    }


def _pages(s) -> dict[str, list[str]]:
    public = [
        "/",
        "/datasets/",
        f"/datasets/{s['dataset'].slug}/",
        "/signup/",
        "/accounts/login/",
        "/api/docs/",
        "/terms/",
        "/privacy-policy/",
        "/support/",
    ]
    common = ["/requests/", "/invoices/", f"/invoices/{s['invoice'].pk}/", "/notifications/", "/audit/"]
    common += ["/invitations/", "/members/", "/accounts/password_change/", f"/requests/{s['request'].pk}/"]
    return {
        "anonymous": [*public, "/accounts/password_reset/"],
        "analyst": [*common, "/licenses/", f"/datasets/{s['dataset'].slug}/request/{s['offer'].pk}/"],
        "curator": [
            *common,
            "/center/",
            "/center/reviews/",
            "/center/dashboard/",
            f"/center/datasets/{s['dataset'].slug}/",
            f"/center/versions/{s['version'].pk}/",
            f"/center/offers/{s['offer'].pk}/",
            "/center/datasets/new/",
        ],
        "operator": [
            *common,
            "/operator/",
            "/operator/organizations/?status=all",
            "/operator/reviews/",
            "/operator/requests/",
        ],
    }


def test_main_pages_report_no_csp_violation(new_page, log_in, scene):
    problems = []
    for who, paths in _pages(scene).items():
        page = new_page()
        page.add_init_script(WATCH)
        console: list[str] = []
        page.on("console", lambda m, console=console: console.append(m.text))
        if who != "anonymous":
            log_in(page, scene[who].email, PASSWORD)
        for path in paths:
            console.clear()
            # Everything a page loads is in by "load" (its script polls no sooner than 1.5 s
            # later); a violation event still queued then runs before the short wait ends.
            response = page.goto(path, wait_until="load")
            assert response.status == 200, (who, path, response.status)
            assert "content-security-policy" in response.headers, path
            violations = page.evaluate(SETTLED) + [
                text
                for text in console
                if "Content Security Policy" in text or "Content-Security-Policy" in text
            ]
            problems += [f"{who} {path}: {v}" for v in violations]
    assert problems == []

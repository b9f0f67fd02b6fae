import pytest

from transactions.models import AccessRequest, Invoice, License, Notification

pytestmark = pytest.mark.django_db

REQUEST = {
    "columns": ["시군코드", "업종", "카드번호", "금액"],
    "regions": ["41110"],
    "date_from": "2024-01-01",
    "date_to": "2024-03-31",
    "purpose_category": "commercial",
    "purpose": "골목 상권의 업종별 매출 흐름 분석",
    "accept_terms": "on",
}


def _offer(dataset):
    return dataset.offers.get()


def test_buyer_requests_reviewer_narrows_and_buyer_gets_a_license(
    web, as_user, analyst, reviewer, stranger, live_dataset
):
    offer = _offer(live_dataset)
    url = f"/datasets/{live_dataset.slug}/request/{offer.pk}/"
    assert web.get(url).status_code == 302  # anonymous → log in
    buyer = as_user(analyst)
    assert (
        "request-new" not in url
        and f'href="{url}"' in buyer.get(f"/datasets/{live_dataset.slug}/").content.decode()
    )
    form = buyer.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert "연구 목적 외 이용 금지" in html and 'name="regions"' in html and "수원시" in html
    assert as_user(reviewer).get(url).status_code == 404  # not a buyer

    refused = buyer.post(url, {**REQUEST, "accept_terms": "", "purpose": ""})
    assert refused.status_code == 200
    assert (
        "id_accept_terms_error" in refused.content.decode() and "id_purpose_error" in refused.content.decode()
    )

    response = buyer.post(url, REQUEST)
    access_request = AccessRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{access_request.pk}/"
    assert access_request.state == "center_review"
    assert access_request.scope["regions"] == ["41110"] and access_request.scope["date_to"] == "2024-03-31"
    assert f"/requests/{access_request.pk}/" in buyer.get("/requests/").content.decode()
    assert as_user(stranger).get(f"/requests/{access_request.pk}/").status_code == 404

    center = as_user(reviewer)
    queue = center.get("/center/reviews/").content.decode()
    assert f"/requests/{access_request.pk}/" in queue
    detail = center.get(f"/requests/{access_request.pk}/").content.decode()
    assert 'id="approve-form"' in detail and "골목카페" in detail
    assert 'id="approve-form"' not in buyer.get(f"/requests/{access_request.pk}/").content.decode()
    assert buyer.post(f"/requests/{access_request.pk}/approve/", {"columns": ["시군코드"]}).status_code == 403

    center.post(f"/requests/{access_request.pk}/", {"body": "카드번호는 제외하고 승인합니다."})
    response = center.post(
        f"/requests/{access_request.pk}/approve/",
        {
            "columns": ["시군코드", "업종", "금액"],
            "regions": ["41110"],
            "date_from": "2024-01-01",
            "date_to": "2024-03-31",
            "note": "카드번호 제외",
        },
    )
    assert response.status_code == 302
    access_request.refresh_from_db()
    assert access_request.state == "licensed" and access_request.scope["fields"] == [
        "시군코드",
        "업종",
        "금액",
    ]

    page = buyer.get(f"/requests/{access_request.pk}/").content.decode()
    assert "카드번호는 제외하고 승인합니다." in page and "/licenses/" in page
    license = License.objects.get()
    assert buyer.get("/licenses/").status_code == 200
    license_page = buyer.get(f"/licenses/{license.pk}/")
    assert license_page.status_code == 200 and "10 / 10" in license_page.content.decode()
    assert as_user(stranger).get(f"/licenses/{license.pk}/").status_code == 404

    assert Notification.objects.filter(recipient=analyst, read_at__isnull=True).exists()
    notes = buyer.get("/notifications/")
    assert notes.status_code == 200 and 'class="badge-count"' in notes.content.decode()
    buyer.post("/notifications/read-all/")
    assert not Notification.objects.filter(recipient=analyst, read_at__isnull=True).exists()


def test_return_edit_and_resubmit(as_user, analyst, reviewer, live_dataset):
    offer = _offer(live_dataset)
    buyer, center = as_user(analyst), as_user(reviewer)
    buyer.post(f"/datasets/{live_dataset.slug}/request/{offer.pk}/", REQUEST)
    access_request = AccessRequest.objects.get()
    assert buyer.get(f"/requests/{access_request.pk}/edit/").status_code == 302  # not returned yet
    center.post(f"/requests/{access_request.pk}/return/", {"return-message": "목적을 더 자세히 적어 주세요."})
    access_request.refresh_from_db()
    assert access_request.state == "changes_requested"
    edit = buyer.get(f"/requests/{access_request.pk}/edit/")
    assert edit.status_code == 200 and "골목 상권" in edit.content.decode()
    response = buyer.post(
        f"/requests/{access_request.pk}/edit/",
        {
            **REQUEST,
            "accept_terms": "",
            "purpose": "수원시 카페 업종의 월별 매출 분석 (보고서 공개 없음)",
            "resubmit": "1",
        },
    )
    assert response.status_code == 302
    access_request.refresh_from_db()
    assert access_request.state == "center_review" and access_request.purpose.startswith("수원시")
    buyer.post(f"/requests/{access_request.pk}/withdraw/", {"withdraw-reason": "필요 없어짐"})
    access_request.refresh_from_db()
    assert access_request.state == "withdrawn"


def test_operator_second_approval_invoice_and_revocation(as_user, analyst, reviewer, operator, published):
    offer = _offer(published)
    buyer, center, ops = as_user(analyst), as_user(reviewer), as_user(operator)
    response = buyer.post(
        f"/datasets/{published.slug}/request/{offer.pk}/",
        {
            "columns": ["sigungu_code", "amount"],
            "purpose_category": "research",
            "purpose": "연구",
            "accept_terms": "on",
        },
    )
    access_request = AccessRequest.objects.get()
    assert response.status_code == 302
    form = buyer.get(f"/datasets/{published.slug}/request/{offer.pk}/").content.decode()
    assert "1,100,000" in form  # price with VAT shown before submitting
    center.post(f"/requests/{access_request.pk}/approve/", {"columns": ["sigungu_code", "amount"]})
    access_request.refresh_from_db()
    assert access_request.state == "operator_review"
    assert f"/requests/{access_request.pk}/" in ops.get("/operator/reviews/").content.decode()
    assert as_user(reviewer).get("/operator/reviews/").status_code == 404
    ops.post(f"/requests/{access_request.pk}/approve/", {"columns": ["sigungu_code", "amount"]})
    access_request.refresh_from_db()
    assert access_request.state == "awaiting_payment"
    invoice = Invoice.objects.get()
    page = ops.get(f"/invoices/{invoice.pk}/").content.decode()
    assert "1,100,000원" in page and 'id="mark-paid-form"' in page
    assert 'id="mark-paid-form"' not in buyer.get(f"/invoices/{invoice.pk}/").content.decode()
    key = "web-test-key"
    ops.post(
        f"/invoices/{invoice.pk}/", {"reference": "국민은행 2024-05-01 골목카페", "idempotency_key": key}
    )
    ops.post(
        f"/invoices/{invoice.pk}/", {"reference": "국민은행 2024-05-01 골목카페", "idempotency_key": key}
    )
    invoice.refresh_from_db()
    assert invoice.state == "paid" and License.objects.count() == 1
    license = License.objects.get()
    assert ops.post(f"/licenses/{license.pk}/revoke/", {"revoke-reason": ""}).status_code == 302
    license.refresh_from_db()
    assert license.state == "active"  # no reason, no revocation
    ops.post(f"/licenses/{license.pk}/revoke/", {"revoke-reason": "목적 외 이용 확인"})
    license.refresh_from_db()
    assert license.state == "revoked"
    assert ops.get("/operator/requests/").status_code == 200
    assert ops.get("/operator/").status_code == 200


def test_operator_verifies_and_rejects_organizations(as_user, operator, analyst):
    from tests import factories

    pending = factories.OrganizationFactory(kind="buyer", name="새내기 상점", verification="pending")
    other = factories.OrganizationFactory(kind="buyer", name="수상한 상점", verification="pending")
    ops = as_user(operator)
    assert as_user(analyst).get("/operator/organizations/").status_code == 404
    page = ops.get("/operator/organizations/").content.decode()
    assert "새내기 상점" in page and "수상한 상점" in page
    ops.post(f"/operator/organizations/{pending.pk}/verify/")
    ops.post(f"/operator/organizations/{other.pk}/reject/", {"reason": ""})
    ops.post(f"/operator/organizations/{other.pk}/reject/", {"reason": "사업자등록번호가 폐업 상태입니다."})
    pending.refresh_from_db()
    other.refresh_from_db()
    assert pending.verification == "verified" and other.verification == "rejected"
    assert f'id="org-{pending.pk}"' not in ops.get("/operator/organizations/").content.decode()


def test_audit_log_dashboard_and_lists_render(as_user, operator, curator, analyst, live_dataset):
    ops = as_user(operator)
    audit = ops.get("/audit/", {"verb": "catalog."})
    assert audit.status_code == 200
    html = audit.content.decode()
    assert "catalog.version.published" in html and "/api/v1/audit/?verb=catalog.&amp;format=csv" in html
    csv = ops.get("/api/v1/audit/", {"format": "csv", "verb": "catalog."})
    assert csv.status_code == 200 and "catalog.offer.created" in b"".join(csv.streaming_content).decode()
    dashboard = as_user(curator).get("/center/dashboard/")
    assert dashboard.status_code == 200 and "<svg" in dashboard.content.decode()
    assert as_user(analyst).get("/center/dashboard/").status_code == 404
    for url in ("/invoices/", "/licenses/", "/requests/", "/notifications/", "/audit/"):
        assert as_user(analyst).get(url).status_code == 200, url

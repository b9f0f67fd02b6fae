import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Dataset, Offer
from tests import factories
from tests.transactions.factories import request_in_state, submit
from transactions import services
from transactions.models import AccessRequest, License, Notification, RequestEvent

State = AccessRequest.State
pytestmark = pytest.mark.django_db


def body_for(offer, **changes):
    return {
        "offer": offer.pk,
        "fields": ["sigungu_code", "amount"],
        "regions": ["41110"],
        "date_from": "2025-01-01",
        "date_to": "2025-06-30",
        "purpose": "골목상권 매출 추이 분석",
        "purpose_category": "commercial",
        "accept_terms": True,
        **changes,
    }


def test_submit_returns_the_request(world, login):
    offer = world.offer()
    response = login(world.buyer_analyst).post("/api/v1/requests/", body_for(offer), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {
        "id",
        "state",
        "offer",
        "scope",
        "requested_scope",
        "narrowed",
        "purpose",
        "purpose_category",
        "organization",
        "requester",
        "history",
        "license",
        "invoice",
        "created_at",
        "updated_at",
    } <= set(body)
    assert body["state"] == "center_review"
    assert body["offer"] == offer.pk
    assert body["scope"] == {
        "fields": ["sigungu_code", "amount"],
        "regions": ["41110"],
        "date_from": "2025-01-01",
        "date_to": "2025-06-30",
    }
    assert body["narrowed"] == {}
    assert body["organization"]["id"] == world.buyer.pk
    assert body["requester"]["email"] == world.buyer_analyst.email
    assert body["terms_version"] == 1 and body["terms_sha256"] == offer.current_terms.sha256
    assert [(h["action"], h["to_state"]) for h in body["history"]] == [
        ("submitted", "submitted"),
        ("queued", "center_review"),
    ]
    assert body["history"][0]["actor"] == world.buyer_analyst.email
    assert body["license"] is None and body["invoice"] is None
    assert body["created_at"].endswith("+09:00")
    assert body["review_deadline"] is not None


def test_identity_cannot_be_spoofed(world, login):
    offer = world.offer()
    client = login(world.buyer_analyst)
    # Another organization: refused.
    refused = client.post(
        "/api/v1/requests/", body_for(offer, organization=world.other_buyer_org.pk), format="json"
    )
    assert refused.status_code == 403
    assert AccessRequest.objects.count() == 0
    # A posted requester is ignored: the requester is the caller.
    created = client.post(
        "/api/v1/requests/",
        body_for(offer, requester=world.other_buyer.pk, requester_email=world.other_buyer.email),
        format="json",
    )
    assert created.status_code == 201
    request = AccessRequest.objects.get()
    assert (request.requester, request.organization) == (world.buyer_analyst, world.buyer)


@pytest.mark.parametrize(
    "changes, fields",
    [
        ({"fields": ["amount", "holder_name", "phone"]}, {"fields"}),
        ({"regions": ["x" * 101]}, {"regions"}),
        ({"date_from": "2025-07-01", "date_to": "2025-01-01"}, {"date_to"}),
        ({"date_from": "not a date"}, {"date_from"}),
        ({"purpose_category": "fun"}, {"purpose_category"}),
        ({"accept_terms": False}, {"accept_terms"}),
        ({"purpose": ""}, {"purpose"}),
    ],
)
def test_invalid_requests_get_per_field_errors(world, login, changes, fields):
    response = login(world.buyer_analyst).post(
        "/api/v1/requests/", body_for(world.offer(), **changes), format="json"
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert response.json()["detail"]


def test_offer_errors(world, login):
    client = login(world.buyer_analyst)
    draft = world.offer()
    Dataset.objects.filter(pk=draft.dataset_id).update(status=Dataset.Status.DRAFT)
    assert client.post("/api/v1/requests/", body_for(draft), format="json").status_code == 404
    assert (
        client.post("/api/v1/requests/", {**body_for(draft), "offer": 999_999}, format="json").status_code
        == 404
    )
    closed = world.offer(is_active=False)
    response = client.post("/api/v1/requests/", body_for(closed), format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "This offer is closed for new requests."


def test_a_second_open_request_gets_a_clear_message(world, login):
    offer = world.offer()
    first = login(world.buyer_analyst).post("/api/v1/requests/", body_for(offer), format="json").json()
    response = login(world.buyer_manager).post("/api/v1/requests/", body_for(offer), format="json")
    assert response.status_code == 409
    assert f"already has an open request (#{first['id']})" in response.json()["detail"]


def test_eligibility_messages(world, login):
    unverified = login(world.unverified_buyer_member).post(
        "/api/v1/requests/", body_for(world.offer()), format="json"
    )
    assert unverified.status_code == 403
    assert "not verified" in unverified.json()["detail"]
    research_only = world.offer(buyer_categories=["research"])
    response = login(world.buyer_analyst).post("/api/v1/requests/", body_for(research_only), format="json")
    assert response.status_code == 403
    assert "Research institution" in response.json()["detail"]


def test_narrowing_is_shown_to_the_buyer(world, login):
    request = submit(
        world.buyer_analyst,
        world.offer(),
        scope={"fields": ["sigungu_code", "industry", "amount"], "regions": ["41110", "41130"]},
    )
    approved = login(world.center_reviewer).post(
        f"/api/v1/requests/{request.pk}/approve/",
        {"fields": ["sigungu_code", "amount"], "regions": ["41110"], "note": "업종 제외"},
        format="json",
    )
    assert approved.status_code == 200, approved.content
    body = login(world.buyer_analyst).get(f"/api/v1/requests/{request.pk}/").json()
    assert body["state"] == "licensed"
    assert body["requested_scope"]["fields"] == ["sigungu_code", "industry", "amount"]
    assert body["scope"]["fields"] == ["sigungu_code", "amount"]
    assert body["narrowed"]["fields"]["removed"] == ["industry"]
    assert body["narrowed"]["regions"] == {"requested": ["41110", "41130"], "approved": ["41110"]}
    step = body["history"][-1]
    assert (step["action"], step["note"], step["organization"]["id"]) == (
        "approved",
        "업종 제외",
        world.center.pk,
    )
    assert step["narrowed"]["fields"]["removed"] == ["industry"]
    assert body["license"] == License.objects.get(access_request=request).pk


def test_widening_on_approval_is_a_400(world, login):
    request = submit(world.buyer_analyst, world.offer(), scope={"fields": ["amount"]})
    response = login(world.center_reviewer).post(
        f"/api/v1/requests/{request.pk}/approve/", {"fields": ["amount", "industry"]}, format="json"
    )
    assert response.status_code == 400
    assert "fields" in response.json()["errors"]


def test_rejected_requests_keep_their_history(world, login):
    request = submit(world.buyer_analyst, world.offer())
    reject = login(world.center_reviewer).post(
        f"/api/v1/requests/{request.pk}/reject/", {"reason": ""}, format="json"
    )
    assert reject.status_code == 400
    login(world.center_reviewer).post(
        f"/api/v1/requests/{request.pk}/reject/", {"reason": "목적 불충분"}, format="json"
    )
    client = login(world.buyer_analyst)
    listed = client.get("/api/v1/requests/?state=rejected").json()
    assert [r["id"] for r in listed["results"]] == [request.pk]
    body = client.get(f"/api/v1/requests/{request.pk}/").json()
    assert body["state"] == "rejected"
    assert body["history"][-1]["note"] == "목적 불충분"
    assert body["history"][-1]["actor"] == world.center_reviewer.email
    # Acting on it again: 409 with a sentence.
    again = login(world.center_reviewer).post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert again.status_code == 409
    assert "rejected" in again.json()["detail"]


def test_return_edit_resubmit_over_the_api(world, login):
    request = submit(world.buyer_analyst, world.offer())
    returned = login(world.center_reviewer).post(
        f"/api/v1/requests/{request.pk}/return/", {"message": "기간을 줄여 주세요"}, format="json"
    )
    assert returned.json()["state"] == "changes_requested"
    client = login(world.buyer_analyst)
    thread = client.get(f"/api/v1/requests/{request.pk}/messages/").json()
    assert [m["body"] for m in thread["results"]] == ["기간을 줄여 주세요"]
    assert thread["results"][0]["organization"]["id"] == world.center.pk
    edited = client.patch(
        f"/api/v1/requests/{request.pk}/", {"date_from": "2025-01-01", "date_to": "2025-01-31"}, format="json"
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["requested_scope"]["date_to"] == "2025-01-31"
    posted = client.post(f"/api/v1/requests/{request.pk}/messages/", {"body": "수정했습니다"}, format="json")
    assert posted.status_code == 201
    assert posted.json()["author"]["email"] == world.buyer_analyst.email
    resubmitted = client.post(f"/api/v1/requests/{request.pk}/resubmit/", {}, format="json")
    assert resubmitted.json()["state"] == "center_review"
    assert client.patch(f"/api/v1/requests/{request.pk}/", {"purpose": "x"}, format="json").status_code == 409


def test_withdraw_over_the_api(world, login):
    request = submit(world.buyer_analyst, world.offer())
    response = login(world.buyer_manager).post(f"/api/v1/requests/{request.pk}/withdraw/", {}, format="json")
    assert response.json()["state"] == "withdrawn"
    assert login(world.center_reviewer).post(f"/api/v1/requests/{request.pk}/approve/").status_code == 409


def test_operator_review_and_priced_approval(world, login):
    request = submit(
        world.buyer_analyst, world.offer(approval=Offer.Approval.CENTER_OPERATOR, price_krw=30_000)
    )
    assert login(world.center_manager).post(f"/api/v1/requests/{request.pk}/approve/").json()["state"] == (
        "operator_review"
    )
    body = login(world.operator).post(f"/api/v1/requests/{request.pk}/approve/").json()
    assert body["state"] == "awaiting_payment"
    assert body["invoice"] == AccessRequest.objects.get(pk=request.pk).invoice.pk


def test_lists_are_filtered_by_party(world, login):
    mine = submit(world.buyer_analyst, world.offer())
    theirs = submit(world.other_buyer, world.offer())
    elsewhere_center = factories.published_dataset(world.other_center)
    elsewhere = submit(world.buyer_analyst, world.offer(dataset=elsewhere_center))

    def ids(user, query=""):
        return {r["id"] for r in login(user).get(f"/api/v1/requests/{query}").json()["results"]}

    assert ids(world.buyer_manager) == {mine.pk, elsewhere.pk}
    assert ids(world.other_buyer) == {theirs.pk}
    assert ids(world.center_curator) == {mine.pk, theirs.pk}
    assert ids(world.other_center_curator) == {elsewhere.pk}
    assert ids(world.operator) == {mine.pk, theirs.pk, elsewhere.pk}
    assert ids(world.unverified_buyer_member) == set()
    assert ids(world.operator, f"?organization={world.other_buyer_org.pk}") == {theirs.pk}
    assert ids(world.operator, f"?dataset={elsewhere_center.slug}") == {elsewhere.pk}
    assert ids(world.operator, "?state=center_review&state=licensed") == {mine.pk, theirs.pk, elsewhere.pk}


def _many_requests(world, n: int) -> None:
    """`n` finished requests with history, a license and an invoice each, written directly."""
    offer = world.offer(price_krw=1000)
    template = request_in_state(world, State.AWAITING_PAYMENT, price_krw=1000)
    services.invoice_mark_paid(actor=world.operator, invoice=template.invoice, reference="KB-1")
    for _ in range(n - 1):
        clone = AccessRequest.objects.create(
            offer=offer,
            organization=world.buyer,
            requester=world.buyer_analyst,
            state=State.REJECTED,
            state_changed_at=template.state_changed_at,
            scope=template.scope,
            requested_scope=template.scope,
            purpose="p",
            purpose_category="statistics",
            terms=offer.current_terms,
            terms_sha256=offer.current_terms.sha256,
            terms_accepted_at=template.terms_accepted_at,
        )
        RequestEvent.objects.bulk_create(
            [
                RequestEvent(
                    access_request=clone,
                    action="submitted",
                    to_state="submitted",
                    actor_label="x",
                    actor_organization=world.buyer,
                ),
                RequestEvent(
                    access_request=clone,
                    action="rejected",
                    from_state="center_review",
                    to_state="rejected",
                    actor_label="y",
                    actor_organization=world.center,
                ),
            ]
        )


def test_the_list_takes_the_same_queries_for_5_or_50_requests(world, login, django_assert_max_num_queries):
    _many_requests(world, 55)
    client = login(world.buyer_analyst)
    counts = {}
    for size in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/requests/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts[size] = len(queries)
    assert counts[5] == counts[50], counts
    with django_assert_max_num_queries(8):
        client.get("/api/v1/requests/?page_size=50")


def test_reviewers_are_notified_and_read_their_notifications(world, login):
    submit(world.buyer_analyst, world.offer())
    client = login(world.center_reviewer)
    listed = client.get("/api/v1/notifications/").json()
    assert listed["unread"] == 1 and listed["count"] == 1
    [item] = listed["results"]
    assert item["verb"] == "request_submitted"
    assert item["title"].startswith("New request #")
    assert item["read"] is False and item["request"] is not None
    read = client.post(f"/api/v1/notifications/{item['id']}/read/")
    assert read.json()["read"] is True
    assert client.get("/api/v1/notifications/").json()["unread"] == 0

    buyer = login(world.buyer_analyst)
    assert buyer.get("/api/v1/notifications/").json()["unread"] == 1  # the confirmation
    assert buyer.get(f"/api/v1/notifications/{item['id']}/").status_code == 404
    assert buyer.post("/api/v1/notifications/read-all/").json() == {"unread": 0}
    assert Notification.objects.filter(read_at__isnull=True).count() == 2  # the managers'


def test_notifications_are_rendered_in_the_readers_language(world, login):
    submit(world.buyer_analyst, world.offer())
    client = login(world.center_reviewer)
    english = client.get("/api/v1/notifications/").json()["results"][0]["title"]
    korean = client.get("/api/v1/notifications/", HTTP_ACCEPT_LANGUAGE="ko").json()["results"][0]["title"]
    assert english.startswith("New request #")
    assert korean  # rendered from the catalog (same as English until the translation lands)


def test_services_and_api_agree_on_history(world, login):
    request = request_in_state(world, State.LAPSED)
    body = login(world.center_manager).get(f"/api/v1/requests/{request.pk}/").json()
    assert body["history"][-1]["action"] == "lapsed"
    assert body["history"][-1]["actor"] == "system"
    assert body["review_deadline"] is None

"""A reviewer's and a buyer's one-text decisions on a request page (reject, return, withdraw):
an invalid form goes back with a message and changes nothing; a valid one calls the service,
says so and returns to the request."""

import pytest
from django.contrib.messages import get_messages

from tests.web.test_workflow_pages import REQUEST
from transactions.models import AccessRequest, RequestEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(as_user, analyst, live_dataset):
    offer = live_dataset.offers.get()
    as_user(analyst, "en").post(f"/datasets/{live_dataset.slug}/request/{offer.pk}/", REQUEST)
    access_request = AccessRequest.objects.get()
    assert access_request.state == "center_review"
    return access_request


def _post(client, url, data):
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"].endswith(url.rsplit("/", 2)[0] + "/")
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("action", "field", "refusal"),
    [
        ("reject", "reject-reason", "Give a reason so the buyer knows why."),
        ("return", "return-message", "Say what the buyer should change."),
    ],
)
def test_a_decision_without_its_text_goes_back_with_a_message(
    as_user, reviewer, pending, action, field, refusal
):
    said = _post(as_user(reviewer, "en"), f"/requests/{pending.pk}/{action}/", {field: "  "})
    assert said == [("error", refusal)]
    pending.refresh_from_db()
    assert pending.state == "center_review"


@pytest.mark.parametrize(
    ("action", "field", "state", "done"),
    [
        ("reject", "reject-reason", "rejected", "The request is rejected."),
        (
            "return",
            "return-message",
            "changes_requested",
            "The request is returned to the buyer for changes.",
        ),
    ],
)
def test_a_decision_with_its_text_is_made_and_said(as_user, reviewer, pending, action, field, state, done):
    said = _post(
        as_user(reviewer, "en"), f"/requests/{pending.pk}/{action}/", {field: "목적이 불분명합니다."}
    )
    assert said == [("success", done)]
    pending.refresh_from_db()
    assert pending.state == state
    assert pending.events.order_by("pk").last().note == "목적이 불분명합니다."


@pytest.mark.parametrize("reason", ["", "필요 없어짐"])
def test_a_withdrawal_takes_an_optional_reason(as_user, analyst, pending, reason):
    said = _post(as_user(analyst, "en"), f"/requests/{pending.pk}/withdraw/", {"withdraw-reason": reason})
    assert said == [("success", "The request is withdrawn.")]
    pending.refresh_from_db()
    assert pending.state == "withdrawn"
    assert RequestEvent.objects.filter(access_request=pending).order_by("pk").last().note == reason


def test_a_decision_the_actor_may_not_make_is_refused(as_user, analyst, pending):
    response = as_user(analyst, "en").post(f"/requests/{pending.pk}/reject/", {"reject-reason": "x"})
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.state == "center_review"

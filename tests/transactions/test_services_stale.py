"""A service given a stale instance (its row has moved on in the database) decides on the
locked, fresh row: nothing changes that the fresh row's state and rules would not allow."""

import pytest

from marketplace import errors
from tests.transactions.factories import request_in_state
from transactions import services
from transactions.models import AccessRequest, RequestEvent

pytestmark = pytest.mark.django_db

State = AccessRequest.State
REFUSED = (errors.InvalidState, errors.PermissionDenied)


def _history(request) -> list:
    return list(RequestEvent.objects.filter(access_request=request).values_list("pk", flat=True))


def _moved_on(request, state):
    fresh = AccessRequest.objects.get(pk=request.pk)
    assert fresh.state == state
    return fresh


def test_a_center_reviewer_cannot_decide_the_operator_stage_with_a_stale_center_review(world):
    stale = request_in_state(world, State.CENTER_REVIEW, approval="center_operator")
    services.access_request_approve(
        actor=world.center_manager, access_request=AccessRequest.objects.get(pk=stale.pk)
    )
    _moved_on(stale, State.OPERATOR_REVIEW)
    history = _history(stale)

    with pytest.raises(REFUSED):
        services.access_request_reject(actor=world.center_reviewer, access_request=stale, reason="x")
    with pytest.raises(REFUSED):
        services.access_request_return(actor=world.center_reviewer, access_request=stale, message="x")
    # Approving a stage someone has just approved returns quietly, and changes nothing.
    services.access_request_approve(actor=world.center_reviewer, access_request=stale)

    assert _moved_on(stale, State.OPERATOR_REVIEW) and _history(stale) == history


def test_an_operator_cannot_decide_the_center_stage_with_a_stale_operator_review(world):
    stale = request_in_state(world, State.OPERATOR_REVIEW)
    services.access_request_return(
        actor=world.operator,
        access_request=AccessRequest.objects.get(pk=stale.pk),
        message="기간을 줄여 주세요.",
    )
    services.access_request_resubmit(
        actor=world.buyer_analyst, access_request=AccessRequest.objects.get(pk=stale.pk)
    )
    _moved_on(stale, State.CENTER_REVIEW)
    history = _history(stale)

    with pytest.raises(REFUSED):
        services.access_request_approve(actor=world.operator, access_request=stale)
    with pytest.raises(REFUSED):
        services.access_request_reject(actor=world.operator, access_request=stale, reason="x")
    with pytest.raises(REFUSED):
        services.access_request_return(actor=world.operator, access_request=stale, message="x")

    assert _moved_on(stale, State.CENTER_REVIEW) and _history(stale) == history


def test_a_buyer_cannot_withdraw_a_request_closed_meanwhile(world):
    stale = request_in_state(world, State.CENTER_REVIEW)
    services.access_request_reject(
        actor=world.center_reviewer, access_request=AccessRequest.objects.get(pk=stale.pk), reason="x"
    )
    history = _history(stale)

    with pytest.raises(errors.InvalidState):
        services.access_request_withdraw(actor=world.buyer_analyst, access_request=stale)

    assert _moved_on(stale, State.REJECTED) and _history(stale) == history

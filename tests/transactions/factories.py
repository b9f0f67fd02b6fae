"""Factories for the transactions tests: a cast of actors around one center and one buyer,
and requests driven into each state through the real services."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import Organization, User
from catalog.models import Offer
from marketplace.actors import SYSTEM
from tests import factories
from transactions import services
from transactions.models import AccessRequest

State = AccessRequest.State

DEFAULT_SCOPE = {
    "fields": ["sigungu_code", "industry", "amount"],
    "regions": [],
    "date_from": None,
    "date_to": None,
}

# Every kind of caller the authorization matrix is run with.
ACTORS = [
    "anonymous",
    "unverified_buyer_member",
    "other_buyer",
    "buyer_analyst",
    "buyer_manager",
    "other_center_curator",
    "center_curator",
    "center_reviewer",
    "center_manager",
    "operator",
]


@dataclass
class World:
    operator_org: Organization
    center: Organization
    other_center: Organization
    buyer: Organization
    other_buyer_org: Organization
    unverified_buyer: Organization
    operator: User
    buyer_analyst: User
    buyer_manager: User
    center_curator: User
    center_reviewer: User
    center_manager: User
    other_center_curator: User
    other_buyer: User
    unverified_buyer_member: User

    def actor(self, name: str) -> User | None:
        return None if name == "anonymous" else getattr(self, name)

    def offer(self, **kwargs) -> Offer:
        """An offer of the center on a newly published dataset (free, center review)."""
        dataset = kwargs.pop("dataset", None) or factories.published_dataset(self.center)
        return factories.OfferFactory(dataset=dataset, **kwargs)


def make_world(operator_org, operator, center, buyer) -> World:
    other_center = factories.OrganizationFactory(kind="center", name="다른 센터", buyer_category="")
    other_buyer_org = factories.OrganizationFactory(
        kind="buyer", name="다른 구매자", buyer_category="research"
    )
    unverified = factories.OrganizationFactory(
        kind="buyer", name="미인증 상점", verification="pending", verified_at=None
    )
    return World(
        operator_org=operator_org,
        center=center,
        other_center=other_center,
        buyer=buyer,
        other_buyer_org=other_buyer_org,
        unverified_buyer=unverified,
        operator=operator,
        buyer_analyst=factories.member(buyer, "analyst", email="analyst@cafe.kr", name="분석가"),
        buyer_manager=factories.member(buyer, "manager", email="manager@cafe.kr"),
        center_curator=factories.member(center, "curator", email="curator@center.kr"),
        center_reviewer=factories.member(center, "reviewer", email="reviewer@center.kr"),
        center_manager=factories.member(center, "manager", email="manager@center.kr"),
        other_center_curator=factories.member(other_center, "curator", email="curator@other-center.kr"),
        other_buyer=factories.member(other_buyer_org, "analyst", email="analyst@other-buyer.kr"),
        unverified_buyer_member=factories.member(unverified, "manager", email="owner@unverified.kr"),
    )


def submit(actor, offer: Offer, **overrides) -> AccessRequest:
    values = {
        "scope": dict(DEFAULT_SCOPE),
        "purpose": "골목상권 매출 분석",
        "purpose_category": "statistics",
        "accept_terms": True,
    }
    values.update(overrides)
    return services.access_request_submit(actor=actor, offer=offer, **values)


OFFER_FOR_STATE = {
    State.CENTER_REVIEW: {},
    State.OPERATOR_REVIEW: {"approval": Offer.Approval.CENTER_OPERATOR},
    State.AWAITING_PAYMENT: {"price_krw": 100_000},
    State.LICENSED: {},
    State.CHANGES_REQUESTED: {},
    State.REJECTED: {},
    State.WITHDRAWN: {},
    State.LAPSED: {},
}


def request_in_state(world: World, state: str, **offer_kwargs) -> AccessRequest:
    """A request by the buyer's analyst brought to `state` through the services."""
    offer = world.offer(**{**OFFER_FOR_STATE[state], **offer_kwargs})
    request = submit(world.buyer_analyst, offer)
    assert request.state == State.CENTER_REVIEW
    if state in (State.OPERATOR_REVIEW, State.AWAITING_PAYMENT, State.LICENSED):
        request = services.access_request_approve(actor=world.center_reviewer, access_request=request)
    elif state == State.CHANGES_REQUESTED:
        request = services.access_request_return(
            actor=world.center_reviewer, access_request=request, message="기간을 줄여 주세요."
        )
    elif state == State.REJECTED:
        request = services.access_request_reject(
            actor=world.center_reviewer, access_request=request, reason="목적이 불분명합니다."
        )
    elif state == State.WITHDRAWN:
        request = services.access_request_withdraw(actor=world.buyer_analyst, access_request=request)
    elif state == State.LAPSED:
        backdate(request, days=31)
        request = services.access_request_lapse(actor=SYSTEM, access_request=request)
    request = AccessRequest.objects.get(pk=request.pk)
    assert request.state == state, (request.state, state)
    return request


def backdate(request: AccessRequest, *, days: int) -> None:
    moment = timezone.now() - datetime.timedelta(days=days)
    AccessRequest.objects.filter(pk=request.pk).update(state_changed_at=moment)
    request.state_changed_at = moment

import datetime

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from catalog.models import Dataset, LicenseTerms, Offer
from marketplace import errors
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests import factories
from tests.transactions.factories import DEFAULT_SCOPE, backdate, request_in_state, submit
from transactions import services, tasks
from transactions.models import (
    AccessRequest,
    Invoice,
    License,
    Notification,
    RequestEvent,
    RequestMessage,
)

State = AccessRequest.State
pytestmark = pytest.mark.django_db


def recipients(verb: str) -> set[str]:
    return set(Notification.objects.filter(verb=verb).values_list("recipient__email", flat=True))


def history(request) -> list[tuple[str, str, str]]:
    return list(
        RequestEvent.objects.filter(access_request=request)
        .order_by("id")
        .values_list("action", "from_state", "to_state")
    )


# --- submit ---------------------------------------------------------------------------------


def test_submit_takes_identity_from_the_account_and_goes_to_center_review(
    world, django_capture_on_commit_callbacks
):
    offer = world.offer()
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_analyst, offer)

    request.refresh_from_db()
    assert request.state == State.CENTER_REVIEW
    assert request.requester == world.buyer_analyst
    assert request.organization == world.buyer
    assert request.scope == request.requested_scope == {**DEFAULT_SCOPE}
    assert request.terms == offer.current_terms
    assert request.terms_sha256 == offer.current_terms.sha256
    assert history(request) == [("submitted", "", "submitted"), ("queued", "submitted", "center_review")]

    events = AuditEvent.objects.filter(target_type="transactions.accessrequest", target_id=str(request.pk))
    assert {e.verb for e in events} == {
        "transactions.access_request.submitted",
        "transactions.access_request.queued",
    }
    assert all(e.organization == world.buyer and e.other_organization == world.center for e in events)

    # A confirmation for the buyer (the requester too); the deciders at the center are told.
    assert recipients("request_received") == {world.buyer_analyst.email, world.buyer_manager.email}
    assert recipients("request_submitted") == {world.center_reviewer.email, world.center_manager.email}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [
            world.buyer_analyst.email,
            world.buyer_manager.email,
            world.center_reviewer.email,
            world.center_manager.email,
        ]
    )
    assert all(f"#{request.pk}" in m.subject for m in mail.outbox)


def test_automatic_free_offer_is_licensed_at_once(world, django_capture_on_commit_callbacks):
    offer = world.offer(approval=Offer.Approval.AUTOMATIC)
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_manager, offer)
    request.refresh_from_db()
    assert request.state == State.LICENSED
    assert history(request) == [("submitted", "", "submitted"), ("approved", "submitted", "licensed")]
    assert RequestEvent.objects.get(access_request=request, action="approved").actor_label == "system"
    license = License.objects.get(access_request=request)
    assert license.state == License.State.ACTIVE
    assert recipients("license_issued") == {
        world.buyer_analyst.email,
        world.buyer_manager.email,
        world.center_reviewer.email,
        world.center_manager.email,
    }


def test_automatic_priced_offer_awaits_payment_with_an_invoice(world):
    offer = world.offer(approval=Offer.Approval.AUTOMATIC, price_krw=50_000)
    request = submit(world.buyer_analyst, offer)
    request.refresh_from_db()
    assert request.state == State.AWAITING_PAYMENT
    assert request.invoice.total_krw == 55_000
    assert not License.objects.filter(access_request=request).exists()


def test_center_then_operator_review(world):
    offer = world.offer(approval=Offer.Approval.CENTER_OPERATOR)
    request = submit(world.buyer_analyst, offer)
    request = services.access_request_approve(actor=world.center_reviewer, access_request=request)
    assert request.state == State.OPERATOR_REVIEW
    assert recipients("request_awaits_operator") == {world.operator.email}
    assert recipients("request_center_approved") == {world.buyer_analyst.email, world.buyer_manager.email}
    # The center cannot decide the operator's stage.
    with pytest.raises(errors.PermissionDenied):
        services.access_request_approve(actor=world.center_manager, access_request=request)
    request = services.access_request_approve(actor=world.operator, access_request=request, note="확인")
    assert request.state == State.LICENSED
    assert [a for a, _f, _t in history(request)] == ["submitted", "queued", "approved", "approved"]


# --- eligibility ----------------------------------------------------------------------------


def test_unverified_organizations_cannot_request(world):
    with pytest.raises(errors.PermissionDenied) as exc:
        submit(world.unverified_buyer_member, world.offer())
    assert "not verified" in exc.value.message
    assert AccessRequest.objects.count() == 0


def test_buyer_categories_limit_who_may_request(world):
    offer = world.offer(buyer_categories=["research", "public"])
    with pytest.raises(errors.PermissionDenied) as exc:
        submit(world.buyer_analyst, offer)  # an SME
    assert "open to" in exc.value.message and world.buyer.name in exc.value.message
    assert submit(world.other_buyer, offer).state == State.CENTER_REVIEW  # research


def test_an_empty_category_list_admits_every_buyer(world):
    offer = world.offer(buyer_categories=[])
    assert submit(world.buyer_analyst, offer).state == State.CENTER_REVIEW
    assert submit(world.other_buyer, offer).state == State.CENTER_REVIEW


def test_one_open_request_per_organization_and_offer(world):
    offer = world.offer()
    first = submit(world.buyer_analyst, offer)
    with pytest.raises(errors.InvalidState) as exc:
        submit(world.buyer_manager, offer)  # a colleague, same organization
    assert f"#{first.pk}" in exc.value.message and exc.value.status_code == 409
    # Another organization may; and once the first request ends, a new one may be sent.
    submit(world.other_buyer, offer)
    services.access_request_withdraw(actor=world.buyer_analyst, access_request=first)
    assert submit(world.buyer_manager, offer).state == State.CENTER_REVIEW


def test_only_buyer_analysts_and_managers_submit(world):
    offer = world.offer()
    for actor in (world.center_reviewer, world.center_manager, world.operator, world.other_center_curator):
        with pytest.raises(errors.PermissionDenied):
            submit(actor, offer)


def test_the_organization_must_be_one_of_the_requesters(world):
    offer = world.offer()
    with pytest.raises(errors.PermissionDenied):
        submit(world.buyer_analyst, offer, organization=world.other_buyer_org.pk)
    with pytest.raises(errors.PermissionDenied):
        submit(world.buyer_analyst, offer, organization=world.other_buyer_org)
    with pytest.raises(errors.PermissionDenied):
        submit(world.buyer_analyst, offer, organization=999_999)
    assert AccessRequest.objects.count() == 0


def test_a_member_of_two_buyer_organizations_chooses(world):
    factories.MembershipFactory(user=world.buyer_analyst, organization=world.other_buyer_org, role="manager")
    offer = world.offer()
    with pytest.raises(errors.ApplicationError) as exc:
        submit(world.buyer_analyst, offer)
    assert "organization" in exc.value.errors
    request = submit(world.buyer_analyst, offer, organization=world.other_buyer_org.pk)
    assert request.organization == world.other_buyer_org


def test_offers_on_unpublished_datasets_are_not_found_and_closed_offers_refuse(world):
    offer = world.offer()
    Dataset.objects.filter(pk=offer.dataset_id).update(status=Dataset.Status.RETIRED)
    offer.dataset.refresh_from_db()
    with pytest.raises(errors.NotFound):
        submit(world.buyer_analyst, offer)
    closed = world.offer(is_active=False)
    with pytest.raises(errors.InvalidState):
        submit(world.buyer_analyst, closed)


def test_terms_must_be_accepted(world):
    with pytest.raises(errors.ApplicationError) as exc:
        submit(world.buyer_analyst, world.offer(), accept_terms=False)
    assert "accept_terms" in exc.value.errors


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"purpose": "  "}, "purpose"),
        ({"purpose_category": "gossip"}, "purpose_category"),
        ({"scope": {"fields": ["holder_name"]}}, "fields"),
        ({"scope": {"fields": ["amount"], "date_from": "2025-02-30"}}, "date_from"),
    ],
)
def test_invalid_input_is_reported_per_field_and_creates_nothing(world, changes, field):
    with pytest.raises(errors.ApplicationError) as exc:
        submit(world.buyer_analyst, world.offer(), **changes)
    assert field in exc.value.errors
    assert AccessRequest.objects.count() == 0
    assert AuditEvent.objects.filter(verb__startswith="transactions.").count() == 0


def test_regions_are_checked_against_the_profiled_values(world):
    dataset = factories.published_dataset(world.center)
    dataset.current_version.fields.filter(name="sigungu_code").update(profile={"values": ["41110", "41130"]})
    offer = world.offer(dataset=dataset)
    with pytest.raises(errors.ApplicationError) as exc:
        submit(world.buyer_analyst, offer, scope={"fields": ["amount"], "regions": ["41110", "99999"]})
    assert "99999" in exc.value.errors["regions"][0]
    assert submit(world.buyer_analyst, offer, scope={"fields": ["amount"], "regions": ["41130"]}).scope[
        "regions"
    ] == ["41130"]


# --- every allowed and every forbidden transition -------------------------------------------

STATES = [
    State.CENTER_REVIEW,
    State.OPERATOR_REVIEW,
    State.AWAITING_PAYMENT,
    State.LICENSED,
    State.CHANGES_REQUESTED,
    State.REJECTED,
    State.WITHDRAWN,
    State.LAPSED,
]

# action → {state it starts from: the state it ends in}. Starting from the end state itself is
# a quiet no-op; any other start is refused with InvalidState (409).
ALLOWED = {
    "approve": {State.CENTER_REVIEW: State.LICENSED, State.OPERATOR_REVIEW: State.LICENSED},
    "reject": {State.CENTER_REVIEW: State.REJECTED, State.OPERATOR_REVIEW: State.REJECTED},
    "return": {State.CENTER_REVIEW: State.CHANGES_REQUESTED, State.OPERATOR_REVIEW: State.CHANGES_REQUESTED},
    "withdraw": {
        State.CENTER_REVIEW: State.WITHDRAWN,
        State.OPERATOR_REVIEW: State.WITHDRAWN,
        State.AWAITING_PAYMENT: State.WITHDRAWN,
        State.CHANGES_REQUESTED: State.WITHDRAWN,
    },
    "resubmit": {State.CHANGES_REQUESTED: State.CENTER_REVIEW},
    "update": {State.CHANGES_REQUESTED: State.CHANGES_REQUESTED},
    "lapse": {State.CENTER_REVIEW: State.LAPSED, State.OPERATOR_REVIEW: State.LAPSED},
}
QUIET = {
    "reject": {State.REJECTED},
    "return": {State.CHANGES_REQUESTED},
    "withdraw": {State.WITHDRAWN},
    "resubmit": {State.CENTER_REVIEW, State.OPERATOR_REVIEW},
    "lapse": {State.LAPSED},
}


def perform(world, action: str, request: AccessRequest) -> AccessRequest:
    reviewer = world.operator if request.state == State.OPERATOR_REVIEW else world.center_reviewer
    if action == "approve":
        return services.access_request_approve(actor=reviewer, access_request=request)
    if action == "reject":
        return services.access_request_reject(actor=reviewer, access_request=request, reason="부적합")
    if action == "return":
        return services.access_request_return(actor=reviewer, access_request=request, message="고쳐 주세요")
    if action == "withdraw":
        return services.access_request_withdraw(actor=world.buyer_analyst, access_request=request)
    if action == "resubmit":
        return services.access_request_resubmit(actor=world.buyer_analyst, access_request=request)
    if action == "update":
        return services.access_request_update(
            actor=world.buyer_analyst, access_request=request, purpose="수정"
        )
    if action == "lapse":
        backdate(request, days=45)
        return services.access_request_lapse(actor=SYSTEM, access_request=request)
    raise AssertionError(action)


def expected_outcome(action: str, state: str) -> str:
    if state in ALLOWED[action]:
        return ALLOWED[action][state]
    if state in QUIET.get(action, ()):
        return "unchanged"
    return "409"


@pytest.mark.parametrize("state", STATES)
def test_every_transition_from(world, state):
    """Every action tried on a request in `state`, each inside a savepoint that is rolled back,
    so all of them start from the same request."""
    request = request_in_state(world, state)
    events_before = RequestEvent.objects.filter(access_request=request).count()
    got = {}
    for action in sorted(ALLOWED):
        with transaction.atomic():
            fresh = AccessRequest.objects.get(pk=request.pk)
            try:
                perform(world, action, fresh)
            except errors.InvalidState as exc:
                assert exc.status_code == 409
                got[action] = "409"
                assert RequestEvent.objects.filter(access_request=request).count() == events_before
            else:
                after = AccessRequest.objects.get(pk=request.pk).state
                events = RequestEvent.objects.filter(access_request=request).count()
                if after == state and events == events_before:
                    got[action] = "unchanged"
                else:
                    assert events > events_before  # every move is in the history
                    got[action] = after
            transaction.set_rollback(True)
        assert AccessRequest.objects.get(pk=request.pk).state == state
    assert got == {action: expected_outcome(action, state) for action in sorted(ALLOWED)}


def test_paying_is_the_only_way_out_of_awaiting_payment(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    services.invoice_mark_paid(actor=world.operator, invoice=request.invoice, reference="KB-1")
    request.refresh_from_db()
    assert request.state == State.LICENSED
    assert history(request)[-1] == ("paid", "awaiting_payment", "licensed")


# --- review details -------------------------------------------------------------------------


def test_reviewers_narrow_the_scope_and_the_buyer_sees_the_difference(world):
    offer = world.offer(approval=Offer.Approval.CENTER_OPERATOR)
    request = submit(
        world.buyer_analyst,
        offer,
        scope={
            "fields": ["sigungu_code", "industry", "amount"],
            "regions": ["41110", "41130"],
            "date_from": "2025-01-01",
            "date_to": "2025-12-31",
        },
    )
    request = services.access_request_approve(
        actor=world.center_reviewer,
        access_request=request,
        narrowed_scope={"fields": ["sigungu_code", "amount"]},
    )
    request = services.access_request_approve(
        actor=world.operator,
        access_request=request,
        narrowed_scope={"regions": ["41110"], "date_from": "2025-07-01"},
    )
    request.refresh_from_db()
    assert request.requested_scope["fields"] == ["sigungu_code", "industry", "amount"]
    assert request.scope == {
        "fields": ["sigungu_code", "amount"],
        "regions": ["41110"],
        "date_from": "2025-07-01",
        "date_to": "2025-12-31",
    }
    center_step, operator_step = RequestEvent.objects.filter(access_request=request, action="approved")
    assert center_step.scope_diff["fields"]["removed"] == ["industry"]
    assert set(operator_step.scope_diff) == {"regions", "date_from"}
    assert License.objects.get(access_request=request).scope == request.scope


def test_narrowing_that_widens_is_refused_and_changes_nothing(world):
    request = submit(world.buyer_analyst, world.offer(), scope={"fields": ["amount"], "regions": ["41110"]})
    with pytest.raises(errors.ApplicationError) as exc:
        services.access_request_approve(
            actor=world.center_reviewer,
            access_request=request,
            narrowed_scope={"fields": ["amount", "industry"], "regions": []},
        )
    assert set(exc.value.errors) == {"fields", "regions"}
    request.refresh_from_db()
    assert request.state == State.CENTER_REVIEW
    assert not License.objects.exists()


def test_reject_needs_a_reason_and_keeps_the_history(world, django_capture_on_commit_callbacks):
    request = submit(world.buyer_analyst, world.offer())
    with pytest.raises(errors.ApplicationError) as exc:
        services.access_request_reject(actor=world.center_reviewer, access_request=request, reason=" ")
    assert "reason" in exc.value.errors
    with django_capture_on_commit_callbacks(execute=True):
        services.access_request_reject(
            actor=world.center_reviewer, access_request=request, reason="개인정보 우려"
        )
    step = RequestEvent.objects.filter(access_request=request).last()
    assert (step.action, step.note, step.actor) == ("rejected", "개인정보 우려", world.center_reviewer)
    assert step.actor_organization == world.center
    assert recipients("request_rejected") == {world.buyer_analyst.email, world.buyer_manager.email}
    assert any("개인정보 우려" in m.body for m in mail.outbox)
    assert AccessRequest.objects.filter(pk=request.pk).exists()


def test_return_edit_resubmit(world):
    request = submit(world.buyer_analyst, world.offer())
    services.access_request_return(
        actor=world.center_reviewer, access_request=request, message="기간을 적어 주세요"
    )
    assert RequestMessage.objects.get(access_request=request).body == "기간을 적어 주세요"
    assert recipients("request_returned") == {world.buyer_analyst.email, world.buyer_manager.email}

    services.access_request_update(
        actor=world.buyer_manager,
        access_request=request,
        scope={"date_from": "2025-01-01", "date_to": "2025-03-31"},
        purpose="1분기 매출 분석",
    )
    request.refresh_from_db()
    assert request.requested_scope["date_to"] == "2025-03-31"
    assert request.requested_scope["fields"] == DEFAULT_SCOPE["fields"]  # keys left out are kept
    assert request.purpose == "1분기 매출 분석"

    services.access_request_resubmit(actor=world.buyer_analyst, access_request=request)
    request.refresh_from_db()
    assert request.state == State.CENTER_REVIEW
    assert [a for a, _f, _t in history(request)] == [
        "submitted",
        "queued",
        "returned",
        "updated",
        "resubmitted",
        "queued",
    ]
    assert recipients("request_resubmitted") == {world.center_reviewer.email, world.center_manager.email}


def test_resubmitting_after_the_terms_changed_needs_them_accepted(world):
    offer = world.offer()
    request = submit(world.buyer_analyst, offer)
    services.access_request_return(actor=world.center_reviewer, access_request=request, message="약관 개정")
    offer.current_terms = LicenseTerms.objects.create(offer=offer, version=2, text="새 약관")
    offer.save(update_fields=["current_terms"])
    with pytest.raises(errors.ApplicationError) as exc:
        services.access_request_resubmit(actor=world.buyer_analyst, access_request=request)
    assert "accept_terms" in exc.value.errors
    services.access_request_update(actor=world.buyer_analyst, access_request=request, accept_terms=True)
    services.access_request_resubmit(actor=world.buyer_analyst, access_request=request)
    request.refresh_from_db()
    assert (request.state, request.terms.version) == (State.CENTER_REVIEW, 2)


def test_withdrawing_an_unpaid_request_voids_its_invoice(world):
    request = request_in_state(world, State.AWAITING_PAYMENT)
    services.access_request_withdraw(actor=world.buyer_manager, access_request=request)
    invoice = Invoice.objects.get(access_request=request)
    assert invoice.state == Invoice.State.VOID
    assert invoice.voided_by == world.buyer_manager


def test_a_second_approval_of_the_same_stage_returns_quietly(world):
    request = submit(world.buyer_analyst, world.offer())
    stale = AccessRequest.objects.get(pk=request.pk)
    services.access_request_approve(actor=world.center_reviewer, access_request=request)
    again = services.access_request_approve(actor=world.center_manager, access_request=stale)
    assert again.state == State.LICENSED
    assert License.objects.filter(access_request=request).count() == 1
    assert RequestEvent.objects.filter(access_request=request, action="approved").count() == 1


# --- lapse ----------------------------------------------------------------------------------


def test_lapse_only_after_the_deadline(world, settings, django_capture_on_commit_callbacks):
    settings.REQUEST_REVIEW_DEADLINE_DAYS = 10
    request = submit(world.buyer_analyst, world.offer())
    entered = AccessRequest.objects.get(pk=request.pk).state_changed_at
    with pytest.raises(errors.InvalidState):
        services.access_request_lapse(
            actor=SYSTEM, access_request=request, now=entered + datetime.timedelta(days=9, hours=23)
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.access_request_lapse(
            actor=SYSTEM, access_request=request, now=entered + datetime.timedelta(days=11)
        )
    request.refresh_from_db()
    assert request.state == State.LAPSED
    assert "10 days" in RequestEvent.objects.filter(access_request=request).last().note
    assert recipients("request_lapsed") == {
        world.buyer_analyst.email,
        world.buyer_manager.email,
        world.center_reviewer.email,
        world.center_manager.email,
    }


def test_only_the_platform_lapses_requests(world):
    request = submit(world.buyer_analyst, world.offer())
    backdate(request, days=60)
    with pytest.raises(errors.PermissionDenied):
        services.access_request_lapse(actor=world.operator, access_request=request)


def test_the_daily_sweep_lapses_overdue_requests_only(world, settings):
    settings.REQUEST_REVIEW_DEADLINE_DAYS = 30
    overdue = submit(world.buyer_analyst, world.offer())
    backdate(overdue, days=31)
    recent = submit(world.buyer_analyst, world.offer())
    backdate(recent, days=29)
    returned = request_in_state(world, State.CHANGES_REQUESTED)
    backdate(returned, days=90)  # waiting for the buyer, not for a reviewer
    assert tasks.lapse_overdue_requests() == 1
    states = dict(AccessRequest.objects.values_list("pk", "state"))
    assert states[overdue.pk] == State.LAPSED
    assert states[recent.pk] == State.CENTER_REVIEW
    assert states[returned.pk] == State.CHANGES_REQUESTED
    assert tasks.lapse_overdue_requests() == 0


# --- messages -------------------------------------------------------------------------------


def test_parties_write_to_the_thread_and_the_others_are_told(world):
    request = submit(world.buyer_analyst, world.offer())
    Notification.objects.all().delete()
    message = services.access_request_message_post(
        actor=world.center_curator, access_request=request, body="표본 설계를 알려 주세요."
    )
    assert (message.author, message.organization) == (world.center_curator, world.center)
    assert recipients("request_message") == {
        world.buyer_analyst.email,
        world.buyer_manager.email,
        world.center_reviewer.email,
        world.center_manager.email,
    }
    reply = services.access_request_message_post(actor=world.buyer_analyst, access_request=request, body="네")
    assert reply.organization == world.buyer
    assert AuditEvent.objects.filter(verb="transactions.access_request.message_posted").count() == 2


def test_messages_outlive_the_request(world):
    request = request_in_state(world, State.REJECTED)
    services.access_request_message_post(actor=world.buyer_analyst, access_request=request, body="사유 문의")
    assert RequestMessage.objects.filter(access_request=request).count() == 1


def test_outsiders_cannot_write_and_empty_messages_are_refused(world):
    request = submit(world.buyer_analyst, world.offer())
    with pytest.raises(errors.NotFound):
        services.access_request_message_post(actor=world.other_buyer, access_request=request, body="?")
    with pytest.raises(errors.ApplicationError) as exc:
        services.access_request_message_post(actor=world.buyer_analyst, access_request=request, body="  ")
    assert "body" in exc.value.errors


# --- notifications --------------------------------------------------------------------------


def test_each_email_goes_once_even_if_the_task_runs_twice(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submit(world.buyer_analyst, world.offer())
    count = len(mail.outbox)
    ids = list(Notification.objects.values_list("pk", flat=True))
    assert count == len(ids) == 4
    assert tasks.send_notification_emails(ids) == 0
    assert len(mail.outbox) == count
    assert all(m.to[0] != "" and len(m.to) == 1 for m in mail.outbox)  # one recipient per mail


def test_notifications_are_not_sent_before_commit(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(world.buyer_analyst, world.offer())
    assert mail.outbox == []
    assert callbacks


def test_notification_mark_read(world):
    submit(world.buyer_analyst, world.offer())
    mine = Notification.objects.filter(recipient=world.center_reviewer).get()
    with pytest.raises(errors.NotFound):
        services.notification_mark_read(actor=world.center_manager, notification=mine)
    read = services.notification_mark_read(actor=world.center_reviewer, notification=mine)
    assert read.read_at is not None
    assert (
        services.notification_mark_read(actor=world.center_reviewer, notification=mine).read_at
        == read.read_at
    )
    assert services.notification_mark_all_read(actor=world.buyer_analyst) == 1


def test_state_changed_at_tracks_the_stage(world):
    before = timezone.now()
    request = submit(world.buyer_analyst, world.offer())
    assert AccessRequest.objects.get(pk=request.pk).state_changed_at >= before


def test_a_member_with_two_roles_in_one_buyer_organization_can_request(world):
    """Analyst and manager of the same organization is still one organization to request for."""
    from accounts.models import Membership

    Membership.objects.create(user=world.buyer_analyst, organization=world.buyer, role="manager")
    from accounts.selectors import forget_roles

    forget_roles(world.buyer_analyst)
    request = submit(world.buyer_analyst, world.offer())
    assert request.organization == world.buyer

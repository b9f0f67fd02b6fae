"""Who may do what: the permission rules, and one authorization matrix over every
transactions API route and every kind of caller (a route without a row fails the coverage
test)."""

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver

from marketplace import errors
from marketplace.actors import SYSTEM
from tests.conftest import english_client
from tests.transactions.factories import ACTORS, request_in_state, submit
from transactions import permissions, urls
from transactions.models import AccessRequest, Extract, License, Notification

State = AccessRequest.State
pytestmark = pytest.mark.django_db

BUYER = {"buyer_analyst", "buyer_manager"}
CENTER = {"center_curator", "center_reviewer", "center_manager"}
PARTIES = BUYER | CENTER | {"operator"}
AUTHENTICATED = set(ACTORS) - {"anonymous"}


def codes(ok: set, forbidden: set = frozenset(), ok_code: int = 200) -> dict[str, int]:
    """Expected status per actor: `ok` succeed, `forbidden` see it but may not (403), every
    other signed-in caller does not see it (404), anonymous callers are asked to log in (401)."""
    expected = {}
    for actor in ACTORS:
        if actor == "anonymous":
            expected[actor] = 401
        elif actor in ok:
            expected[actor] = ok_code
        elif actor in forbidden:
            expected[actor] = 403
        else:
            expected[actor] = 404
    return expected


def request_at(state):
    return lambda world: request_in_state(world, state)


def license_of(world):
    return License.objects.get(access_request=request_in_state(world, State.LICENSED))


def invoice_of(world):
    return request_in_state(world, State.AWAITING_PAYMENT).invoice


def analysts_notification(world):
    request_in_state(world, State.CHANGES_REQUESTED)
    return Notification.objects.filter(recipient=world.buyer_analyst).first()


def an_offer(world):
    return world.offer()


def ready_extract(world):
    """A built extract of the buyer's license (its bundle a stand-in file in storage)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    lic = license_of(world)
    name = default_storage.save(f"extracts/{lic.pk}/matrix.zip", ContentFile(b"PK\x05\x06" + bytes(18)))
    return Extract.objects.create(
        license=lic,
        version=lic.dataset.current_version,
        format="csv",
        status="succeeded",
        file=name,
        file_name="matrix.zip",
        bundle_sha256="0" * 64,
        bundle_bytes=22,
    )


def download_token(world):
    from transactions import services

    token, _expires = services.extract_download_link(actor=world.buyer_analyst, extract=ready_extract(world))
    return token


EVERYONE = {actor: 200 for actor in ACTORS}


REVIEW_AT_CENTER = {
    "ok": {"center_reviewer", "center_manager"},
    "forbidden": BUYER | {"center_curator", "operator"},
}
REVIEW_AT_OPERATOR = {"ok": {"operator"}, "forbidden": BUYER | CENTER}
BUYER_ACTS = {"ok": BUYER, "forbidden": CENTER | {"operator"}}
OPERATOR_ACTS = {"ok": {"operator"}, "forbidden": BUYER | CENTER}

# (route name, method, setup(world) → object, path(object), body, expected codes)
MATRIX = [
    ("access-request-list", "get", None, lambda o: "/api/v1/requests/", None, codes(AUTHENTICATED)),
    (
        "access-request-list",
        "post",
        an_offer,
        lambda offer: "/api/v1/requests/",
        lambda offer: {
            "offer": offer.pk,
            "fields": ["amount"],
            "purpose": "상권 분석",
            "purpose_category": "research",
            "accept_terms": True,
        },
        codes({"buyer_analyst", "buyer_manager", "other_buyer"}, AUTHENTICATED, ok_code=201),
    ),
    (
        "access-request-detail",
        "get",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/",
        None,
        codes(PARTIES),
    ),
    (
        "access-request-detail",
        "patch",
        request_at(State.CHANGES_REQUESTED),
        lambda r: f"/api/v1/requests/{r.pk}/",
        {"purpose": "새 목적"},
        codes(**BUYER_ACTS),
    ),
    (
        "access-request-approve",
        "post",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/approve/",
        {},
        codes(**REVIEW_AT_CENTER),
    ),
    (
        "access-request-approve",
        "post",
        request_at(State.OPERATOR_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/approve/",
        {},
        codes(**REVIEW_AT_OPERATOR),
    ),
    (
        "access-request-reject",
        "post",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/reject/",
        {"reason": "부적합"},
        codes(**REVIEW_AT_CENTER),
    ),
    (
        "access-request-reject",
        "post",
        request_at(State.OPERATOR_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/reject/",
        {"reason": "부적합"},
        codes(**REVIEW_AT_OPERATOR),
    ),
    (
        "access-request-return",
        "post",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/return/",
        {"message": "수정"},
        codes(**REVIEW_AT_CENTER),
    ),
    (
        "access-request-return",
        "post",
        request_at(State.OPERATOR_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/return/",
        {"message": "수정"},
        codes(**REVIEW_AT_OPERATOR),
    ),
    (
        "access-request-withdraw",
        "post",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/withdraw/",
        {},
        codes(**BUYER_ACTS),
    ),
    (
        "access-request-resubmit",
        "post",
        request_at(State.CHANGES_REQUESTED),
        lambda r: f"/api/v1/requests/{r.pk}/resubmit/",
        {},
        codes(**BUYER_ACTS),
    ),
    (
        "access-request-messages",
        "get",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/messages/",
        None,
        codes(PARTIES),
    ),
    (
        "access-request-messages",
        "post",
        request_at(State.CENTER_REVIEW),
        lambda r: f"/api/v1/requests/{r.pk}/messages/",
        {"body": "안녕하세요"},
        codes(PARTIES, ok_code=201),
    ),
    ("license-list", "get", None, lambda o: "/api/v1/licenses/", None, codes(AUTHENTICATED)),
    ("license-detail", "get", license_of, lambda lic: f"/api/v1/licenses/{lic.pk}/", None, codes(PARTIES)),
    (
        "license-revoke",
        "post",
        license_of,
        lambda lic: f"/api/v1/licenses/{lic.pk}/revoke/",
        {"reason": "위반"},
        codes({"center_manager", "operator"}, BUYER | {"center_curator", "center_reviewer"}),
    ),
    (
        "license-renew",
        "post",
        license_of,
        lambda lic: f"/api/v1/licenses/{lic.pk}/renew/",
        {},
        codes(BUYER, CENTER | {"operator"}, ok_code=201),
    ),
    (
        "license-downloads",
        "get",
        license_of,
        lambda lic: f"/api/v1/licenses/{lic.pk}/downloads/",
        None,
        codes(PARTIES),
    ),
    ("invoice-list", "get", None, lambda o: "/api/v1/invoices/", None, codes(AUTHENTICATED)),
    ("invoice-detail", "get", invoice_of, lambda inv: f"/api/v1/invoices/{inv.pk}/", None, codes(PARTIES)),
    (
        "invoice-mark-paid",
        "post",
        invoice_of,
        lambda inv: f"/api/v1/invoices/{inv.pk}/mark-paid/",
        {"reference": "KB-1"},
        codes(**OPERATOR_ACTS),
    ),
    (
        "invoice-void",
        "post",
        invoice_of,
        lambda inv: f"/api/v1/invoices/{inv.pk}/void/",
        {"reason": "취소"},
        codes(**OPERATOR_ACTS),
    ),
    ("notification-list", "get", None, lambda o: "/api/v1/notifications/", None, codes(AUTHENTICATED)),
    (
        "notification-detail",
        "get",
        analysts_notification,
        lambda n: f"/api/v1/notifications/{n.pk}/",
        None,
        codes({"buyer_analyst"}),
    ),
    (
        "notification-read",
        "post",
        analysts_notification,
        lambda n: f"/api/v1/notifications/{n.pk}/read/",
        {},
        codes({"buyer_analyst"}),
    ),
    (
        "notification-read-all",
        "post",
        None,
        lambda o: "/api/v1/notifications/read-all/",
        {},
        codes(AUTHENTICATED),
    ),
    ("audit-event-list", "get", None, lambda o: "/api/v1/audit/", None, codes(AUTHENTICATED)),
    ("extract-list", "get", None, lambda o: "/api/v1/extracts/", None, codes(AUTHENTICATED)),
    ("extract-detail", "get", ready_extract, lambda e: f"/api/v1/extracts/{e.pk}/", None, codes(PARTIES)),
    (
        "extract-download-link",
        "post",
        ready_extract,
        lambda e: f"/api/v1/extracts/{e.pk}/download-link/",
        {},
        codes(**BUYER_ACTS),
    ),
    # The signed link is the credential (like a presigned URL): whoever holds it within its
    # minutes gets the file, counted against the license of the person it was issued to.
    ("extract-download", "get", download_token, lambda t: f"/api/v1/extracts/download/{t}/", None, EVERYONE),
    (
        "license-extracts",
        "get",
        license_of,
        lambda lic: f"/api/v1/licenses/{lic.pk}/extracts/",
        None,
        codes(PARTIES),
    ),
    (
        "license-extracts",
        "post",
        license_of,
        lambda lic: f"/api/v1/licenses/{lic.pk}/extracts/",
        {"format": "parquet"},
        codes(**BUYER_ACTS, ok_code=202),
    ),
    # Operators pass the rule and reach the body parser, which wants the multipart upload
    # (the success case is in test_extracts.py).
    (
        "leak-trace",
        "post",
        None,
        lambda o: "/api/v1/leaks/trace/",
        {"dataset": "x"},
        codes({"operator"}, AUTHENTICATED - {"operator"}, ok_code=415),
    ),
    (
        "stats",
        "get",
        None,
        lambda o: "/api/v1/stats/",
        None,
        codes(
            CENTER | {"other_center_curator", "operator"}, BUYER | {"other_buyer", "unverified_buyer_member"}
        ),
    ),
]


def _row_id(row):
    name, method, setup, *_rest = row
    return f"{method.upper()} {name} {getattr(setup, '__name__', '')}".strip()


@pytest.mark.parametrize("row", MATRIX, ids=[_row_id(row) for row in MATRIX])
def test_authorization_matrix(world, row):
    """Each caller tries the route on the same object; a savepoint rolled back after each call
    keeps one caller's success from changing what the next one sees."""
    _name, method, setup, path, body, expected = row
    target = setup(world) if setup else None
    data = body(target) if callable(body) else body
    got, without_detail = {}, []
    for actor in ACTORS:
        client = english_client()
        user = world.actor(actor)
        if user is not None:
            client.force_authenticate(user)
        with transaction.atomic():
            call = getattr(client, method)
            response = call(path(target), data, format="json") if data is not None else call(path(target))
            transaction.set_rollback(True)
        got[actor] = response.status_code
        if response.status_code >= 400 and not response.json().get("detail"):
            without_detail.append(actor)
    assert got == expected
    assert without_detail == []


def _transactions_routes() -> set[tuple[str, str]]:
    routes = set()

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                actions = getattr(pattern.callback, "actions", None)
                view_class = getattr(pattern.callback, "view_class", None)
                if actions:
                    methods = actions.keys()
                elif view_class is not None:
                    methods = [m for m in view_class.http_method_names if hasattr(view_class, m)]
                else:
                    methods = ["get"]
                for method in methods:
                    if method in ("head", "options"):
                        continue
                    if method in ("put", "delete"):
                        cls = pattern.callback.cls
                        if method not in cls.http_method_names or not hasattr(cls, actions[method]):
                            continue
                    routes.add((pattern.name, method))

    walk(urls.urlpatterns)
    return routes


def test_every_route_has_a_row_in_the_matrix():
    covered = {(name, method) for name, method, *_rest in MATRIX}
    missing = _transactions_routes() - covered
    assert missing == set()


# --- rules ----------------------------------------------------------------------------------


def test_the_stage_decides_who_reviews(world):
    at_center = request_in_state(world, State.CENTER_REVIEW)
    at_operator = request_in_state(world, State.OPERATOR_REVIEW)
    assert permissions.access_request_approve(world.center_reviewer, at_center)
    assert not permissions.access_request_approve(world.operator, at_center)
    assert permissions.access_request_approve(world.operator, at_operator)
    assert not permissions.access_request_approve(world.center_manager, at_operator)
    assert not permissions.access_request_approve(world.center_curator, at_center)
    # Outside review, reviewers pass the rule so that the state answers (409).
    done = request_in_state(world, State.REJECTED)
    assert permissions.access_request_approve(world.center_reviewer, done)
    assert permissions.access_request_approve(world.operator, done)
    assert not permissions.access_request_approve(world.buyer_manager, done)


def test_system_only_rules(world):
    request = request_in_state(world, State.CENTER_REVIEW)
    for rule in (permissions.access_request_lapse, permissions.license_issue, permissions.invoice_issue):
        assert rule(SYSTEM, request)
        assert not rule(world.operator, request)
    assert permissions.license_expire(SYSTEM) and not permissions.license_expire(world.operator)
    assert permissions.license_send_renewal_reminders(SYSTEM)
    assert not permissions.license_send_renewal_reminders(world.operator)


def test_curators_see_and_write_but_do_not_review(world):
    request = request_in_state(world, State.CENTER_REVIEW)
    curator = world.center_curator
    assert permissions.access_request_view(curator, request)
    assert permissions.access_request_message_post(curator, request)
    for rule in (
        permissions.access_request_approve,
        permissions.access_request_reject,
        permissions.access_request_return,
    ):
        assert not rule(curator, request)


def test_a_buyer_manager_is_not_a_center_manager(world):
    """`manager` is a role in both kinds of organization; rules look at the right one."""
    license = license_of(world)
    assert not permissions.license_revoke(world.buyer_manager, license)
    assert permissions.license_revoke(world.center_manager, license)
    assert not permissions.stats_view(world.buyer_manager)
    assert permissions.stats_view(world.center_manager, license.dataset)
    assert not permissions.stats_view(world.other_center_curator, license.dataset)


def test_unverified_members_see_their_own_requests_but_cannot_submit(world):
    assert not permissions.access_request_submit(world.unverified_buyer_member, world.offer().dataset.center)
    assert permissions.access_request_submit(world.unverified_buyer_member, world.unverified_buyer)
    # The rule admits the member; the service's eligibility check refuses the unverified org.
    with pytest.raises(errors.PermissionDenied) as exc:
        submit(world.unverified_buyer_member, world.offer())
    assert "not verified" in exc.value.message

"""One authorization matrix over every accounts and catalog API route × every kind of caller
(the transactions routes have theirs in tests/transactions/test_permissions.py; together they
cover the whole API, and a new route without a row fails `test_every_api_route_has_a_row`)."""

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver

from accounts import services as accounts
from catalog import services as catalog
from tests import factories
from tests.conftest import english_client
from tests.transactions.factories import ACTORS, make_world
from tests.transactions.test_permissions import MATRIX as TRANSACTIONS_MATRIX

pytestmark = pytest.mark.django_db

BUYER = {"buyer_analyst", "buyer_manager"}
CENTER = {"center_curator", "center_reviewer", "center_manager"}
EDITORS = {"center_curator", "center_manager"}
AUTHENTICATED = set(ACTORS) - {"anonymous"}
ALL = set(ACTORS)


def codes(ok: set, forbidden: set = frozenset(), ok_code: int = 200, anonymous: int = 401) -> dict[str, int]:
    """`ok` succeed, `forbidden` see it but may not (403), other signed-in callers do not see it
    (404), anonymous callers get `anonymous` (401 where logging in would help)."""
    expected = {}
    for actor in ACTORS:
        if actor in ok:
            expected[actor] = ok_code
        elif actor == "anonymous":
            expected[actor] = anonymous
        elif actor in forbidden:
            expected[actor] = 403
        else:
            expected[actor] = 404
    return expected


@pytest.fixture
def world(operator_org, operator, center, buyer):
    return make_world(operator_org, operator, center, buyer)


def published(world):
    dataset = factories.published_dataset(world.center, with_data=True, row_count=40)
    factories.OfferFactory(dataset=dataset, fields=["sigungu_code", "industry", "amount"])
    return dataset


def draft(world):
    return catalog.dataset_create(actor=world.center_curator, center=world.center, title="초안 데이터셋")


def offer_of(world):
    return published(world).offers.get()


def ready_version(world):
    """A version that finished ingestion but is not published (a second version of a dataset)."""
    return factories.ready_version(published(world))


def open_upload(world):
    from catalog.services import uploads

    return uploads.upload_create(
        actor=world.center_curator, dataset=published(world), length=10, filename="cards.csv"
    )


def pending_org(world):
    return world.unverified_buyer


def members_row(world):
    return world.buyer.memberships.get(user=world.buyer_manager)


def insight_dataset(world):
    """A published dataset with a fixed slug (the publish body names it)."""
    return factories.published_dataset(world.center, slug="insights-matrix")


def insight_release(world):
    from insights import services as insights
    from marketplace.actors import SYSTEM

    return insights.release_publish(
        actor=SYSTEM,
        dataset=insight_dataset(world),
        slug="matrix-release",
        title="시·군별",
        dimensions=[{"field": "sigungu_code"}],
        measures=[{"field": "amount", "agg": "sum"}],
        subject_field="card_id",
    )


def retired_insight_release(world):
    from insights import services as insights
    from marketplace.actors import SYSTEM

    return insights.release_retire(actor=SYSTEM, release=insight_release(world))


MEMBERS_OF_BUYER = {"buyer_analyst", "buyer_manager", "operator"}


def invitation(world):
    """The buyer's manager invites the other buyer's analyst (the invitee) to the buyer."""
    return accounts.membership_invite(
        actor=world.buyer_manager, organization=world.buyer, email=world.other_buyer.email, role="analyst"
    )


def analyst_token(world):
    return accounts.api_token_create(actor=world.buyer_analyst, user=world.buyer_analyst)[0]


MATRIX = [
    # --- accounts ---
    (
        "auth-token",
        "post",
        None,
        lambda o: "/api/v1/auth/token/",
        {"email": "nobody@x.kr", "password": "x"},
        {a: 400 for a in ACTORS},
    ),
    (
        "auth-signup",
        "post",
        None,
        lambda o: "/api/v1/auth/signup/",
        {"email": "bad"},
        {a: 400 for a in ACTORS},
    ),
    ("me", "get", None, lambda o: "/api/v1/me/", None, codes(AUTHENTICATED)),
    ("organization-list", "get", None, lambda o: "/api/v1/organizations/", None, codes(AUTHENTICATED)),
    ("risk-threshold", "get", None, lambda o: "/api/v1/risk-threshold/", None, codes({"operator"})),
    (
        "risk-threshold",
        "patch",
        None,
        lambda o: "/api/v1/risk-threshold/",
        {"min_k": 6},
        codes({"operator"}),
    ),
    (
        "organization-detail",
        "get",
        pending_org,
        lambda org: f"/api/v1/organizations/{org.pk}/",
        None,
        codes({"unverified_buyer_member", "operator"}),
    ),
    (
        "organization-verify",
        "post",
        pending_org,
        lambda org: f"/api/v1/organizations/{org.pk}/verify/",
        {},
        codes({"operator"}, {"unverified_buyer_member"}),
    ),
    (
        "organization-reject",
        "post",
        pending_org,
        lambda org: f"/api/v1/organizations/{org.pk}/reject/",
        {"reason": "서류 미비"},
        codes({"operator"}, {"unverified_buyer_member"}),
    ),
    (
        "organization-member-list",
        "get",
        lambda w: w.buyer,
        lambda org: f"/api/v1/organizations/{org.pk}/members/",
        None,
        codes(MEMBERS_OF_BUYER),
    ),
    (
        "organization-member-list",
        "post",
        lambda w: w.buyer,
        lambda org: f"/api/v1/organizations/{org.pk}/members/",
        {"email": "new@cafe.kr", "role": "analyst"},
        codes({"buyer_manager", "operator"}, {"buyer_analyst"}, ok_code=201),
    ),
    (
        "organization-member-detail",
        "get",
        members_row,
        lambda m: f"/api/v1/organizations/{m.organization_id}/members/{m.pk}/",
        None,
        codes(MEMBERS_OF_BUYER),
    ),
    (
        "organization-member-detail",
        "patch",
        lambda w: w.buyer.memberships.get(user=w.buyer_analyst),
        lambda m: f"/api/v1/organizations/{m.organization_id}/members/{m.pk}/",
        {"role": "manager"},
        codes({"buyer_manager", "operator"}, {"buyer_analyst"}),
    ),
    (
        "organization-member-detail",
        "delete",
        lambda w: w.buyer.memberships.get(user=w.buyer_analyst),
        lambda m: f"/api/v1/organizations/{m.organization_id}/members/{m.pk}/",
        None,
        codes({"buyer_manager", "operator"}, {"buyer_analyst"}, ok_code=204),
    ),
    (
        "organization-member-list",
        "post",
        pending_org,
        lambda org: f"/api/v1/organizations/{org.pk}/members/",
        {"email": "new@cafe.kr", "role": "analyst"},
        codes(set(), {"unverified_buyer_member", "operator"}),
    ),  # only verified organizations invite
    (
        "organization-invitation-list",
        "get",
        invitation,
        lambda i: f"/api/v1/organizations/{i.organization_id}/invitations/",
        None,
        codes(MEMBERS_OF_BUYER),
    ),
    (
        "organization-invitation-detail",
        "get",
        invitation,
        lambda i: f"/api/v1/organizations/{i.organization_id}/invitations/{i.pk}/",
        None,
        codes(MEMBERS_OF_BUYER),
    ),
    (
        "organization-invitation-detail",
        "delete",
        invitation,
        lambda i: f"/api/v1/organizations/{i.organization_id}/invitations/{i.pk}/",
        None,
        codes({"buyer_manager", "operator"}, {"buyer_analyst"}, ok_code=204),
    ),
    ("my-invitation-list", "get", None, lambda o: "/api/v1/me/invitations/", None, codes(AUTHENTICATED)),
    (
        "my-invitation-detail",
        "get",
        invitation,
        lambda i: f"/api/v1/me/invitations/{i.pk}/",
        None,
        codes({"other_buyer"}),
    ),
    (
        "my-invitation-accept",
        "post",
        invitation,
        lambda i: f"/api/v1/me/invitations/{i.pk}/accept/",
        {},
        codes({"other_buyer"}),
    ),
    (
        "my-invitation-decline",
        "post",
        invitation,
        lambda i: f"/api/v1/me/invitations/{i.pk}/decline/",
        {},
        codes({"other_buyer"}),
    ),
    ("auth-tokens-list", "get", None, lambda o: "/api/v1/auth/tokens/", None, codes(AUTHENTICATED)),
    (
        "auth-tokens-detail",
        "delete",
        analyst_token,
        lambda t: f"/api/v1/auth/tokens/{t.pk}/",
        None,
        codes({"buyer_analyst"}, ok_code=204),
    ),
    # --- catalog: the public catalog is open to everyone, drafts only to their center ---
    ("dataset-list", "get", None, lambda o: "/api/v1/datasets/", None, codes(ALL)),
    (
        "dataset-list",
        "post",
        None,
        lambda o: "/api/v1/datasets/",
        {"title": "새 데이터셋", "center": None},
        codes(EDITORS, AUTHENTICATED - EDITORS, ok_code=201),
    ),
    ("dataset-detail", "get", published, lambda d: f"/api/v1/datasets/{d.slug}/", None, codes(ALL)),
    (
        "dataset-detail",
        "get",
        draft,
        lambda d: f"/api/v1/datasets/{d.slug}/",
        None,
        codes(CENTER | {"operator"}, anonymous=404),
    ),
    (
        "dataset-detail",
        "patch",
        published,
        lambda d: f"/api/v1/datasets/{d.slug}/",
        {"title": "바뀐 제목"},
        codes(EDITORS, AUTHENTICATED - EDITORS),
    ),
    (
        "dataset-detail",
        "patch",
        draft,
        lambda d: f"/api/v1/datasets/{d.slug}/",
        {"title": "바뀐 제목"},
        codes(EDITORS, {"center_reviewer", "operator"}),
    ),
    (
        "dataset-retire",
        "post",
        published,
        lambda d: f"/api/v1/datasets/{d.slug}/retire/",
        {},
        codes(EDITORS, AUTHENTICATED - EDITORS),
    ),
    (
        "dataset-versions",
        "get",
        published,
        lambda d: f"/api/v1/datasets/{d.slug}/versions/",
        None,
        codes(ALL),
    ),
    (
        "dataset-versions",
        "post",
        published,
        lambda d: f"/api/v1/datasets/{d.slug}/versions/",
        {},
        codes(set(), AUTHENTICATED - EDITORS) | {a: 400 for a in EDITORS},
    ),  # editors reach validation: neither a file nor source_uris
    ("dataset-preview", "get", published, lambda d: f"/api/v1/datasets/{d.slug}/preview/", None, codes(ALL)),
    ("dataset-offers", "get", published, lambda d: f"/api/v1/datasets/{d.slug}/offers/", None, codes(ALL)),
    (
        "dataset-offers",
        "post",
        published,
        lambda d: f"/api/v1/datasets/{d.slug}/offers/",
        {"name": "무료 집계", "kind": "records", "fields": ["sigungu_code", "amount"], "terms": "약관"},
        codes(EDITORS, AUTHENTICATED - EDITORS, ok_code=201),
    ),
    ("offer-detail", "get", offer_of, lambda o: f"/api/v1/offers/{o.pk}/", None, codes(ALL)),
    (
        "offer-detail",
        "patch",
        offer_of,
        lambda o: f"/api/v1/offers/{o.pk}/",
        {"price_krw": 5000},
        codes(EDITORS, AUTHENTICATED - EDITORS),
    ),
    (
        "version-detail",
        "get",
        lambda w: published(w).current_version,
        lambda v: f"/api/v1/versions/{v.pk}/",
        None,
        codes(ALL),
    ),
    (
        "version-detail",
        "get",
        ready_version,
        lambda v: f"/api/v1/versions/{v.pk}/",
        None,
        codes(CENTER | {"operator"}, anonymous=404),
    ),
    (
        "version-fields",
        "patch",
        ready_version,
        lambda v: f"/api/v1/versions/{v.pk}/fields/",
        [{"name": "amount", "title": "금액"}],
        codes(EDITORS, {"center_reviewer", "operator"}),
    ),
    (
        "version-publish",
        "post",
        ready_version,
        lambda v: f"/api/v1/versions/{v.pk}/publish/",
        {},
        codes(EDITORS, {"center_reviewer", "operator"}),
    ),
    (
        "version-sources",
        "get",
        lambda w: published(w).current_version,
        lambda v: f"/api/v1/versions/{v.pk}/sources/",
        None,
        codes(CENTER | {"operator"}, anonymous=404),
    ),
    # Resumable uploads (tus): signing in comes first; then every request without the protocol's
    # header is refused before any upload is looked up, so no caller learns whether one exists.
    # Who may open and send an upload: tests/catalog/test_resumable_uploads.py.
    (
        "uploads",
        "post",
        None,
        lambda o: "/api/v1/uploads/",
        {},
        {a: 412 for a in AUTHENTICATED} | {"anonymous": 401},
    ),
    (
        "upload-detail",
        "patch",
        open_upload,
        lambda u: f"/api/v1/uploads/{u.pk}/",
        {},
        {a: 412 for a in AUTHENTICATED} | {"anonymous": 401},
    ),
    (
        "upload-detail",
        "delete",
        open_upload,
        lambda u: f"/api/v1/uploads/{u.pk}/",
        None,
        {a: 412 for a in AUTHENTICATED} | {"anonymous": 401},
    ),
    # --- insights: open statistics for everyone, published by the dataset's editors ---
    ("insight-list", "get", None, lambda o: "/api/v1/insights/", None, codes(ALL)),
    (
        "insight-list",
        "post",
        insight_dataset,
        lambda d: "/api/v1/insights/",
        {
            "dataset": "insights-matrix",
            "slug": "by-region",
            "title": "시·군별 결제",
            "dimensions": [{"field": "sigungu_code"}],
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card_id",
        },
        codes(EDITORS, AUTHENTICATED - EDITORS, ok_code=201),
    ),
    ("insight-detail", "get", insight_release, lambda r: f"/api/v1/insights/{r.slug}/", None, codes(ALL)),
    (
        "insight-detail",
        "get",
        retired_insight_release,
        lambda r: f"/api/v1/insights/{r.slug}/",
        None,
        codes(CENTER | {"operator"}, anonymous=404),
    ),
    (
        "insight-retire",
        "post",
        insight_release,
        lambda r: f"/api/v1/insights/{r.slug}/retire/",
        {},
        codes(EDITORS, AUTHENTICATED - EDITORS),
    ),
    (
        "version-tableschema",
        "get",
        lambda w: published(w).current_version,
        lambda v: f"/api/v1/versions/{v.pk}/tableschema.json",
        None,
        codes(ALL),
    ),
]


def _row_id(row):
    name, method, setup, *_rest = row
    return f"{method.upper()} {name} {getattr(setup, '__name__', '')}".strip()


@pytest.mark.parametrize("row", MATRIX, ids=[_row_id(row) for row in MATRIX])
def test_authorization_matrix(world, row):
    """Each caller tries the route on the same object; each call is rolled back so one caller's
    success does not change what the next one sees. Errors always carry a `detail` message."""
    _name, method, setup, path, body, expected = row
    target = setup(world) if setup else None
    got, without_detail = {}, []
    for actor in ACTORS:
        client = english_client()
        user = world.actor(actor)
        if user is not None:
            client.force_authenticate(user)
        data = body
        if isinstance(body, dict) and "center" in body:
            data = {**body, "center": world.center.pk}
        with transaction.atomic():
            call = getattr(client, method)
            response = call(path(target), data, format="json") if data is not None else call(path(target))
            transaction.set_rollback(True)
        got[actor] = response.status_code
        if response.status_code >= 400 and not response.json().get("detail"):
            without_detail.append(actor)
    assert got == expected
    assert without_detail == []


def _api_routes() -> set[tuple[str, str]]:
    from config import urls

    routes = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name and prefix.startswith("api/v1/"):
                actions = getattr(pattern.callback, "actions", None)
                view_class = getattr(pattern.callback, "view_class", None)
                if actions:
                    methods = list(actions)
                elif view_class is not None:
                    methods = [m for m in view_class.http_method_names if hasattr(view_class, m)]
                else:
                    methods = ["get"]
                for method in methods:
                    if method in ("head", "options", "put"):
                        continue  # PUT is PATCH's twin here; HEAD and OPTIONS follow GET's rules
                    routes.add((pattern.name, method))

    walk(urls.urlpatterns)
    return routes


def test_every_api_route_has_a_row():
    covered = {(name, method) for name, method, *_rest in MATRIX + TRANSACTIONS_MATRIX}
    assert _api_routes() - covered == set()

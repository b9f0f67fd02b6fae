"""One authorization matrix over every web page (config/web_urls.py) × every kind of
caller, the web twin of tests/test_authorization_matrix.py and
tests/transactions/test_permissions.py. A new web route without a row fails
`test_every_web_route_has_a_row`.

Each row names a route, a method, the object it is tried on (in a given state) and what each
of the ten ACTORS must get:

- 200, 403, 404: that status (what a caller may not see answers 404; what they may see but
  not do, 403);
- LOGIN: a redirect to the login page with `?next=` (anonymous callers on private pages);
- REDIRECT / HOME: a redirect that is not to the login page (to "/" for HOME);
- CHANGED: a redirect that is not to the login page, and the object's state changed;
- FORM: 200 with the service's refusal shown on the form.

For rows that POST, every caller that is not CHANGED must leave the object exactly as it was
(re-read from the database). List pages also say which callers' HTML shows which object
(unique markers from tests/web/matrix_objects.py). Each caller's request runs in a savepoint
rolled back afterwards, so one caller's success does not change what the next one sees; a
test reports every mismatching cell of its row at once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, resolve
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services as account_services
from accounts.models import Invitation, Membership, Organization, User
from catalog.models import Dataset, DatasetVersion, Field, Offer, RiskThresholdSetting
from tests.transactions.factories import ACTORS, make_world
from tests.web import matrix_objects as mx
from transactions.models import AccessRequest, DownloadEvent, Extract, Invoice, License, RequestMessage

pytestmark = pytest.mark.django_db
State = AccessRequest.State

LOGIN, HOME, REDIRECT, CHANGED, FORM = "login", "home", "redirect", "changed", "form"

BUYER = {"buyer_analyst", "buyer_manager"}
BUYER_KIND = BUYER | {"other_buyer", "unverified_buyer_member"}  # members of any buyer org
CENTER = {"center_curator", "center_reviewer", "center_manager"}
CENTER_KIND = CENTER | {"other_center_curator"}  # members of any center
EDITORS = {"center_curator", "center_manager"}
NOT_EDITORS = {"center_reviewer", "operator"}  # see the center's pages, may not change them
PARTIES = BUYER | CENTER | {"operator"}
MANAGERS_OF_DATA = CENTER | {"operator"}
ALL = set(ACTORS)
AUTHENTICATED = ALL - {"anonymous"}
NOBODY: set[str] = set()


def cells(*groups: tuple[set, Any], anonymous: Any = LOGIN, others: Any = 404) -> dict[str, Any]:
    """Expected outcome per actor: each (actors, outcome) group in turn, `anonymous` for the
    anonymous caller, `others` for every signed-in caller not in a group."""
    expected = {actor: others for actor in ACTORS}
    expected["anonymous"] = anonymous
    for actors, outcome in groups:
        for actor in actors:
            expected[actor] = outcome
    return expected


@dataclass(frozen=True)
class Row:
    route: str
    method: str
    setup: Callable[[Any], Any] | None
    path: Callable[[Any], str]
    expected: dict[str, Any]
    body: dict | Callable[[Any], dict] | None = None
    # What a POST could change, re-read from the database.
    state: Callable[[Any], Any] | None = None
    # marker → the actors whose page shows it (checked for every caller answered 200).
    sees: Callable[[Any], dict[str, set]] | None = None
    label: str = ""
    xfail: str = ""

    @property
    def id(self) -> str:
        setup = getattr(self.setup, "__name__", "") if self.setup else ""
        return " ".join(p for p in (self.method.upper(), self.route, self.label or setup) if p)


# --- bodies and state snapshots ---------------------------------------------------------------

REQUEST_FORM = {
    "columns": ["sigungu_code", "amount"],
    "purpose_category": "statistics",
    "purpose": "mx 골목 상권 분석",
    "accept_terms": "on",
}


def _request_state(r: AccessRequest):
    return AccessRequest.objects.values_list("state", "purpose", "scope").get(pk=r.pk)


def _request_count(_target=None):
    return AccessRequest.objects.count()


def _approval(r: AccessRequest) -> dict:
    return {"columns": list(r.scope["fields"]), "note": "mx 승인"}


def _license_state(lic: License):
    return License.objects.values_list("state", "revoked_at").get(pk=lic.pk)


def _extract_state(e: Extract):
    return (
        License.objects.values_list("downloads_used", flat=True).get(pk=e.license_id),
        DownloadEvent.objects.count(),
    )


def _dataset_state(d: Dataset):
    return Dataset.objects.values_list("status", "title", "current_version_id", "updated_at").get(pk=d.pk)


def _version_state(v: DatasetVersion):
    return (
        DatasetVersion.objects.values_list("status", flat=True).get(pk=v.pk),
        Dataset.objects.values_list("current_version_id", flat=True).get(pk=v.dataset_id),
        list(Field.objects.filter(version=v).order_by("position").values_list("sensitivity", "title")),
    )


def _fields_form(v: DatasetVersion) -> dict:
    body = {}
    for i, f in enumerate(v.fields.order_by("position")):
        body[f"f{i}-sensitivity"] = f.sensitivity
        body[f"f{i}-title"] = "mx 제목" if i == 0 else f.title
        body[f"f{i}-description"] = f.description
    return body


OFFER_FORM = {
    "name": "mxNewOffer",
    "kind": "records",
    "columns": ["sigungu_code", "amount"],
    "region_field": "",
    "date_field": "",
    "k": 5,
    "date_granularity": "month",
    "approval": "center",
    "price_krw": 5000,
    "duration_days": 365,
    "download_quota": 10,
    "is_active": "on",
    "terms": "mx 약관",
}
DATASET_FORM = {"title": "mxRenamedDataset", "theme": "jobs", "update_frequency": "monthly"}


def _offer_state(o: Offer):
    return Offer.objects.values_list("name", "price_krw", "current_terms_id").get(pk=o.pk)


def _organization_state(org: Organization):
    return Organization.objects.values_list("verification", "verified_at").get(pk=org.pk)


def _upload(_version_owner) -> dict:
    return {"file": SimpleUploadedFile("mx.csv", b"sigungu_code,amount\n41110,1000\n41130,2000\n")}


# --- who sees what on the list pages -----------------------------------------------------------


def _catalog_markers(s) -> dict[str, set]:
    return {
        mx.PUBLISHED: ALL,
        mx.DRAFT: MANAGERS_OF_DATA,
        mx.RETIRED: MANAGERS_OF_DATA,
        mx.OTHER_CENTER_DRAFT: {"other_center_curator", "operator"},
    }


def _public_markers(s) -> dict[str, set]:
    """Pages that list only published datasets, whoever asks."""
    return {mx.PUBLISHED: ALL, mx.DRAFT: NOBODY, mx.RETIRED: NOBODY, mx.OTHER_CENTER_DRAFT: NOBODY}


def _my_requests_markers(s) -> dict[str, set]:
    return {
        mx.request_link(s.in_review): BUYER,
        mx.request_link(s.at_operator): BUYER,
        mx.request_link(s.other_buyers_request): {"other_buyer"},
        mx.IN_REVIEW: BUYER,
        mx.AT_OPERATOR: BUYER,
        mx.LICENSED: BUYER,
        mx.OTHER_BUYERS: {"other_buyer"},
    }


def _center_reviews_markers(s) -> dict[str, set]:
    return {
        mx.request_link(s.in_review): CENTER,
        mx.request_link(s.other_buyers_request): CENTER,
        mx.request_link(s.at_operator): NOBODY,  # not waiting for the center
        mx.IN_REVIEW: CENTER,
        mx.OTHER_BUYERS: CENTER,
    }


def _operator_reviews_markers(s) -> dict[str, set]:
    return {mx.request_link(s.at_operator): {"operator"}, mx.request_link(s.in_review): NOBODY}


def _operator_requests_markers(s) -> dict[str, set]:
    return {
        mx.request_link(s.in_review): {"operator"},
        mx.request_link(s.at_operator): {"operator"},
        mx.request_link(s.other_buyers_request): {"operator"},
    }


def _license_markers(s) -> dict[str, set]:
    return {mx.license_link(s.license): PARTIES, mx.LICENSED: PARTIES}


def _invoice_markers(s) -> dict[str, set]:
    return {s.invoice.number: PARTIES, mx.INVOICED: PARTIES}


def _notification_markers(s) -> dict[str, set]:
    return {mx.NOTE: {"buyer_analyst"}}


def _audit_markers(s) -> dict[str, set]:
    """Events name the request (its dataset's title): the parties to it and operators."""
    return {
        mx.LICENSED: PARTIES,
        mx.INVOICED: PARTIES,
        mx.OTHER_BUYERS: CENTER | {"other_buyer", "operator"},
    }


def _center_datasets_markers(s) -> dict[str, set]:
    return {
        # Operators see every center's datasets (their breadcrumbs lead here: issue 17).
        mx.PUBLISHED: MANAGERS_OF_DATA,
        mx.DRAFT: MANAGERS_OF_DATA,
        mx.RETIRED: MANAGERS_OF_DATA,
        mx.OTHER_CENTER_DRAFT: {"other_center_curator", "operator"},
    }


def _dashboard_markers(s) -> dict[str, set]:
    return {
        mx.PUBLISHED: MANAGERS_OF_DATA,
        mx.DRAFT: MANAGERS_OF_DATA,
        mx.OTHER_CENTER_DRAFT: {"other_center_curator", "operator"},
    }


def _offer_markers(d) -> dict[str, set]:
    return {mx.ACTIVE_OFFER: ALL, mx.INACTIVE_OFFER: MANAGERS_OF_DATA}


def _organization_markers(s) -> dict[str, set]:
    return {s.pending_org.name: {"operator"}}


def _invitation(world) -> Invitation:
    """The buyer's manager invites the other buyer's analyst to the buyer."""
    return account_services.membership_invite(
        actor=world.buyer_manager, organization=world.buyer, email=world.other_buyer.email, role="analyst"
    )


def _invitation_state(i: Invitation):
    return Invitation.objects.values_list("state", flat=True).get(pk=i.pk), Membership.objects.count()


def _invitation_markers(i: Invitation) -> dict[str, set]:
    return {f'id="invitation-{i.pk}"': {"other_buyer"}}


def _sent_invitation_markers(i: Invitation) -> dict[str, set]:
    """The buyer's members see what it sent; nobody else."""
    return {f'id="sent-invitation-{i.pk}"': BUYER}


def _invitation_count(_target=None):
    return Invitation.objects.count(), Membership.objects.count()


def _unconfirmed_signup(world) -> str:
    """The confirmation link of a sign-up that was not confirmed yet."""
    user = User.objects.create_user(email="mx-new@shop.kr", password="mx-long-passphrase", is_active=False)
    user.mx_link = (
        f"/signup/confirm/{urlsafe_base64_encode(force_bytes(user.pk))}/"
        f"{default_token_generator.make_token(user)}/"
    )
    return user


# --- the matrix ---------------------------------------------------------------------------------

OPEN_TO_ALL = cells((ALL, 200))
LIST_FOR_SIGNED_IN = cells((AUTHENTICATED, 200))
REVIEW_AT_CENTER = cells(
    ({"center_reviewer", "center_manager"}, CHANGED), (BUYER | {"center_curator", "operator"}, 403)
)
REVIEW_AT_OPERATOR = cells(({"operator"}, CHANGED), (BUYER | CENTER, 403))
BUYER_ACTS = cells((BUYER, CHANGED), (CENTER | {"operator"}, 403))
EDITORS_ACT = cells((EDITORS, CHANGED), (NOT_EDITORS, 403))
EDITORS_ACT_ON_FORM = cells((EDITORS, CHANGED), (NOT_EDITORS, FORM))
CENTER_PAGE = cells((MANAGERS_OF_DATA, 200))
OPERATOR_PAGE = cells(({"operator"}, 200))
OPERATOR_DECIDES_ORG = cells(({"operator"}, CHANGED), ({"unverified_buyer_member"}, 403))

MATRIX: list[Row] = [
    # --- public pages -------------------------------------------------------------------------
    Row("home", "get", mx.scene, lambda s: "/", OPEN_TO_ALL, sees=_public_markers),
    Row("signup", "get", None, lambda o: "/signup/", cells((AUTHENTICATED, HOME), anonymous=200)),
    Row(
        "signup",
        "post",
        None,
        lambda o: "/signup/",
        cells((AUTHENTICATED, HOME), anonymous=FORM),
        body={"email": "mx@new.kr"},
        state=lambda o: (Organization.objects.count(), AccessRequest.objects.count()),
    ),
    Row(
        "signup-confirm",
        "get",
        _unconfirmed_signup,
        lambda u: u.mx_link,
        cells((AUTHENTICATED, CHANGED), anonymous=CHANGED),
        state=lambda u: User.objects.values_list("is_active", flat=True).get(pk=u.pk),
    ),  # the link is the credential, whoever follows it
    Row(
        "signup-confirm",
        "get",
        None,
        lambda o: "/signup/confirm/MQ/bad-token/",
        cells((AUTHENTICATED, HOME), anonymous=HOME),
        label="bad link",
    ),
    Row(
        "invitations",
        "get",
        _invitation,
        lambda i: "/invitations/",
        LIST_FOR_SIGNED_IN,
        sees=_invitation_markers,
    ),
    Row(
        "invitation-accept",
        "post",
        _invitation,
        lambda i: f"/invitations/{i.pk}/accept/",
        cells(({"other_buyer"}, CHANGED), (BUYER | {"operator"}, 403)),  # the buyer sees its invitations
        body={},
        state=_invitation_state,
    ),
    Row(
        "invitation-decline",
        "post",
        _invitation,
        lambda i: f"/invitations/{i.pk}/decline/",
        cells(({"other_buyer"}, CHANGED), (BUYER | {"operator"}, 403)),  # the buyer sees its invitations
        body={},
        state=_invitation_state,
    ),
    Row(
        "members",
        "get",
        _invitation,
        lambda i: "/members/",
        LIST_FOR_SIGNED_IN,
        sees=_sent_invitation_markers,
    ),
    Row(
        "members-invite",
        "post",
        lambda w: w.buyer,
        lambda org: "/members/invite/",
        cells(({"buyer_manager", "operator"}, CHANGED), ({"buyer_analyst"}, 403)),
        body=lambda org: {"organization": org.pk, "email": "mx-invitee@shop.kr", "role": "analyst"},
        state=_invitation_count,
    ),
    Row(
        "members-invite",
        "post",
        mx.pending_org,
        lambda org: "/members/invite/",
        cells(({"unverified_buyer_member", "operator"}, 403)),
        body=lambda org: {"organization": org.pk, "email": "mx-invitee@shop.kr", "role": "analyst"},
        state=_invitation_count,
        label="unverified organization",
    ),
    Row(
        "invitation-withdraw",
        "post",
        _invitation,
        lambda i: f"/members/invitations/{i.pk}/withdraw/",
        cells(({"buyer_manager", "operator"}, CHANGED), ({"buyer_analyst", "other_buyer"}, 403)),
        body={},
        state=_invitation_state,
    ),
    Row("catalog-jsonld", "get", mx.scene, lambda s: "/catalog.jsonld", OPEN_TO_ALL, sees=_public_markers),
    Row("privacy", "get", mx.scene, lambda s: "/privacy/", OPEN_TO_ALL),
    Row("terms", "get", mx.scene, lambda s: "/terms/", OPEN_TO_ALL),
    Row("privacy-policy", "get", mx.scene, lambda s: "/privacy-policy/", OPEN_TO_ALL),
    Row("support", "get", mx.scene, lambda s: "/support/", OPEN_TO_ALL),
    Row("catalog", "get", mx.scene, lambda s: "/datasets/", OPEN_TO_ALL, sees=_catalog_markers),
    # --- regional economy insights (open statistics: everyone) ---------------------------------
    Row("insights", "get", None, lambda o: "/insights/", OPEN_TO_ALL),
    Row("insights-region", "get", None, lambda o: "/insights/regions/41110/", OPEN_TO_ALL),
    Row("insights-region", "get", None, lambda o: "/insights/regions/11110/", cells((ALL, 404))),
    Row("insights-compare", "get", None, lambda o: "/insights/compare/", OPEN_TO_ALL),
    Row("insights-chart", "get", None, lambda o: "/insights/charts/gg-map/", OPEN_TO_ALL),
    Row(
        "insights-chart",
        "get",
        None,
        lambda o: "/insights/charts/region-trend/",
        cells((ALL, 404)),
    ),
    Row(
        "insights-release-csv",
        "get",
        mx.insight_release,
        lambda r: f"/insights/releases/{r.slug}.csv",
        OPEN_TO_ALL,
    ),
    Row(
        "insights-release-csv",
        "get",
        mx.retired_insight_release,
        lambda r: f"/insights/releases/{r.slug}.csv",
        cells((MANAGERS_OF_DATA, 200), anonymous=404),
    ),
    Row(
        "dataset-page",
        "get",
        mx.published,
        lambda d: f"/datasets/{d.slug}/",
        OPEN_TO_ALL,
        sees=_offer_markers,
    ),
    Row(
        "dataset-page",
        "get",
        mx.draft,
        lambda d: f"/datasets/{d.slug}/",
        cells((MANAGERS_OF_DATA, 200), anonymous=404),
    ),
    Row(
        "dataset-page",
        "get",
        mx.retired,
        lambda d: f"/datasets/{d.slug}/",
        cells((MANAGERS_OF_DATA, 200), anonymous=404),
    ),
    # --- buyers request an offer ---------------------------------------------------------------
    Row(
        "request-new",
        "get",
        mx.active_offer,
        lambda o: f"/datasets/{o.dataset.slug}/request/{o.pk}/",
        cells((BUYER_KIND, 200)),
    ),
    Row(
        "request-new",
        "get",
        mx.draft_offer,
        lambda o: f"/datasets/{o.dataset.slug}/request/{o.pk}/",
        cells(),
    ),
    Row(
        "request-new",
        "get",
        mx.retired_offer,
        lambda o: f"/datasets/{o.dataset.slug}/request/{o.pk}/",
        cells(),
    ),
    Row(
        "request-new",
        "get",
        mx.inactive_offer,
        lambda o: f"/datasets/{o.dataset.slug}/request/{o.pk}/",
        cells(),  # buyers may not see a closed offer (nor request it); the others are no buyers
        sees=lambda o: {mx.INACTIVE_OFFER: NOBODY},
    ),
    Row(
        "request-new",
        "get",
        mx.offer_under_another_slug,
        lambda t: f"/datasets/{t.slug}/request/{t.offer.pk}/",
        cells(),
    ),
    Row(
        "request-new",
        "post",
        mx.active_offer,
        lambda o: f"/datasets/{o.dataset.slug}/request/{o.pk}/",
        # A member of an unverified organization sees the form; the service refuses on it.
        cells((BUYER | {"other_buyer"}, CHANGED), ({"unverified_buyer_member"}, FORM)),
        body=REQUEST_FORM,
        state=_request_count,
    ),
    # --- requests -----------------------------------------------------------------------------
    Row(
        "my-requests", "get", mx.scene, lambda s: "/requests/", LIST_FOR_SIGNED_IN, sees=_my_requests_markers
    ),
    Row(
        "request-detail",
        "get",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/",
        cells((PARTIES, 200)),
    ),
    Row(
        "request-detail",
        "post",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/",
        cells((PARTIES, CHANGED)),
        body={"body": "mx 문의드립니다"},
        state=lambda r: RequestMessage.objects.filter(access_request_id=r.pk).count(),
        label="message",
    ),
    Row(
        "request-edit",
        "get",
        mx.request_at(State.CHANGES_REQUESTED),
        lambda r: f"/requests/{r.pk}/edit/",
        # The view answers 404 to parties who are not the buyer (centers, operators).
        cells((BUYER, 200)),
    ),
    Row(
        "request-edit",
        "get",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/edit/",
        cells((BUYER, REDIRECT)),  # not returned for changes: back to the request
    ),
    Row(
        "request-edit",
        "post",
        mx.request_at(State.CHANGES_REQUESTED),
        lambda r: f"/requests/{r.pk}/edit/",
        cells((BUYER, CHANGED)),
        body={**REQUEST_FORM, "purpose": "mx 바뀐 목적"},
        state=_request_state,
    ),
    Row(
        "request-resubmit",
        "post",
        mx.request_at(State.CHANGES_REQUESTED),
        lambda r: f"/requests/{r.pk}/resubmit/",
        BUYER_ACTS,
        body={},
        state=_request_state,
    ),
    Row(
        "request-withdraw",
        "post",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/withdraw/",
        BUYER_ACTS,
        body={"withdraw-reason": "mx 필요 없어짐"},
        state=_request_state,
    ),
    Row(
        "request-approve",
        "post",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/approve/",
        REVIEW_AT_CENTER,
        body=_approval,
        state=_request_state,
    ),
    Row(
        "request-approve",
        "post",
        mx.request_at(State.OPERATOR_REVIEW),
        lambda r: f"/requests/{r.pk}/approve/",
        REVIEW_AT_OPERATOR,
        body=_approval,
        state=_request_state,
    ),
    Row(
        "request-return",
        "post",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/return/",
        REVIEW_AT_CENTER,
        body={"return-message": "mx 기간을 줄여 주세요"},
        state=_request_state,
    ),
    Row(
        "request-return",
        "post",
        mx.request_at(State.OPERATOR_REVIEW),
        lambda r: f"/requests/{r.pk}/return/",
        REVIEW_AT_OPERATOR,
        body={"return-message": "mx 기간을 줄여 주세요"},
        state=_request_state,
    ),
    Row(
        "request-reject",
        "post",
        mx.request_at(State.CENTER_REVIEW),
        lambda r: f"/requests/{r.pk}/reject/",
        REVIEW_AT_CENTER,
        body={"reject-reason": "mx 목적 불분명"},
        state=_request_state,
    ),
    Row(
        "request-reject",
        "post",
        mx.request_at(State.OPERATOR_REVIEW),
        lambda r: f"/requests/{r.pk}/reject/",
        REVIEW_AT_OPERATOR,
        body={"reject-reason": "mx 목적 불분명"},
        state=_request_state,
    ),
    # --- licenses -----------------------------------------------------------------------------
    Row("my-licenses", "get", mx.scene, lambda s: "/licenses/", LIST_FOR_SIGNED_IN, sees=_license_markers),
    Row("license-detail", "get", mx.license_of, lambda lic: f"/licenses/{lic.pk}/", cells((PARTIES, 200))),
    Row(
        "license-extracts-status",
        "get",
        mx.license_of,
        lambda lic: f"/licenses/{lic.pk}/extracts.json",
        cells((PARTIES, 200)),
    ),
    Row(
        "license-extract-request",
        "post",
        mx.license_of,
        lambda lic: f"/licenses/{lic.pk}/extracts/",
        BUYER_ACTS,
        body={"format": "parquet"},
        state=lambda lic: Extract.objects.filter(license_id=lic.pk).count(),
    ),
    Row(
        "license-extract-download",
        "post",
        mx.ready_extract,
        lambda e: f"/licenses/{e.license_id}/extracts/{e.pk}/download/",
        # The buyer is sent to a signed link; nothing is counted until it is followed.
        cells((BUYER, REDIRECT), (CENTER | {"operator"}, 403)),
        body={},
        state=_extract_state,
    ),
    Row(
        "license-extract-download",
        "post",
        mx.foreign_extract,
        lambda t: f"/licenses/{t.license.pk}/extracts/{t.extract.pk}/download/",
        cells(),  # the file is looked up within the license in the URL: nobody gets it
        body={},
        state=lambda t: _extract_state(t.extract),
        label="file of another license",
    ),
    Row(
        "license-renew",
        "post",
        mx.license_of,
        lambda lic: f"/licenses/{lic.pk}/renew/",
        BUYER_ACTS,
        body={"accept_terms": "on"},
        state=_request_count,
    ),
    Row(
        "license-revoke",
        "post",
        mx.license_of,
        lambda lic: f"/licenses/{lic.pk}/revoke/",
        cells(
            ({"center_manager", "operator"}, CHANGED), (BUYER | {"center_curator", "center_reviewer"}, 403)
        ),
        body={"revoke-reason": "mx 약관 위반"},
        state=_license_state,
    ),
    # --- invoices -----------------------------------------------------------------------------
    Row("invoices", "get", mx.scene, lambda s: "/invoices/", LIST_FOR_SIGNED_IN, sees=_invoice_markers),
    Row("invoice-detail", "get", mx.invoice_of, lambda inv: f"/invoices/{inv.pk}/", cells((PARTIES, 200))),
    Row(
        "invoice-print", "get", mx.invoice_of, lambda inv: f"/invoices/{inv.pk}/print/", cells((PARTIES, 200))
    ),
    Row(
        "invoice-detail",
        "post",
        mx.invoice_of,
        lambda inv: f"/invoices/{inv.pk}/",
        cells(({"operator"}, CHANGED), (BUYER | CENTER, 403)),
        body={"reference": "mx KB-1", "idempotency_key": "mx-matrix-1"},
        state=lambda inv: Invoice.objects.values_list("state", "paid_at").get(pk=inv.pk),
        label="mark paid",
    ),
    # --- notifications and audit --------------------------------------------------------------
    Row(
        "notifications",
        "get",
        mx.scene,
        lambda s: "/notifications/",
        LIST_FOR_SIGNED_IN,
        sees=_notification_markers,
    ),
    Row(
        "notifications-read-all",
        "post",
        mx.analysts_notification,
        lambda n: "/notifications/read-all/",
        # Everyone may; only the analyst's own read-all touches the analyst's notification.
        cells(({"buyer_analyst"}, CHANGED), (AUTHENTICATED - {"buyer_analyst"}, REDIRECT)),
        body={},
        state=lambda n: type(n).objects.values_list("read_at", flat=True).get(pk=n.pk),
    ),
    Row(
        "notification-read",
        "post",
        mx.analysts_notification,
        lambda n: f"/notifications/{n.pk}/read/",
        cells(({"buyer_analyst"}, CHANGED)),
        body={},
        state=lambda n: type(n).objects.values_list("read_at", flat=True).get(pk=n.pk),
    ),
    Row("audit", "get", mx.scene, lambda s: "/audit/", LIST_FOR_SIGNED_IN, sees=_audit_markers),
    # --- centers ------------------------------------------------------------------------------
    Row(
        "center-reviews",
        "get",
        mx.scene,
        lambda s: "/center/reviews/",
        cells((CENTER_KIND, 200)),
        sees=_center_reviews_markers,
    ),
    Row(
        "center-dashboard",
        "get",
        mx.scene,
        lambda s: "/center/dashboard/",
        cells((CENTER_KIND | {"operator"}, 200)),
        sees=_dashboard_markers,
    ),
    Row(
        "center-datasets",
        "get",
        mx.scene,
        lambda s: "/center/",
        cells((CENTER_KIND | {"operator"}, 200)),
        sees=_center_datasets_markers,
    ),
    Row("center-dataset-new", "get", None, lambda o: "/center/datasets/new/", cells((CENTER_KIND, 200))),
    Row(
        "center-dataset-new",
        "post",
        None,
        lambda o: "/center/datasets/new/",
        # Every center's editors create datasets for their own center; reviewers may not.
        cells(
            ({"center_curator", "center_manager", "other_center_curator"}, CHANGED),
            ({"center_reviewer"}, FORM),
        ),
        body={**DATASET_FORM, "title": "mxNewDataset"},
        state=lambda o: Dataset.objects.count(),
    ),
    Row("center-dataset", "get", mx.draft, lambda d: f"/center/datasets/{d.slug}/", CENTER_PAGE),
    Row("center-dataset", "get", mx.published, lambda d: f"/center/datasets/{d.slug}/", CENTER_PAGE),
    Row("center-dataset-edit", "get", mx.draft, lambda d: f"/center/datasets/{d.slug}/edit/", CENTER_PAGE),
    Row(
        "center-dataset-edit",
        "post",
        mx.published,
        lambda d: f"/center/datasets/{d.slug}/edit/",
        EDITORS_ACT_ON_FORM,
        body=DATASET_FORM,
        state=_dataset_state,
    ),
    Row(
        "center-dataset-retire",
        "post",
        mx.published,
        lambda d: f"/center/datasets/{d.slug}/retire/",
        EDITORS_ACT,
        body={},
        state=_dataset_state,
    ),
    Row(
        "center-version-upload", "get", mx.draft, lambda d: f"/center/datasets/{d.slug}/upload/", CENTER_PAGE
    ),
    Row(
        "center-version-upload",
        "post",
        mx.draft,
        lambda d: f"/center/datasets/{d.slug}/upload/",
        EDITORS_ACT_ON_FORM,
        body=_upload,
        state=lambda d: DatasetVersion.objects.filter(dataset_id=d.pk).count(),
    ),
    Row(
        "center-offer-new",
        "get",
        mx.published,
        lambda d: f"/center/datasets/{d.slug}/offers/new/",
        CENTER_PAGE,
    ),
    Row(
        "center-offer-new",
        "post",
        mx.published,
        lambda d: f"/center/datasets/{d.slug}/offers/new/",
        EDITORS_ACT_ON_FORM,
        body=OFFER_FORM,
        state=lambda d: Offer.objects.filter(dataset_id=d.pk).count(),
    ),
    Row("center-offer-edit", "get", mx.active_offer, lambda o: f"/center/offers/{o.pk}/", CENTER_PAGE),
    Row(
        "center-offer-risk-status",
        "get",
        mx.active_offer,
        lambda o: f"/center/offers/{o.pk}/risk-status/",
        CENTER_PAGE,
    ),
    Row(
        "center-offer-edit",
        "post",
        mx.active_offer,
        lambda o: f"/center/offers/{o.pk}/",
        EDITORS_ACT_ON_FORM,
        body=OFFER_FORM,
        state=_offer_state,
    ),
    Row("center-version", "get", mx.ready_version, lambda v: f"/center/versions/{v.pk}/", CENTER_PAGE),
    Row(
        "center-version",
        "get",
        lambda w: mx.published(w).current_version,
        lambda v: f"/center/versions/{v.pk}/",
        CENTER_PAGE,  # the public current version too: the center's page is the center's
        label="published version",
    ),
    Row(
        "center-version",
        "post",
        mx.ready_version,
        lambda v: f"/center/versions/{v.pk}/",
        EDITORS_ACT_ON_FORM,
        body=_fields_form,
        state=_version_state,
        label="fields",
    ),
    Row(
        "center-version-status",
        "get",
        mx.ready_version,
        lambda v: f"/center/versions/{v.pk}/status.json",
        CENTER_PAGE,
    ),
    Row(
        "center-version-publish",
        "post",
        mx.ready_version,
        lambda v: f"/center/versions/{v.pk}/publish/",
        EDITORS_ACT,
        body={},
        state=_version_state,
    ),
    # --- operators ----------------------------------------------------------------------------
    Row("operator-home", "get", None, lambda o: "/operator/", OPERATOR_PAGE),
    Row(
        "operator-organizations",
        "get",
        mx.scene,
        lambda s: "/operator/organizations/",
        OPERATOR_PAGE,
        sees=_organization_markers,
    ),
    Row(
        "operator-organization-verify",
        "post",
        mx.pending_org,
        lambda org: f"/operator/organizations/{org.pk}/verify/",
        OPERATOR_DECIDES_ORG,
        body={},
        state=_organization_state,
    ),
    Row(
        "organization-certificate",
        "get",
        mx.org_with_certificate,
        lambda org: f"/organizations/{org.pk}/certificate/",
        cells(({"unverified_buyer_member", "operator"}, 200)),
    ),
    Row(
        "operator-organization-reject",
        "post",
        mx.pending_org,
        lambda org: f"/operator/organizations/{org.pk}/reject/",
        OPERATOR_DECIDES_ORG,
        body={"reason": "mx 서류 미비"},
        state=_organization_state,
    ),
    Row(
        "operator-reviews",
        "get",
        mx.scene,
        lambda s: "/operator/reviews/",
        OPERATOR_PAGE,
        sees=_operator_reviews_markers,
    ),
    Row(
        "operator-requests",
        "get",
        mx.scene,
        lambda s: "/operator/requests/",
        OPERATOR_PAGE,
        sees=_operator_requests_markers,
    ),
    Row("operator-leaks", "get", None, lambda o: "/operator/leaks/", OPERATOR_PAGE),
    Row("operator-risk-threshold", "get", None, lambda o: "/operator/risk-threshold/", OPERATOR_PAGE),
    Row(
        "operator-risk-threshold",
        "post",
        None,
        lambda o: "/operator/risk-threshold/",
        cells(({"operator"}, FORM)),  # k of 1 would switch the rule off: the form says so
        body={"min_k": 1, "max_sample_uniqueness": 1, "max_unicity": 10, "max_linkage": 5},
        state=lambda o: list(RiskThresholdSetting.objects.values_list("min_k", flat=True)),
    ),
    Row(
        "operator-leaks",
        "post",
        mx.published,
        lambda d: "/operator/leaks/",
        cells(({"operator"}, FORM)),  # no file: the form says so, nothing is traced
        body=lambda d: {"dataset": d.slug},
        state=lambda d: (
            License.objects.count(),
            Dataset.objects.filter(pk=d.pk).values_list("updated_at")[0],
        ),
    ),
]


# --- running a row --------------------------------------------------------------------------------


@pytest.fixture
def world(operator_org, operator, center, buyer):
    return make_world(operator_org, operator, center, buyer)


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _outcome(expected, response, path: str) -> str:
    """'' when the response is what `expected` says, else what went wrong."""
    status = response.status_code
    location = response.get("Location", "")
    login = redirect_to_login(path)["Location"]
    if expected == LOGIN:
        ok = status == 302 and location == login
    elif expected == HOME:
        ok = status == 302 and location == "/"
    elif expected in (REDIRECT, CHANGED):
        ok = status == 302 and not location.startswith(login.split("?")[0])
    elif expected == FORM:
        ok = status == 200
    else:
        ok = status == expected
    return "" if ok else f"expected {expected}, got {status}{' → ' + location if location else ''}"


def _marker_problems(actor: str, html: str, sees: dict[str, set]) -> list[str]:
    problems = []
    for marker, viewers in sees.items():
        shown = marker in html
        if actor in viewers and not shown:
            problems.append(f"does not see {marker!r}")
        elif actor not in viewers and shown:
            problems.append(f"sees {marker!r}")
    return problems


def _post_only(route: str) -> bool:
    return _web_routes().get(route) == {"post"}


def _params():
    params = []
    for row in MATRIX:
        marks = [pytest.mark.xfail(strict=True, reason=row.xfail)] if row.xfail else []
        params.append(pytest.param(row, id=row.id, marks=marks))
    return params


@pytest.mark.parametrize("row", _params())
def test_page_matrix(world, row: Row):
    target = row.setup(world) if row.setup else None
    path = row.path(target)
    assert resolve(path).url_name == row.route, (path, row.route)
    sees = row.sees(target) if row.sees else {}
    mismatches = []
    for actor in ACTORS:
        expected = row.expected[actor]
        problems = []
        with transaction.atomic():
            client = _client(world.actor(actor))
            before = row.state(target) if row.state else None
            body = row.body(target) if callable(row.body) else row.body
            call = getattr(client, row.method)
            response = call(path, body) if body is not None else call(path)
            if problem := _outcome(expected, response, path):
                problems.append(problem)
            if row.state:
                after = row.state(target)
                if expected == CHANGED and after == before:
                    problems.append("nothing changed")
                elif expected != CHANGED and after != before:
                    problems.append(f"changed {before!r} → {after!r}")
            if sees and response.status_code == 200 and not problems:
                problems += _marker_problems(actor, response.content.decode(), sees)
            transaction.set_rollback(True)
        mismatches += [f"{actor}: {p}" for p in problems]
    if row.method == "post" and _post_only(row.route):
        response = _client(world.operator).get(path)
        if response.status_code != 405:
            mismatches.append(f"GET by a signed-in caller: expected 405, got {response.status_code}")
    assert not mismatches, f"{row.id}: {len(mismatches)} mismatching cell(s)\n  " + "\n  ".join(mismatches)


# --- coverage -------------------------------------------------------------------------------------


def _methods(callback) -> set[str]:
    """The methods a function view answers: those of its @require_http_methods, else GET, and
    POST when its code reads the POST body or asks whether the method is POST."""
    func = callback
    while func is not None:
        code = getattr(func, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars:
            cell = func.__closure__[code.co_freevars.index("request_method_list")]
            return {m.lower() for m in cell.cell_contents}
        func = getattr(func, "__wrapped__", None)
    code = inspect.unwrap(callback).__code__  # `request.POST` or `request.method == "POST"`
    reads_post = "POST" in code.co_names or "POST" in code.co_consts
    return {"get", "post"} if reads_post else {"get"}


def _web_routes() -> dict[str, set[str]]:
    from config import web_urls

    routes: dict[str, set[str]] = {}

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                routes.setdefault(pattern.name, set()).update(_methods(pattern.callback))

    walk(web_urls.urlpatterns)
    return routes


def test_every_web_route_has_a_row():
    routes = {(name, method) for name, methods in _web_routes().items() for method in methods}
    covered = {(row.route, row.method) for row in MATRIX}
    assert routes - covered == set(), "web routes without a row in MATRIX"
    assert covered - routes == set(), "rows in MATRIX for routes or methods that no longer exist"

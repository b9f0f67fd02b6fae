"""A realistic world for fuzzing the API in-process, built once per module.

Schemathesis runs many Hypothesis examples inside one pytest test, and function-scoped
database fixtures do not reset between examples. So the world is built once for the module
inside an outer transaction (rolled back at the end of the module); each fuzzed operation
then runs in its own `db` savepoint, so whatever one operation's examples change (an
approval, a withdrawal, a revocation) is undone before the next operation starts. Examples of
the same operation do see each other's changes: that is fine, as long as none answers with a
5xx or a body the schema does not describe."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import TestCase

from accounts import services as account_services
from accounts.models import Invitation, Membership, Organization
from catalog import services as catalog_services
from catalog.models import Dataset, DatasetVersion, Offer
from marketplace.actors import SYSTEM
from tests import factories
from tests.transactions.factories import World, make_world, request_in_state, submit
from transactions import services
from transactions.models import AccessRequest, Extract, Invoice, License, Notification

State = AccessRequest.State

# The callers the API is fuzzed as (issue 8): a buyer's analyst and a center's curator.
FUZZ_ACTORS = ["buyer_analyst", "center_curator"]

RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]

# A small upload in the center's usual shape (CP949 is what their exports come in).
DRAFT_CSV = "시군코드,시군명,업종,금액,승인일시\n" + "".join(
    f"{code},{name},{industry},{1000 * (i % 7 + 1)},2024-0{1 + i % 6}-1{i % 10} 12:00:00\n"
    for i, (code, name, industry) in enumerate(
        [("41110", "수원시", "음식점"), ("41130", "성남시", "카페")] * 15
    )
)


@dataclass
class FuzzWorld:
    world: World
    tokens: dict[str, str]
    # (path prefix of an operation, path parameter) → values that name real objects.
    path_values: dict[tuple[str, str], list] = field(default_factory=dict)
    # A request body's field → values that name real objects (offers, organizations…).
    body_values: dict[str, list] = field(default_factory=dict)

    def known_path_values(self, path: str, parameter: str) -> list:
        """Real values for `parameter` of the operation at `path` (the longest prefix wins)."""
        matches = [
            (len(prefix), values)
            for (prefix, name), values in self.path_values.items()
            if name == parameter and path.startswith(prefix)
        ]
        return max(matches, key=lambda match: match[0])[1] if matches else []


def _capture():
    """Run the work queued on commit (ingestion, license issue, extract builds) now: the whole
    world lives inside one transaction that never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def build_world() -> FuzzWorld:
    operator_org = factories.OrganizationFactory(kind="operator", name="장터 운영팀", buyer_category="")
    operator = factories.member(operator_org, "operator", email="operator@example.kr")
    center = factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")
    buyer = factories.OrganizationFactory(kind="buyer", name="골목카페", buyer_category="sme")
    world = make_world(operator_org, operator, center, buyer)

    # A published dataset with real data (a Unicode slug, as dataset_create makes from Korean
    # titles), an offer approved automatically, a withdrawn one, another center's dataset.
    dataset = factories.published_dataset(
        center, with_data=True, row_count=120, slug="경기지역화폐-결제-내역", keywords=["지역화폐", "카드"]
    )
    other_dataset = factories.published_dataset(world.other_center, with_data=True, row_count=30)
    automatic = factories.OfferFactory(
        dataset=dataset, name="즉시 제공", fields=RECORDS, approval=Offer.Approval.AUTOMATIC, download_quota=5
    )
    factories.OfferFactory(dataset=dataset, name="중단된 제공", is_active=False)
    factories.OfferFactory(dataset=other_dataset, name="다른 센터의 제공", approval=Offer.Approval.AUTOMATIC)

    # Requests in every state, by the buyer's analyst, through the real services.
    requests = {
        state: request_in_state(world, state, dataset=dataset)
        for state in (
            State.CENTER_REVIEW,
            State.OPERATOR_REVIEW,
            State.AWAITING_PAYMENT,
            State.CHANGES_REQUESTED,
            State.REJECTED,
            State.WITHDRAWN,
            State.LAPSED,
        )
    }
    for author in (world.center_curator, world.buyer_analyst):
        services.access_request_message_post(
            actor=author,
            access_request=requests[State.CHANGES_REQUESTED],
            body="기간을 1분기로 줄이겠습니다.",
        )

    with _capture():
        # A license issued on approval, whose file the platform builds (csv_bom), plus a JSONL
        # file the buyer asked for; the other buyer's license is invisible to our buyer.
        licensed = submit(
            world.buyer_analyst,
            automatic,
            scope={
                "fields": RECORDS,
                "regions": ["41110", "41130"],
                "date_from": "2024-01-01",
                "date_to": "2024-03-31",
            },
        )
        license = License.objects.get(access_request=licensed)
        services.extract_request(actor=world.buyer_analyst, license=license, format="jsonl")
        submit(world.other_buyer, automatic)
        # A priced request paid by bank transfer: an invoice paid, a license issued.
        paid = request_in_state(world, State.AWAITING_PAYMENT, dataset=dataset, price_krw=250_000)
        services.invoice_mark_paid(
            actor=world.operator, invoice=Invoice.objects.get(access_request=paid), reference="입금 2024-0001"
        )
        # A draft dataset of the center with an ingested (ready, unpublished) version.
        draft = catalog_services.dataset_create(
            actor=world.center_curator,
            center=center,
            title="성남시 카페 매출",
            summary="업종별 월 매출",
            theme="commercial_district",
            regions=["41130"],
        )
        catalog_services.version_upload(
            actor=world.center_curator,
            dataset=draft,
            file=SimpleUploadedFile("sales.csv", DRAFT_CSV.encode("cp949")),
            filename="sales.csv",
        )
    extracts = list(Extract.objects.filter(license=license))
    assert extracts and all(e.status == Extract.Status.SUCCEEDED for e in extracts), [
        (e.format, e.status, e.error) for e in extracts
    ]
    draft.refresh_from_db()
    draft_version = draft.versions.get()
    assert draft_version.status == "ready", (draft_version.status, draft_version.error)

    # One download already made, so the license's download history is not empty.
    token, _expires = services.extract_download_link(actor=world.buyer_analyst, extract=extracts[0])
    services.extract_download(actor=SYSTEM, token=token)
    link, _expires = services.extract_download_link(actor=world.buyer_analyst, extract=extracts[0])

    # An open invitation of the buyer to the other buyer's analyst.
    account_services.membership_invite(
        actor=world.buyer_manager, organization=buyer, email=world.other_buyer.email, role="analyst"
    )
    invitations = list(Invitation.objects.values_list("pk", flat=True))

    organizations = list(Organization.objects.values_list("pk", flat=True))
    return FuzzWorld(
        world=world,
        tokens={
            name: account_services.api_token_create(actor=SYSTEM, user=getattr(world, name))[1]
            for name in FUZZ_ACTORS
        },
        path_values={
            ("/api/v1/datasets/{slug}/", "slug"): list(Dataset.objects.values_list("slug", flat=True)),
            ("/api/v1/versions/{id}/", "id"): list(DatasetVersion.objects.values_list("pk", flat=True)),
            ("/api/v1/offers/{id}/", "id"): list(Offer.objects.values_list("pk", flat=True)),
            ("/api/v1/organizations/{id}/", "id"): organizations,
            ("/api/v1/organizations/{organization_pk}/", "organization_pk"): organizations,
            ("/api/v1/organizations/{organization_pk}/members/{id}/", "id"): list(
                Membership.objects.values_list("pk", flat=True)
            ),
            ("/api/v1/organizations/{organization_pk}/invitations/{id}/", "id"): invitations,
            ("/api/v1/me/invitations/{id}/", "id"): invitations,
            ("/api/v1/requests/{id}/", "id"): list(AccessRequest.objects.values_list("pk", flat=True)),
            ("/api/v1/licenses/{id}/", "id"): list(License.objects.values_list("pk", flat=True)),
            ("/api/v1/invoices/{id}/", "id"): list(Invoice.objects.values_list("pk", flat=True)),
            ("/api/v1/extracts/{id}/", "id"): list(Extract.objects.values_list("pk", flat=True)),
            ("/api/v1/extracts/download/{token}/", "token"): [link],
            ("/api/v1/notifications/{id}/", "id"): list(Notification.objects.values_list("pk", flat=True)),
        },
        body_values={
            "offer": list(Offer.objects.values_list("pk", flat=True)),
            "organization": [buyer.pk, world.other_buyer_org.pk],
            "center": [center.pk, world.other_center.pk],
            "dataset": [dataset.slug, draft.slug],
            "email": [world.other_buyer.email, world.buyer_manager.email, "new-analyst@cafe.kr"],
            "password": [factories.PASSWORD],
            "accept_terms": [True],
            # Columns, regions and dates of the card payments, for scopes and offers.
            "fields": [RECORDS, ["sigungu_code", "amount"]],
            "regions": [["41110", "41130"], []],
            "date_from": ["2024-01-01"],
            "date_to": ["2024-03-31"],
            "region_field": ["sigungu_code"],
            "date_field": ["approved_at"],
            "dimensions": [["sigungu_code", "industry"]],
            "measures": [[{"field": "amount", "agg": "sum"}]],
        },
    )


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker):
    """The world, built once for the module in a transaction that is rolled back afterwards."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(scope="module")
def in_process_requests():
    """Requests reach Django's WSGI handler directly (not the test client), which closes the
    database connection at the end of each request: that would end the test's transaction.
    The test client avoids this the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

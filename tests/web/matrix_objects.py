"""Objects the web page matrix (test_page_matrix.py) puts in front of each caller, built
through the real services where one exists. Titles carry unique ASCII markers so a test can
tell from a page's HTML whether an object is on it."""

from __future__ import annotations

from types import SimpleNamespace

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from catalog import services as catalog
from catalog.models import Dataset, DatasetVersion, Offer
from tests import factories
from tests.transactions.factories import World, request_in_state, submit
from transactions.models import AccessRequest, Extract, Invoice, License, Notification

State = AccessRequest.State

# Unique strings that occur on a page only when the object bearing them is listed there.
PUBLISHED = "mxPublishedDatasetQ1"
ACTIVE_OFFER = "mxActiveOfferQ2"
INACTIVE_OFFER = "mxInactiveOfferQ3"
DRAFT = "mxDraftDatasetQ4"
RETIRED = "mxRetiredDatasetQ5"
OTHER_CENTER_DRAFT = "mxOtherCenterDraftQ6"
IN_REVIEW = "mxInCenterReviewQ7"
AT_OPERATOR = "mxAtOperatorReviewQ8"
LICENSED = "mxLicensedQ9"
INVOICED = "mxInvoicedQ10"
OTHER_BUYERS = "mxOtherBuyersRequestQ11"
NOTE = "mxAnalystsNotificationQ12"


def published(world: World) -> Dataset:
    """A published, featured dataset of the center with an open and a closed offer."""
    dataset = factories.published_dataset(world.center, title=PUBLISHED, featured=True)
    factories.OfferFactory(dataset=dataset, name=ACTIVE_OFFER)
    factories.OfferFactory(dataset=dataset, name=INACTIVE_OFFER, is_active=False)
    return dataset


def active_offer(world: World) -> Offer:
    return published(world).offers.get(name=ACTIVE_OFFER)


def inactive_offer(world: World) -> Offer:
    """An offer closed for requests: only its center and operators see it (the API's offer
    detail and the dataset page hide it from everyone else)."""
    return published(world).offers.get(name=INACTIVE_OFFER)


def draft(world: World) -> Dataset:
    return catalog.dataset_create(actor=world.center_curator, center=world.center, title=DRAFT)


def draft_offer(world: World) -> Offer:
    """An offer on a dataset that is not published (nobody may request it)."""
    return factories.OfferFactory(dataset=draft(world), name="mxDraftOffer")


def retired(world: World) -> Dataset:
    dataset = factories.published_dataset(world.center, title=RETIRED)
    return catalog.dataset_retire(actor=world.center_curator, dataset=dataset)


def retired_offer(world: World) -> Offer:
    """An offer of a dataset retired after it was published."""
    dataset = factories.published_dataset(world.center, title="mxRetiredWithOffer")
    offer = factories.OfferFactory(dataset=dataset, name="mxRetiredOffer")
    catalog.dataset_retire(actor=world.center_curator, dataset=dataset)
    return offer


def ready_version(world: World) -> DatasetVersion:
    """Version 2 of a published dataset: ingested (`ready`), not yet published."""
    return factories.ready_version(published(world))


def pending_org(world: World):
    return world.unverified_buyer


def org_with_certificate(world: World):
    """The unverified buyer, with the 사업자등록증 its manager uploaded at sign-up."""
    from django.core.files.base import ContentFile

    org = world.unverified_buyer
    org.registration_certificate.save(f"{org.pk}-matrix.pdf", ContentFile(b"%PDF-1.4 matrix"), save=True)
    return org


def _dataset(world: World, title: str) -> Dataset:
    return factories.published_dataset(world.center, title=title)


def request_at(state: str, title: str | None = None):
    """setup(world) → a request of the buyer's analyst in `state`."""

    def setup(world: World) -> AccessRequest:
        kwargs = {"dataset": _dataset(world, title)} if title else {}
        return request_in_state(world, state, **kwargs)

    setup.__name__ = f"request_{state}"
    return setup


def license_of(world: World) -> License:
    request = request_in_state(world, State.LICENSED, dataset=_dataset(world, LICENSED))
    return License.objects.get(access_request=request)


def invoice_of(world: World) -> Invoice:
    return request_in_state(world, State.AWAITING_PAYMENT, dataset=_dataset(world, INVOICED)).invoice


def ready_extract(world: World) -> Extract:
    """A built file of the buyer's license (a stand-in bundle in storage)."""
    license = license_of(world)
    name = default_storage.save(f"extracts/{license.pk}/matrix.zip", ContentFile(b"PK\x05\x06" + bytes(18)))
    return Extract.objects.create(
        license=license,
        version=license.dataset.current_version,
        format="csv",
        status=Extract.Status.SUCCEEDED,
        file=name,
        file_name="matrix.zip",
        bundle_sha256="0" * 64,
        bundle_bytes=22,
    )


def foreign_extract(world: World) -> SimpleNamespace:
    """The buyer's license and a file of another of its licenses (a mismatched URL)."""
    return SimpleNamespace(license=license_of(world), extract=ready_extract(world))


def offer_under_another_slug(world: World) -> SimpleNamespace:
    """An open offer, addressed under the slug of a dataset it does not belong to."""
    return SimpleNamespace(offer=active_offer(world), slug=_dataset(world, "mxUnrelated").slug)


def analysts_notification(world: World) -> Notification:
    """A notification of the buyer's analyst only, with a marker title (its verb is unknown to
    the renderer, so the page shows the stored title)."""
    return Notification.objects.create(
        recipient=world.buyer_analyst, verb="matrix.marker", title=NOTE, body=""
    )


def scene(world: World) -> SimpleNamespace:
    """Everything the list pages filter: datasets in each state (of this center and of the
    other), requests of the buyer in each review stage, one of another buyer, a license, an
    invoice and a notification of the analyst."""
    other_offer = factories.OfferFactory(dataset=_dataset(world, OTHER_BUYERS))
    return SimpleNamespace(
        published=published(world),
        draft=draft(world),
        retired=retired(world),
        other_center_draft=catalog.dataset_create(
            actor=world.other_center_curator, center=world.other_center, title=OTHER_CENTER_DRAFT
        ),
        in_review=request_at(State.CENTER_REVIEW, IN_REVIEW)(world),
        at_operator=request_at(State.OPERATOR_REVIEW, AT_OPERATOR)(world),
        license=license_of(world),
        invoice=invoice_of(world),
        other_buyers_request=submit(world.other_buyer, other_offer),
        note=analysts_notification(world),
        pending_org=world.unverified_buyer,
    )


def request_link(access_request: AccessRequest) -> str:
    return f'href="/requests/{access_request.pk}/"'


def license_link(license: License) -> str:
    return f'href="/licenses/{license.pk}/"'


def insight_release(world: World):
    """An open statistics release of the center's published dataset (no edition built yet)."""
    from insights import services as insights
    from marketplace.actors import SYSTEM

    return insights.release_publish(
        actor=SYSTEM,
        dataset=factories.published_dataset(world.center),
        slug="mx-insight",
        title="mxInsightRelease",
        dimensions=[{"name": "sigungu_code", "field": "sigungu_code"}],
        measures=[{"field": "amount", "agg": "sum"}],
        subject_field="card_id",
    )


def retired_insight_release(world: World):
    from insights import services as insights
    from marketplace.actors import SYSTEM

    return insights.release_retire(actor=SYSTEM, release=insight_release(world))

"""One rule per catalog operation, named like its service (STYLE.md habit 3).

Ownership of a dataset is a django-guardian object permission held by the center's group
(assigned when the dataset is created); which members of that group may change it is their
role: curators and managers."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import Membership, Organization
from accounts.permissions import organization_ids_with, organization_is_active, sees_everything
from accounts.selectors import is_operator, roles_by_organization, roles_in
from catalog.models import Dataset, DatasetVersion
from marketplace.actors import is_authenticated, is_system
from marketplace.authz import is_visible

Role = Membership.Role
EDITORS = {Role.CURATOR, Role.MANAGER}


def dataset_visible(actor) -> Q:
    """Published datasets are public; drafts and retired ones only for their center and
    operators."""
    if sees_everything(actor):
        return Q()
    return Q(status=Dataset.Status.PUBLISHED) | Q(center_id__in=organization_ids_with(actor))


def dataset_managed(actor) -> Q:
    """Datasets whose center-side detail (all versions, errors, drafts) the actor sees."""
    if sees_everything(actor):
        return Q()
    return Q(center_id__in=organization_ids_with(actor))


def version_visible(actor) -> Q:
    """Every version of the actor's own centers' datasets (all, for operators); for others
    only the published current version of a published dataset."""
    if sees_everything(actor):
        return Q()
    public = Q(dataset__status=Dataset.Status.PUBLISHED, current_of__isnull=False)
    return public | Q(dataset__center_id__in=organization_ids_with(actor))


def _owns(actor, dataset: Dataset) -> bool:
    """The actor belongs to the center whose group holds the dataset's object permission."""
    if not is_authenticated(actor) or not roles_in(actor, dataset.center_id):
        return False
    return actor.has_perm("catalog.change_dataset", dataset)


def _may_edit(actor, dataset: Dataset) -> bool:
    if is_system(actor):
        return True
    return bool(roles_in(actor, dataset.center_id) & EDITORS) and _owns(actor, dataset)


def dataset_view(actor, dataset: Dataset) -> bool:
    return is_visible(dataset, dataset_visible(actor))


def dataset_manage_view(actor, dataset: Dataset) -> bool:
    return is_visible(dataset, dataset_managed(actor))


def dataset_create(actor, center: Organization) -> bool:
    if is_system(actor):
        return True
    return (
        center.kind == Organization.Kind.CENTER
        and organization_is_active(center)
        and bool(roles_in(actor, center) & EDITORS)
    )


def dataset_update(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def dataset_retire(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def dataset_declare_subjects(actor, dataset: Dataset) -> bool:
    """Declaring a dataset to be about businesses lifts the re-identification threshold from its
    record offers: an operator's decision, never the center's own."""
    return is_system(actor) or (is_authenticated(actor) and is_operator(actor))


def dataset_reindex(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def dataset_record_view(actor, dataset: Dataset) -> bool:
    return dataset_view(actor, dataset)


def version_view(actor, version: DatasetVersion) -> bool:
    if version.dataset.current_version_id == version.pk and dataset_view(actor, version.dataset):
        return True
    return dataset_manage_view(actor, version.dataset)


def version_upload(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def version_ingest(actor, version: DatasetVersion) -> bool:
    return _may_edit(actor, version.dataset)


def version_import(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def version_source_ingest(actor, _source=None) -> bool:
    return is_system(actor)


def upload_create(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def _owns_upload(actor, upload) -> bool:
    return getattr(actor, "pk", None) == upload.created_by_id and _may_edit(actor, upload.dataset)


def upload_append(actor, upload) -> bool:
    return _owns_upload(actor, upload)


def upload_delete(actor, upload) -> bool:
    return _owns_upload(actor, upload)


def version_upload_resumed(actor, upload) -> bool:
    return is_system(actor) or _owns_upload(actor, upload)


def uploads_sweep_expired(actor, _target=None) -> bool:
    return is_system(actor)


def version_source_fail(actor, _source=None) -> bool:
    return is_system(actor)


def version_sources_join(actor, _version=None) -> bool:
    return is_system(actor)


def version_fields_update(actor, version: DatasetVersion) -> bool:
    return _may_edit(actor, version.dataset)


def version_publish(actor, version: DatasetVersion) -> bool:
    return _may_edit(actor, version.dataset) and (
        is_system(actor) or organization_is_active(version.dataset.center)
    )


def offer_create(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def offer_errors(actor, dataset: Dataset) -> bool:
    return _may_edit(actor, dataset)


def offer_update(actor, offer) -> bool:
    return _may_edit(actor, offer.dataset)


def offer_assess_risk(actor, offer) -> bool:
    return is_system(actor) or _may_edit(actor, offer.dataset)


def risk_threshold_update(actor, _target=None) -> bool:
    return is_system(actor) or (is_authenticated(actor) and is_operator(actor))


def version_fail(actor, version: DatasetVersion) -> bool:
    return is_system(actor)


def versions_requeue_stuck(actor, _target=None) -> bool:
    return is_system(actor)


def offer_risk_measure(actor, _offer=None) -> bool:
    """Only the worker stores a report it was queued to measure."""
    return is_system(actor)


def offers_requeue_stuck_risk(actor, _target=None) -> bool:
    return is_system(actor)


def offer_risk_give_up(actor, _offer=None) -> bool:
    return is_system(actor)


def offer_preview(actor, offer) -> bool:
    """Sample rows under `offer`'s rules are shown to whoever could request the offer: the
    dataset's center and operators always; a signed-in analyst or manager of a verified buyer
    whose category the offer accepts, while the offer is open; an anonymous visitor only for an
    offer open to anyone (active, approved automatically, free, every buyer category). A
    restricted record-level offer's rows are no teaser for the public."""
    dataset = offer.dataset
    if dataset_manage_view(actor, dataset):
        return True
    if not offer.is_active or dataset.status != Dataset.Status.PUBLISHED:
        return False
    categories = list(offer.buyer_categories or [])
    if not is_authenticated(actor):
        return offer.approval == "automatic" and not offer.price_krw and not categories
    buyer_roles = {Role.ANALYST, Role.MANAGER}
    member_of = [org for org, roles in roles_by_organization(actor).items() if roles & buyer_roles]
    buyers = Organization.objects.filter(pk__in=member_of, kind=Organization.Kind.BUYER)
    return any(
        organization_is_active(org) and (not categories or org.buyer_category in categories) for org in buyers
    )

"""One rule per insights operation, named like its service (STYLE.md habit 3).

Open statistics are for everyone: a published release on a published dataset is visible to
all, signed in or not. Publishing, refreshing and retiring are for the editors of the dataset's
center (the same people who may change the dataset) and the platform itself."""

from __future__ import annotations

from accounts.selectors import is_operator, roles_in
from catalog import permissions as catalog_permissions
from catalog.models import Dataset
from insights.models import Release
from marketplace.actors import is_authenticated, is_system


def release_view(actor, release: Release) -> bool:
    """Published releases of published datasets are open; the rest only to the dataset's
    center and operators."""
    if release.status == Release.Status.PUBLISHED and release.dataset.status == Dataset.Status.PUBLISHED:
        return True
    if is_system(actor):
        return True
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return is_operator(actor) or bool(roles_in(actor, release.dataset.center_id))


def release_publish(actor, dataset: Dataset) -> bool:
    return catalog_permissions.dataset_update(actor, dataset)


def release_publish_official(actor, dataset: Dataset) -> bool:
    """Official statistics are loaded as they are, outside the privacy engine: the operator's
    (or the platform's own import command's) decision, never a center's."""
    return is_system(actor) or (is_authenticated(actor) and is_operator(actor))


def release_refresh(actor, release: Release) -> bool:
    return catalog_permissions.dataset_update(actor, release.dataset)


def release_retire(actor, release: Release) -> bool:
    return catalog_permissions.dataset_update(actor, release.dataset)


def boundaries_import(actor, _target=None) -> bool:
    """Boundaries are platform data: operators (and the operator's command, as SYSTEM)."""
    if is_system(actor):
        return True
    return actor is not None and getattr(actor, "is_authenticated", False) and is_operator(actor)

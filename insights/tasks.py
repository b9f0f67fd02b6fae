"""Thin Celery tasks: ids in, services do the work (a repeated delivery finds the edition
already built and does nothing)."""

from __future__ import annotations

from celery import shared_task

from catalog.models import DatasetVersion
from insights import services
from insights.models import Release
from marketplace import errors
from marketplace.actors import SYSTEM


@shared_task(name="insights.tasks.refresh_releases_for_version", acks_late=True)
def refresh_releases_for_version(version_id: int) -> int:
    """After a version is published: a new edition of every live release of its dataset."""
    version = DatasetVersion.objects.filter(pk=version_id).select_related("dataset").first()
    if version is None:
        return 0
    done = 0
    for release in Release.objects.filter(dataset_id=version.dataset_id, status=Release.Status.PUBLISHED):
        try:
            services.release_refresh(actor=SYSTEM, release=release, version=version)
            done += 1
        except errors.InvalidState:  # retired meanwhile
            continue
    return done


@shared_task(name="insights.tasks.build_release", acks_late=True)
def build_release(release_id: int) -> None:
    """The first edition of a newly published release."""
    release = Release.objects.filter(pk=release_id, status=Release.Status.PUBLISHED).first()
    if release is not None:
        services.release_refresh(actor=SYSTEM, release=release)

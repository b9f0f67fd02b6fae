"""Every write to insights: publishing an open statistics release, refreshing it from a dataset
version (a new edition with materialized cells), retiring it. Each checks its rule in
insights.permissions and writes an audit event."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import privacy
from catalog.models import Dataset, DatasetVersion
from catalog.storage import local_path
from insights import cache, crosscheck, engine, permissions, regions
from insights.models import BoundarySet, Cell, Edition, Feature, RegionShape, Release
from marketplace import errors
from marketplace.actors import is_system
from marketplace.audit import audit_record
from marketplace.authz import authorize
from marketplace.jobs import enqueue

log = logging.getLogger(__name__)

# An edition still `building` after this long belongs to a worker that died: build it again.
STALE_BUILD = timedelta(minutes=30)
# Cells are kept for the current and the previous edition; older editions keep their metadata.
KEEP_CELLS_OF = 2


def _definition(release: Release) -> dict:
    return {
        "dimensions": release.dimensions,
        "measures": release.measures,
        "subject_field": release.subject_field,
        "dominance_field": release.dominance_field,
        "date_field": release.date_field,
        "k": release.k,
        "p_percent": release.p_percent,
        "dominance": f"{Decimal(str(release.dominance)):.3f}",
    }


def _schema(version: DatasetVersion) -> list[privacy.Column]:
    return [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]


def _release_problems(*, dataset, slug, feature, definition, rules, official) -> dict[str, list[str]]:
    """What stops a release from being published, by field: the view, the identifier, the
    definition against the current version's fields, and (computed tables) what an open table
    would give back that another suppresses."""
    problems: dict[str, list[str]] = {}
    if feature and feature not in Feature.values:
        problems["feature"] = [_("Unknown view.")]
    if feature and Release.objects.filter(feature=feature, status=Release.Status.PUBLISHED).exists():
        problems["feature"] = [_("Another release is shown in this view; retire it first.")]
    if Release.objects.filter(slug=slug).exists():
        problems["slug"] = [_("A release with this identifier exists already.")]
    schema = _schema(dataset.current_version)
    if official:  # published figures, grouped as they are: no subject, no disclosure rules
        found = engine.official_problems(schema=schema, definition=definition)
    else:
        found = engine.validate(schema=schema, definition={**definition, **rules})
    if found:
        problems["dimensions"] = found
    if not problems and not official:
        # everyone holds an open table: it must not give back what another suppresses
        conflicts = crosscheck.release_conflicts(
            dataset=dataset, version=dataset.current_version, definition={**definition, **rules}
        )
        if conflicts:
            problems["dimensions"] = conflicts
    return problems


def _release_definition(dimensions, measures, subject_field, dominance_field, date_field) -> dict:
    """A release's definition as stored: dimensions named (by their field by default), measures."""
    return {
        "dimensions": [
            {
                "name": d.get("name") or d.get("field"),
                "field": d.get("field"),
                "transform": d.get("transform") or "",
            }
            for d in dimensions
        ],
        "measures": [{"field": m.get("field"), "agg": m.get("agg")} for m in measures],
        "subject_field": subject_field,
        "dominance_field": dominance_field,
        "date_field": date_field,
    }


def _release_create(*, actor, dataset, definition, **fields) -> Release:
    """Create the release, audit it and queue its first build after commit."""
    with transaction.atomic():
        release = Release.objects.create(
            dataset=dataset,
            created_by=None if is_system(actor) else actor,
            **fields,
            **definition,
        )
        audit_record(
            actor=actor,
            verb="insights.release.published",
            target=release,
            organization=dataset.center,
            after={
                "slug": release.slug,
                "dataset": dataset.slug,
                **definition,
                "k": fields["k"],
                "dominance": str(fields["dominance"]),
            },
        )
        release_id = release.pk
        transaction.on_commit(lambda: enqueue("insights.tasks.build_release", release_id))
    return release


def _authorize_source(actor, dataset, source) -> bool:
    """Check who may publish official figures of `dataset` and that `source` is known, and that
    the dataset is published; True for official figures."""
    from catalog import permissions as catalog_permissions

    official = source == Release.Source.OFFICIAL
    if official:
        authorize(
            permissions.release_publish_official, actor, dataset, can_view=catalog_permissions.dataset_view
        )
    elif source != Release.Source.COMPUTED:
        raise errors.ApplicationError(_("Unknown source."), errors={"source": [_("Unknown source.")]})
    if dataset.status != Dataset.Status.PUBLISHED or not dataset.current_version_id:
        raise errors.InvalidState(_("Only a published dataset can have open statistics."))
    return official


def release_publish(
    *,
    actor,
    dataset: Dataset,
    slug: str,
    title: str,
    dimensions: list[dict],
    measures: list[dict],
    subject_field: str,
    title_en: str = "",
    method: str = "",
    method_en: str = "",
    dominance_field: str = "",
    date_field: str = "",
    k: int = 5,
    p_percent: int = 10,
    dominance=Decimal("0.85"),
    feature: str = "",
    source: str = Release.Source.COMPUTED,
    attribution: str = "",
) -> Release:
    """Publish an open statistics table of `dataset`'s current version. The definition is
    checked against that version's fields; the cells are computed by a worker after commit
    (and again on every later publication of the dataset)."""
    from catalog import permissions as catalog_permissions

    authorize(permissions.release_publish, actor, dataset, can_view=catalog_permissions.dataset_view)
    official = _authorize_source(actor, dataset, source)
    try:
        dominance = Decimal(str(dominance))
    except InvalidOperation:
        dominance = None
    definition = _release_definition(dimensions, measures, subject_field, dominance_field, date_field)
    rules = {"k": int(k), "p_percent": int(p_percent), "dominance": str(dominance or Decimal("0.85"))}
    problems = _release_problems(
        dataset=dataset, slug=slug, feature=feature, definition=definition, rules=rules, official=official
    )
    if dominance is None:
        problems["dominance"] = [_("This value is not valid.")]
    if problems:
        raise errors.ApplicationError(_("The release cannot be published as it is."), errors=problems)
    release = _release_create(
        actor=actor,
        dataset=dataset,
        definition=definition,
        slug=slug,
        feature=feature,
        title=title,
        title_en=title_en,
        method=method,
        method_en=method_en,
        k=int(k),
        p_percent=int(p_percent),
        dominance=dominance,
        source=source,
        attribution=attribution,
    )
    cache.changed()
    return release


def _edition_start(release: Release, version: DatasetVersion | None):
    """Under the release's lock: (release, None, edition to return) when there is nothing to
    build, else (release, version, the new edition in `building`)."""
    with transaction.atomic():
        release = (
            Release.objects.select_for_update(of=("self",))
            .select_related("dataset", "current")
            .get(pk=release.pk)
        )
        definition = _definition(release)
        dataset = release.dataset
        if release.status != Release.Status.PUBLISHED:
            raise errors.InvalidState(_("This release is retired."))
        version = version or dataset.current_version
        if version is None or version.pk != dataset.current_version_id:
            return release, None, release.current
        current = release.current
        if current and current.source_version_id == version.pk and current.definition == definition:
            return release, None, current
        running = (
            release.editions.filter(
                source_version=version,
                status=Edition.Status.BUILDING,
                created_at__gte=timezone.now() - STALE_BUILD,
            )
            .order_by("-number")
            .first()
        )
        if running and running.definition == definition:
            return release, None, running  # another delivery of the job is building it
        number = (release.editions.aggregate(n=Max("number"))["n"] or 0) + 1
        edition = Edition.objects.create(
            release=release,
            number=number,
            source_version=version,
            definition=definition,
            engine=engine.OFFICIAL_ENGINE
            if release.source == Release.Source.OFFICIAL
            else engine.ENGINE_NAME,
        )
    return release, version, edition


def _edition_cells(release: Release, version: DatasetVersion, definition: dict):
    """The release's table computed from `version` (raises engine.EngineError)."""
    parquet = str(local_path(version.parquet))
    if release.source == Release.Source.OFFICIAL:
        return engine.official_cells(parquet=parquet, schema=_schema(version), definition=definition)
    return engine.release_cells(
        parquet=parquet,
        schema=_schema(version),
        definition=definition,
        noise_seed=version.cell_key_seed,
    )


def _edition_failed(*, actor, release, version, edition, exc) -> Edition:
    with transaction.atomic():
        edition.status = Edition.Status.FAILED
        edition.error = str(exc)
        edition.built_at = timezone.now()
        edition.save(update_fields=["status", "error", "built_at"])
        audit_record(
            actor=actor,
            verb="insights.release.refresh_failed",
            target=release,
            organization=release.dataset.center,
            after={"edition": edition.number, "version": version.number, "error": str(exc)},
        )
    log.warning("release %s: edition %s failed: %s", release.slug, edition.number, exc)
    return edition


def _edition_ready(*, actor, release, version, edition, table) -> Edition:
    """Store the cells, make the edition current unless a newer one is, drop old cells."""
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("current").get(pk=release.pk)
        Cell.objects.bulk_create(
            [
                Cell(
                    edition=edition,
                    position=i,
                    dims=cell.dims,
                    values=cell.values,
                    suppressed=cell.suppressed,
                    noisy=cell.noisy,
                )
                for i, cell in enumerate(table.cells)
            ],
            batch_size=1000,
        )
        edition.status = Edition.Status.READY
        edition.engine = table.engine
        edition.columns = table.columns
        edition.cell_count = len(table.cells)
        edition.suppressed_count = sum(c.suppressed for c in table.cells)
        edition.noisy_count = sum(c.noisy for c in table.cells)
        edition.period_start, edition.period_end = table.period or (None, None)
        edition.built_at = timezone.now()
        edition.save()
        previous = release.current
        if previous is None or previous.number < edition.number:
            release.current = edition
            release.save(update_fields=["current", "updated_at"])
        Cell.objects.filter(
            edition__release=release, edition__number__lte=edition.number - KEEP_CELLS_OF
        ).delete()
        audit_record(
            actor=actor,
            verb="insights.release.refreshed",
            target=release,
            organization=release.dataset.center,
            before={"edition": previous.number if previous else None},
            after={
                "edition": edition.number,
                "version": version.number,
                "cells": edition.cell_count,
                "suppressed": edition.suppressed_count,
                "noisy": edition.noisy_count,
            },
        )
    return edition


def release_refresh(*, actor, release: Release, version: DatasetVersion | None = None) -> Edition | None:
    """Compute a new edition of `release` from `version` (default: the dataset's current
    version) and make it current. A repeat for the version and definition of the current edition
    returns it without work, as does a version that is no longer the dataset's current one
    (a newer publication has its own refresh queued). A definition that no longer fits the data
    (a renamed column) leaves the current edition in place and records a failed edition with
    the reason."""
    authorize(permissions.release_refresh, actor, release, can_view=permissions.release_view)
    release, version, edition = _edition_start(release, version)
    if version is None:
        return edition
    try:
        table = _edition_cells(release, version, edition.definition)
    except engine.EngineError as exc:
        return _edition_failed(actor=actor, release=release, version=version, edition=edition, exc=exc)
    edition = _edition_ready(actor=actor, release=release, version=version, edition=edition, table=table)
    cache.changed()
    return edition


def release_retire(*, actor, release: Release) -> Release:
    """Take a release off the insight pages, the API list and the catalog feed. Its editions
    stay (for the record); retiring twice changes nothing."""
    authorize(permissions.release_retire, actor, release, can_view=permissions.release_view)
    with transaction.atomic():
        release = Release.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=release.pk)
        if release.status == Release.Status.RETIRED:
            return release
        release.status = Release.Status.RETIRED
        release.feature = ""
        release.save(update_fields=["status", "feature", "updated_at"])
        audit_record(
            actor=actor,
            verb="insights.release.retired",
            target=release,
            organization=release.dataset.center,
            before={"status": "published"},
            after={"status": "retired"},
        )
    cache.changed()
    return release


def boundaries_import(*, actor, geojson: dict, source: str, attribution: str) -> BoundarySet:
    """Store the 시·군 boundaries of `geojson` (projected, simplified) as the map's new set;
    the previous sets stay but are no longer drawn. `attribution` is shown under the map, as
    the source's license asks."""
    authorize(permissions.boundaries_import, actor)
    if not attribution.strip():
        raise errors.ApplicationError(
            _("Give the source's attribution: it is shown wherever the map is."),
            errors={"attribution": [_("This field is required.")]},
        )
    try:
        shapes, view_box = regions.project_features(geojson)
    except regions.BoundaryError as exc:
        raise errors.ApplicationError(str(exc), errors={"file": [str(exc)]}) from exc
    with transaction.atomic():
        boundary_set = BoundarySet.objects.create(
            source=source[:255], attribution=attribution.strip()[:500], view_box=view_box
        )
        RegionShape.objects.bulk_create([RegionShape(boundary_set=boundary_set, **shape) for shape in shapes])
        audit_record(
            actor=actor,
            verb="insights.boundaries.imported",
            target=boundary_set,
            after={"source": source, "regions": [s["code"] for s in shapes]},
        )
    cache.changed()
    return boundary_set

"""Every write to the catalog. Each function checks its rule in catalog.permissions, changes
state in one transaction, writes an audit event and queues work after commit."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import shutil
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm

from accounts.models import Organization
from accounts.selectors import roles_by_organization
from catalog import cache as catalog_cache
from catalog import ingestion, permissions, privacy, risk_reports, spark, spark_ingestion, view_log
from catalog.ingestion import partition
from catalog.models import (
    Dataset,
    DatasetPart,
    DatasetRegion,
    DatasetVersion,
    Field,
    LicenseTerms,
    Offer,
    PeriodUnit,
    RiskThresholdSetting,
    Sensitivity,
    UploadMode,
    VersionSource,
)
from catalog.policy import OfferPolicy
from catalog.storage import local_path, remove_stale_work_dirs, sha256_of, store_file
from catalog.vocabularies import Theme, UpdateFrequency, column_suggestion, regions_by_code
from marketplace import errors, jobs, reactions
from marketplace.actors import SYSTEM, is_system
from marketplace.audit import audit_record
from marketplace.authz import authorize
from marketplace.duckdb import connect

log = logging.getLogger(__name__)

DATASET_FIELDS = (
    "title",
    "title_en",
    "summary",
    "summary_en",
    "description",
    "description_en",
    "theme",
    "keywords",
    "regions",
    "temporal_start",
    "temporal_end",
    "update_frequency",
    "deliver_updates",
    "period_field",
    "period_unit",
    "partition_region_field",
)


# --- datasets ---------------------------------------------------------------------------------


SEARCH_VALUES_PER_COLUMN = 300
_REGION_SUFFIXES = ("시", "군", "-si", "-gun")


def _region_words(code: str) -> list[str]:
    """A 시·군 as people type it: 수원시, 수원, Suwon-si, Suwon."""
    region = regions_by_code().get(code)
    if region is None:
        return [code]
    words = [region.name, region.name_en]
    for name in (region.name, region.name_en):
        for suffix in _REGION_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix) + 1:
                words.append(name[: -len(suffix)])
    return words


def _search_version(dataset: Dataset) -> DatasetVersion | None:
    """The version whose columns describe the dataset: the published one, else the newest that
    finished ingestion (a draft is searchable by its own center)."""
    if dataset.current_version_id:
        return dataset.current_version
    if dataset.pk is None:
        return None
    return (
        dataset.versions.filter(status__in=[DatasetVersion.Status.READY, DatasetVersion.Status.PUBLISHED])
        .order_by("-number")
        .first()
    )


def _column_words(version: DatasetVersion | None) -> list[str]:
    """Column names and titles, and the values of public text columns that have few of them
    (업종, 시군명: the categories a buyer looks for). Only public columns' values are indexed:
    they are the ones every visitor already sees in the profile."""
    if version is None:
        return []
    words: list[str] = []
    for field in version.fields.all():
        words += [field.name, field.title]
        if field.sensitivity != Sensitivity.PUBLIC or field.type != Field.Type.STRING:
            continue
        profile = field.profile or {}
        values = profile.get("values") or [item.get("value") for item in profile.get("top_values") or []]
        words += [str(v) for v in values[:SEARCH_VALUES_PER_COLUMN] if v is not None]
    return words


def _search_text(dataset: Dataset) -> str:
    """Everything search matches, lower-cased: titles, summaries, keywords, the center's names,
    the regions covered (Korean and English, with and without 시/군), column names and titles,
    and the public categorical values."""
    parts = [
        dataset.title,
        dataset.title_en,
        dataset.summary,
        dataset.summary_en,
        " ".join(dataset.keywords),
        dataset.center.name,
        dataset.center.name_en,
        *(word for code in dataset.regions for word in _region_words(code)),
        *_column_words(_search_version(dataset)),
        dataset.description[:2000],
        dataset.description_en[:2000],
    ]
    return " ".join(p for p in parts if p).lower()


def dataset_reindex(*, actor, dataset: Dataset) -> Dataset:
    """Recompute what search matches for `dataset` (after its columns or values changed)."""
    authorize(permissions.dataset_reindex, actor, dataset, can_view=permissions.dataset_view)
    dataset = Dataset.objects.select_related("center", "current_version").get(pk=dataset.pk)
    text = _search_text(dataset)
    if text != dataset.search_text:
        Dataset.objects.filter(pk=dataset.pk).update(search_text=text)
        dataset.search_text = text
        catalog_cache.changed(dataset)
    return dataset


def _clean_dataset_fields(values: dict, *, partial: bool) -> dict:
    field_errors: dict[str, list[str]] = {}
    cleaned = {k: v for k, v in values.items() if k in DATASET_FIELDS}
    if (not partial or "title" in cleaned) and not (cleaned.get("title") or "").strip():
        field_errors["title"] = [_("A dataset needs a Korean title.")]
    if "theme" in cleaned and cleaned["theme"] not in Theme.values:
        field_errors["theme"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Theme.values)}]
    if "update_frequency" in cleaned and cleaned["update_frequency"] not in UpdateFrequency.values:
        field_errors["update_frequency"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(UpdateFrequency.values)}
        ]
    if "regions" in cleaned:
        unknown = [code for code in cleaned["regions"] if code not in regions_by_code()]
        if unknown:
            field_errors["regions"] = [
                _("Unknown 시·군 codes: %(codes)s. Use Gyeonggi-do's administrative codes (41110 … 41830).")
                % {"codes": ", ".join(map(str, unknown[:10]))}
            ]
        cleaned["regions"] = sorted(set(cleaned["regions"]))
    if "keywords" in cleaned:
        cleaned["keywords"] = list(dict.fromkeys(k.strip() for k in cleaned["keywords"] if k.strip()))
    if "period_unit" in cleaned and cleaned["period_unit"] not in PeriodUnit.values:
        field_errors["period_unit"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(PeriodUnit.values)}
        ]
    for key in ("period_field", "partition_region_field"):
        if key in cleaned:
            cleaned[key] = (cleaned[key] or "").strip()
    start, end = cleaned.get("temporal_start"), cleaned.get("temporal_end")
    if start and end and start > end:
        field_errors["temporal_end"] = [_("The coverage must end on or after its start.")]
    if field_errors:
        raise errors.ApplicationError(_("Some of the dataset's details are not valid."), errors=field_errors)
    for key in ("title", "title_en", "summary", "summary_en"):
        if key in cleaned and cleaned[key] is not None:
            cleaned[key] = cleaned[key].strip()
    return cleaned


def _unique_slug(dataset: Dataset) -> str:
    base = slugify(dataset.title_en) or slugify(dataset.title, allow_unicode=True) or "dataset"
    base = base[:100]
    slug, n = base, 2
    while Dataset.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _sync_regions(dataset: Dataset) -> None:
    DatasetRegion.objects.filter(dataset=dataset).exclude(code__in=dataset.regions).delete()
    existing = set(DatasetRegion.objects.filter(dataset=dataset).values_list("code", flat=True))
    DatasetRegion.objects.bulk_create(
        [DatasetRegion(dataset=dataset, code=code) for code in dataset.regions if code not in existing]
    )


def _default_center(actor) -> Organization:
    centers = Organization.objects.filter(
        pk__in=list(roles_by_organization(actor)), kind=Organization.Kind.CENTER
    )
    if len(centers) != 1:
        raise errors.ApplicationError(
            _("Say which center publishes this dataset."),
            errors={"center": [_("You belong to several centers (or none); choose one.")]},
        )
    return centers[0]


def dataset_create(*, actor, center: Organization | None = None, **values) -> Dataset:
    """Create a draft dataset owned by `center`. Its group gets the object permissions that
    make its curators and managers the only editors."""
    center = center or _default_center(actor)
    if (
        center.kind == Organization.Kind.CENTER
        and not center.is_verified
        and roles_by_organization(actor).get(center.pk)
    ):
        raise errors.PermissionDenied(
            _("Your organization is not verified yet; an operator must verify it before you publish data.")
        )
    authorize(permissions.dataset_create, actor, center)
    cleaned = _clean_dataset_fields(values, partial=False)
    with transaction.atomic():
        dataset = Dataset(center=center, created_by=None if is_system(actor) else actor, **cleaned)
        dataset.slug = _unique_slug(dataset)
        dataset.search_text = _search_text(dataset)
        dataset.save()
        _sync_regions(dataset)
        for perm in ("catalog.view_dataset", "catalog.change_dataset"):
            assign_perm(perm, center.group, dataset)
        audit_record(
            actor=actor,
            verb="catalog.dataset.created",
            target=dataset,
            organization=center,
            after={"slug": dataset.slug, "title": dataset.title},
        )
    return dataset


def dataset_update(*, actor, dataset: Dataset, **values) -> Dataset:
    authorize(permissions.dataset_update, actor, dataset, can_view=permissions.dataset_view)
    cleaned = _clean_dataset_fields(values, partial=True)
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update(of=("self",)).select_related("center").get(pk=dataset.pk)
        before = {k: getattr(dataset, k) for k in cleaned}
        for key, value in cleaned.items():
            setattr(dataset, key, value)
        if dataset.temporal_start and dataset.temporal_end and dataset.temporal_start > dataset.temporal_end:
            raise errors.ApplicationError(
                _("The coverage must end on or after its start."),
                errors={"temporal_end": [_("The coverage must end on or after its start.")]},
            )
        dataset.search_text = _search_text(dataset)
        dataset.save(update_fields=[*cleaned, "search_text", "updated_at"])
        _sync_regions(dataset)
        audit_record(
            actor=actor,
            verb="catalog.dataset.updated",
            target=dataset,
            organization=dataset.center,
            before=_jsonable(before),
            after=_jsonable(cleaned),
        )
    catalog_cache.changed(dataset)
    return dataset


def dataset_declare_subjects(*, actor, dataset: Dataset, subjects: str) -> Dataset:
    """Say whom `dataset`'s records describe (Dataset.Subjects). Record offers of a dataset about
    businesses are not blocked by the re-identification threshold (their reports stay, for
    information); switching back to people blocks, from then on, the offers above it."""
    authorize(permissions.dataset_declare_subjects, actor, dataset, can_view=permissions.dataset_view)
    if subjects not in Dataset.Subjects.values:
        raise errors.ApplicationError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(Dataset.Subjects.values)},
            errors={
                "subjects": [
                    _("Choose one of: %(choices)s.") % {"choices": ", ".join(Dataset.Subjects.values)}
                ]
            },
        )
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update(of=("self",)).select_related("center").get(pk=dataset.pk)
        if dataset.subjects == subjects:
            return dataset
        before = dataset.subjects
        dataset.subjects = subjects
        dataset.save(update_fields=["subjects", "updated_at"])
        audit_record(
            actor=actor,
            verb="catalog.dataset.subjects_declared",
            target=dataset,
            organization=dataset.center,
            before={"subjects": before},
            after={"subjects": subjects},
        )
    catalog_cache.changed(dataset)
    return dataset


def dataset_retire(*, actor, dataset: Dataset) -> Dataset:
    """Take a dataset out of the catalog. Licenses already issued keep their files."""
    authorize(permissions.dataset_retire, actor, dataset, can_view=permissions.dataset_view)
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if dataset.status == Dataset.Status.RETIRED:
            return dataset
        before = dataset.status
        dataset.status = Dataset.Status.RETIRED
        dataset.save(update_fields=["status", "updated_at"])
        Offer.objects.filter(dataset=dataset).update(is_active=False)
        audit_record(
            actor=actor,
            verb="catalog.dataset.retired",
            target=dataset,
            organization=dataset.center,
            before={"status": before},
            after={"status": dataset.status},
        )
    catalog_cache.changed(dataset)
    return dataset


def dataset_record_view(*, actor, dataset: Dataset) -> None:
    """Count one view of a dataset page for the provider's analytics (no audit event: views are
    not state changes, and no personal data is kept)."""
    authorize(permissions.dataset_record_view, actor, dataset)
    orgs = list(roles_by_organization(actor)) if getattr(actor, "is_authenticated", False) else []
    view_log.record(dataset.pk, orgs[0] if len(orgs) == 1 else None, timezone.now())


def _jsonable(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


# --- versions and ingestion -----------------------------------------------------------------


def _check_takes_version(dataset: Dataset, mode: str) -> None:
    """The dataset takes a new version (it is not retired) in a mode that exists."""
    if dataset.status == Dataset.Status.RETIRED:
        raise errors.InvalidState(_("This dataset is retired; it takes no new versions."))
    if mode not in UploadMode.values:
        raise errors.ApplicationError(
            _("mode is replace or append."), errors={"mode": [_("Choose replace or append.")]}
        )


def _new_version(locked: Dataset, actor, mode: str, replace_periods: bool, **fields):
    """An unsaved version of the locked dataset with the next number, once an append is known
    to fit; and the failed versions it takes over. A failed upload does not use up its number:
    the next version takes it over (the failure stays in the audit log)."""
    if mode == UploadMode.APPEND:
        _check_appendable(locked)
    number, replaced = _next_number(locked)
    version = DatasetVersion(
        dataset=locked,
        number=number,
        storage_token=uuid.uuid4().hex,
        created_by=None if is_system(actor) else actor,
        mode=mode,
        replace_periods=bool(replace_periods) and mode == UploadMode.APPEND,
        base_version=locked.current_version if mode == UploadMode.APPEND else None,
        noise_seed=_noise_seed(locked),
        **fields,
    )
    return version, replaced


def _noise_seed(dataset: Dataset) -> str:
    """The cell-key noise's seed for the dataset's next version: its current version's (else
    its latest version's), so unchanged cells keep their noise from version to version; a new
    dataset draws a secret one, keyed (privacy.KEYED_NOISE), 64 characters in all
    (DatasetVersion.noise_seed)."""
    current = dataset.current_version
    if current is not None and current.noise_seed:
        return current.noise_seed
    latest = dataset.versions.exclude(noise_seed="").order_by("-number").first()
    return latest.noise_seed if latest else privacy.KEYED_NOISE + secrets.token_hex(29)


def _upload_size(file, limit: int) -> int:
    """The upload's size, once it is within the limit."""
    size = getattr(file, "size", None) or 0
    if size > limit:
        raise errors.TooLarge(
            _("The file is %(size)s; the limit is %(limit)s.")
            % {"size": _human(size), "limit": _human(limit)}
        )
    if size == 0:
        raise errors.ApplicationError(_("The file is empty."), errors={"file": [_("The file is empty.")]})
    return size


def _next_number(locked: Dataset) -> tuple[int, list[DatasetVersion]]:
    """The number of the dataset's next version and the failed versions it takes over (their
    rows deleted, their stored files removed after commit)."""
    kept = locked.versions.exclude(status=DatasetVersion.Status.FAILED)
    number = (kept.aggregate(n=Max("number"))["n"] or 0) + 1
    replaced = list(locked.versions.filter(status=DatasetVersion.Status.FAILED, number__gte=number))
    for failed in replaced:
        stored = failed.source.name
        failed.delete()
        transaction.on_commit(lambda name=stored: _remove_stored(name))
    return number, replaced


def version_upload(
    *,
    actor,
    dataset: Dataset,
    file,
    filename: str | None = None,
    mode: str = UploadMode.REPLACE,
    replace_periods: bool = False,
    max_bytes: int | None = None,
) -> DatasetVersion:
    """Store an uploaded file as a new version and queue its ingestion. The file streams to
    storage in chunks; the stored name is ours, never the client's. The file may be at most
    `max_bytes` (UPLOAD_MAX_BYTES unless said: a resumable upload has its own limit).

    `mode` "replace" makes the file the whole table; "append" adds its periods to the published
    version's partition files (the dataset must be partitioned by a period column and have a
    partitioned published version). A period the published version already holds is refused at
    ingestion unless `replace_periods`, which drops that period's old files instead."""
    authorize(permissions.version_upload, actor, dataset, can_view=permissions.dataset_view)
    _check_takes_version(dataset, mode)
    size = _upload_size(file, max_bytes or settings.UPLOAD_MAX_BYTES)
    original = _display_filename(filename or getattr(file, "name", "") or "upload")
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        version, replaced = _new_version(
            locked, actor, mode, replace_periods, original_filename=original, source_bytes=size
        )
        version.source.save("upload.bin", file, save=False)
        version.save()
        audit_record(
            actor=actor,
            verb="catalog.version.uploaded",
            target=version,
            organization=dataset.center,
            after={
                "number": version.number,
                "filename": original,
                "bytes": size,
                "mode": mode,
                **({"replaces_failed": [v.number for v in replaced]} if replaced else {}),
            },
        )
        transaction.on_commit(lambda: _enqueue_ingestion(version.pk))
    return version


def _check_appendable(dataset: Dataset) -> None:
    """An append needs a period column and a published version made of partition files."""
    if not dataset.period_field:
        raise errors.ApplicationError(
            _("Only a dataset partitioned by a period column takes appends; set its period column first."),
            errors={"mode": [_("This dataset has no period column.")]},
        )
    current = dataset.current_version
    if current is None:
        raise errors.ApplicationError(
            _("There is no published version to append to; upload the first one with mode replace."),
            errors={"mode": [_("No published version.")]},
        )
    if not current.parts.exists():
        raise errors.ApplicationError(
            _("The published version is a single file; upload the whole table once with mode replace."),
            errors={"mode": [_("The published version is not partitioned.")]},
        )


def _remove_stored(name: str) -> None:
    from django.core.files.storage import default_storage

    if name and default_storage.exists(name):
        default_storage.delete(name)


def _enqueue_ingestion(version_id: int) -> None:
    jobs.enqueue("catalog.tasks.ingest_version", version_id)


def _display_filename(name: str) -> str:
    """The client's file name for display: no directories, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] or "upload"


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def version_ingest(*, actor, version_id: int) -> DatasetVersion:
    """Turn the uploaded file into profiled Parquet in storage and end `ready` or `failed`.

    Safe to run again (`marketplace.jobs`): a ready or published version is left alone; a
    version left `ingesting` by a killed worker starts over, at most INGEST_MAX_ATTEMPTS times
    in all (a file that takes down every worker it reaches ends `failed` instead of being
    redelivered for ever). The Parquet file is recorded on the row only once it is completely
    in storage."""
    version = DatasetVersion.objects.select_related("dataset", "dataset__center").get(pk=version_id)
    authorize(permissions.version_ingest, actor, version)
    claim = jobs.job_claim(DatasetVersion, version_id, failed=_audit_failure)
    if not claim.claimed:
        return claim.job
    if claim.job.sources.exists():  # imported from object storage: one task per file
        return _dispatch_sources(claim.job)
    try:
        ingested = _ingest(claim.job)
    except ingestion.IngestionError as exc:
        return _version_fail(
            version_id,
            exc.message,
            row=exc.row,
            column=exc.column,
            detail={"template": exc.template, "params": exc.params},
        )
    return _finish_ingestion(actor, version_id, ingested)


def _dispatch_sources(version: DatasetVersion) -> DatasetVersion:
    """Queue the ingestion of each imported file not yet ingested (all of them the first time;
    the rest when a lost version is claimed again), or the join when none is left."""
    pending = list(version.sources.exclude(status=VersionSource.Status.DONE).values_list("pk", flat=True))
    if not pending:
        jobs.enqueue("catalog.tasks.join_sources", version.pk)
    for source_id in pending:
        jobs.enqueue("catalog.tasks.ingest_source", source_id)
    return version


def _finish_ingestion(actor, version_id: int, ingested: _Ingested) -> DatasetVersion:
    """Record what ingestion built on the version (ready) with its audit event; a version that
    failed or was re-queued meanwhile is left as it is."""
    with transaction.atomic():
        done = jobs.job_finish(DatasetVersion, version_id, lambda v: _record_ingestion(v, ingested))
        if done.claimed:
            audit_record(
                actor=actor,
                verb="catalog.version.ingested",
                target=done.job,
                organization=done.job.dataset.center,
                after={
                    "rows": ingested.result.row_count,
                    "columns": len(ingested.result.columns),
                    "encoding": done.job.encoding,
                },
            )
    return done.job


@dataclasses.dataclass(frozen=True)
class _Ingested:
    result: ingestion.IngestResult
    profiles: dict
    source_sha256: str
    parquet_sha256: str
    stored: str
    # Partitioned versions: every file of the version (kept ones first), the new ones' rows.
    parts: list = dataclasses.field(default_factory=list)
    new_parts: list = dataclasses.field(default_factory=list)
    row_count: int | None = None
    parquet_bytes: int | None = None
    base_fields: dict = dataclasses.field(default_factory=dict)


def _ingest(version: DatasetVersion) -> _Ingested:
    """The work itself, outside any transaction: file → Parquet in storage, with profiles."""
    progress = jobs.ProgressReporter(DatasetVersion, version.pk)
    work_dir = Path(settings.WORK_DIR) / f"ingest-{version.pk}-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        dataset = version.dataset
        share = 60 if dataset.period_field else 80  # of the progress, the conversion's
        result = _converted_file(
            con, local_path(version.source.name), work_dir, dataset, settings.UPLOAD_MAX_UNCOMPRESSED_BYTES,
            lambda fraction: progress(fraction * share),
        )  # fmt: skip
        if isinstance(result, spark_ingestion.Ingested):  # Spark converted it and cut the files
            return _ingest_partitioned(version, result.result, work_dir, con, progress, result)
        if dataset.period_field:
            return _ingest_partitioned(version, result, work_dir, con, progress)
        profiles = ingestion.profile_parquet(result.parquet_path, result.columns, con=con)
        progress(90)
        parquet_sha = sha256_of(result.parquet_path)
        stored = store_file(
            result.parquet_path, f"datasets/{version.dataset_id}/versions/{version.number}/data.parquet"
        )
        # The upload's checksum was taken while ingestion read the file (issue 18).
        return _Ingested(result, profiles, result.source_sha256, parquet_sha, stored)
    finally:
        con.close()
        shutil.rmtree(work_dir, ignore_errors=True)


def _appended(version: DatasetVersion, result, new_parts, profiles, con):
    """For an append: the base version's partitions kept (less the periods replaced), the base
    fields, and the profiles of the whole new table (merged, or read again when rows were
    removed). Raises IngestionError when the append does not fit the base version."""
    base = version.base_version
    base_fields = {f.name: f for f in base.fields.all()}
    _check_same_columns(base_fields, result.columns, base.number)
    base_parts = list(base.parts.order_by("path"))
    if not _same_scheme(base_parts, new_parts):
        raise ingestion.IngestionError(
            _(
                "Version %(number)s is partitioned differently (the dataset's period or region "
                "column changed since). Upload the whole table once with mode replace."
            )
            % {"number": base.number}
        )
    overlap = sorted({p.period for p in base_parts} & {p.period for p in new_parts})
    if overlap and not version.replace_periods:
        raise ingestion.IngestionError(
            _(
                "Version %(number)s already holds the periods %(periods)s. Send "
                "replace_periods=true to replace them, or leave them out of the file."
            )
            % {"number": base.number, "periods": ", ".join(overlap[:12])}
        )
    kept = [p for p in base_parts if p.period not in overlap]
    if overlap:
        # Rows were removed: a profile cannot be subtracted, so read the whole new table.
        files = [str(local_path(p.path)) for p in kept] + [str(p.path) for p in new_parts]
        return kept, base_fields, ingestion.profile_files(files, result.columns, con=con)
    merged = ingestion.merge_profiles(
        {name: f.profile for name, f in base_fields.items()}, profiles, result.columns
    )
    return kept, base_fields, merged


def _store_manifest(version: DatasetVersion, files: list[tuple[str, str]], work_dir: Path) -> tuple[str, str]:
    """Write and store the version's manifest of (path, sha256) files; its digest and name."""
    dataset = version.dataset
    manifest_sha = partition.manifest_sha256(files)
    manifest = work_dir / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "dataset": dataset.slug,
                "version": version.number,
                "period_field": dataset.period_field,
                "period_unit": dataset.period_unit,
                "region_field": dataset.partition_region_field,
                "sha256": manifest_sha,
                "files": [{"path": name, "sha256": sha} for name, sha in files],
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    return manifest_sha, store_file(
        manifest, f"datasets/{dataset.pk}/versions/{version.number}/manifest.json"
    )


def _partitioning(dataset: Dataset) -> dict:
    """How `dataset`'s files are cut (partition.partition_parquet's keywords)."""
    return {
        "period_column": dataset.period_field,
        "unit": dataset.period_unit,
        "region_column": dataset.partition_region_field or None,
    }


def _converted_file(con, source: Path, work_dir: Path, dataset: Dataset, max_uncompressed_bytes, progress):
    """`source` (an upload or an imported file) converted for `dataset`: spark_ingestion's
    Ingested when Spark converted it and cut it into partition files (a large Parquet or CSV
    file of a partitioned dataset that Spark reads as DuckDB would), else ingest_file's
    IngestResult (one Parquet file, DuckDB's). `progress(fraction)`: how far the conversion is."""
    if dataset.period_field:
        on_spark = spark_ingestion.ingest(con, source, work_dir, _partitioning(dataset), progress)
        if on_spark:
            return on_spark
    return ingestion.ingest_file(
        source,
        work_dir,
        max_uncompressed_bytes=max_uncompressed_bytes,
        progress=lambda pct: progress(pct / 100),
        con=con,
        convert_text=_text_on_spark(con, work_dir, dataset),
    )


def _text_on_spark(con, work_dir: Path, dataset: Dataset):
    """ingest_file's convert_text for a file of `dataset`: a large CSV of a partitioned dataset
    converted and cut into partition files on Spark (spark_ingestion.ingest_text); None without
    Spark or for a dataset without partitions, whose CSVs DuckDB converts."""
    if not dataset.period_field or not spark.enabled():
        return None
    partitioning = _partitioning(dataset)
    return lambda text, fraction: spark_ingestion.ingest_text(con, text, work_dir, partitioning, fraction)


def _partition_files(con, result, work_dir: Path, dataset: Dataset) -> list:
    """The converted file `result` cut by DuckDB into `dataset`'s partition files."""
    return partition.partition_parquet(
        con, result.parquet_path, work_dir / "parts", columns=result.columns, **_partitioning(dataset)
    )


def _ingest_partitioned(version: DatasetVersion, result, work_dir: Path, con, progress, on_spark=None):
    """Write the upload (`result`, as converted) as partition files (unless Spark wrote them:
    `on_spark`, spark_ingestion's Ingested); for an append, add them to the base version's files
    (dropping the periods it replaces) and merge the profiles; store the files and the
    manifest. Files already in storage are shared, never copied."""
    dataset = version.dataset
    if on_spark:
        _, new_parts, profiles = on_spark
    else:
        new_parts = _partition_files(con, result, work_dir, dataset)
        profiles = ingestion.profile_parquet(result.parquet_path, result.columns, con=con)
    progress(70)
    kept: list[DatasetPart] = []
    base_fields: dict = {}
    if version.mode == UploadMode.APPEND:
        kept, base_fields, profiles = _appended(version, result, new_parts, profiles, con)
    progress(85)
    stored = []
    for part in new_parts:
        name = store_file(part.path, f"datasets/{dataset.pk}/parts/{part.relative}")
        stored.append(dataclasses.replace(part, relative=name))
    return _partitioned_ingested(
        version, result, profiles, result.source_sha256, work_dir, kept, stored, base_fields
    )


def _partitioned_ingested(version, result, profiles, source_sha, work_dir, kept, new_parts, base_fields):
    """What a partitioned version is made of: the files it keeps (`kept`, `DatasetPart` rows)
    and its new ones (stored, `relative` their stored names), under a stored manifest."""
    files = [(p.path, p.sha256) for p in kept] + [(p.relative, p.sha256) for p in new_parts]
    manifest_sha, manifest_name = _store_manifest(version, files, work_dir)
    return _Ingested(
        result,
        profiles,
        source_sha,
        manifest_sha,
        manifest_name,
        parts=kept,
        new_parts=new_parts,
        row_count=sum(p.rows for p in kept) + sum(p.rows for p in new_parts),
        parquet_bytes=sum(p.bytes for p in kept) + sum(p.bytes for p in new_parts),
        base_fields=base_fields,
    )


def _same_scheme(base_parts: list, new_parts: list) -> bool:
    """Whether the base version's files were cut like the new ones: the same kind of period key
    (2024-01, 2024-Q1, 2024) and a region key in both or neither."""

    def shape(period: str, region: str) -> tuple:
        return (len(period), "-Q" in period, bool(region))

    known = {shape(p.period, p.region) for p in base_parts if p.period != partition.MISSING}
    new = {shape(p.period, p.region) for p in new_parts if p.period != partition.MISSING}
    return not known or not new or known == new


def _check_same_columns(base_fields: dict, columns: list[dict], number: int) -> None:
    have = [(c["name"], c["type"]) for c in columns]
    want = [(f.name, f.type) for f in sorted(base_fields.values(), key=lambda f: f.position)]
    if have != want:
        missing = [f"{n} ({t})" for n, t in want if (n, t) not in have]
        extra = [f"{n} ({t})" for n, t in have if (n, t) not in want]
        raise ingestion.IngestionError(
            _(
                "An appended file must have the columns of version %(number)s, in the same order "
                "and with the same types. Missing or different: %(missing)s. Not expected: %(extra)s."
            )
            % {"number": number, "missing": ", ".join(missing) or "-", "extra": ", ".join(extra) or "-"}
        )


def _record_ingestion(version: DatasetVersion, ingested: _Ingested) -> None:
    result = ingested.result
    version.fields.all().delete()
    fields = [
        _field_from(column, ingested.profiles.get(column["name"], {}), version) for column in result.columns
    ]
    _suggest_titles(version, fields)
    for field in fields:  # an append keeps the curators' choices of the version it extends
        base = ingested.base_fields.get(field.name)
        if base is not None:
            field.sensitivity = base.sensitivity
            field.title = base.title or field.title
            field.description = base.description or field.description
    Field.objects.bulk_create(fields)
    version.file_kind = result.file_kind
    version.encoding = result.encoding or ""
    version.dialect = result.dialect
    version.row_count = result.row_count if ingested.row_count is None else ingested.row_count
    version.source_sha256 = ingested.source_sha256
    version.parquet = ingested.stored
    version.parquet_bytes = result.parquet_bytes if ingested.parquet_bytes is None else ingested.parquet_bytes
    version.parquet_sha256 = ingested.parquet_sha256
    if ingested.parts or ingested.new_parts:
        created = DatasetPart.objects.bulk_create(
            [
                DatasetPart(
                    dataset_id=version.dataset_id,
                    path=p.relative,
                    period=p.period,
                    region=p.region,
                    rows=p.rows,
                    bytes=p.bytes,
                    sha256=p.sha256,
                    date_min=p.date_min,
                    date_max=p.date_max,
                    region_min=p.region_min,
                    region_max=p.region_max,
                    created_by_version=version,
                )
                for p in ingested.new_parts
            ]
        )
        version.parts.set([*ingested.parts, *created])


def _suggest_titles(version: DatasetVersion, fields: list[Field]) -> None:
    """Titles and descriptions for new columns: what the center wrote for the same column in
    the dataset's previous version, else the project dictionary's suggestion (the center edits
    either on the version's fields page)."""
    previous = {
        f.name: f
        for f in Field.objects.filter(
            version__dataset_id=version.dataset_id, version__number__lt=version.number
        ).order_by("version__number")
    }
    for field in fields:
        earlier = previous.get(field.name)
        if earlier is not None and (earlier.title or earlier.description):
            field.title, field.description = earlier.title, earlier.description
            continue
        suggestion = column_suggestion(field.name)
        if suggestion is not None:
            field.title, field.description = suggestion.title, suggestion.description


def _field_from(column: dict, profile: dict, version: DatasetVersion) -> Field:
    samples = [str(v["value"]) for v in profile.get("top_values") or [] if v.get("value") is not None]
    suggested = ingestion.suggest_sensitivity(column["name"], samples)
    return Field(
        version=version,
        position=column["position"],
        name=column["name"],
        type=column["type"],
        duckdb_type=column.get("duckdb_type", ""),
        sensitivity=suggested,
        suggested_sensitivity=suggested,
        profile=profile,
    )


def _audit_failure(version: DatasetVersion, row: int | None = None, column: str | None = None) -> None:
    audit_record(
        actor=SYSTEM,
        verb="catalog.version.failed",
        target=version,
        organization=version.dataset.center,
        after={"error": version.error, "row": row, "column": column},
    )


def _version_fail(
    version_id: int,
    message: str,
    *,
    row: int | None = None,
    column: str | None = None,
    detail: dict | None = None,
) -> DatasetVersion:
    with transaction.atomic():
        failed = jobs.job_fail(DatasetVersion, version_id, message)
        version = failed.job
        if failed.claimed:
            version.error_row, version.error_column = row, column or ""
            version.error_detail = detail or {}
            version.save(update_fields=["error_row", "error_column", "error_detail"])
            _audit_failure(version, row, column)
    return version


def version_fail(*, actor, version_id: int, message: str) -> DatasetVersion:
    """Mark an ingestion failed for a reason outside the file (retries exhausted, time limit)."""
    version = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
    authorize(permissions.version_fail, actor, version)
    return _version_fail(version_id, message)


def versions_requeue_stuck(*, actor, now=None) -> list[int]:
    """Versions that should be ingesting but nobody is working on (`marketplace.jobs`:
    queued past INGEST_QUEUE_DEADLINE, ingesting past INGEST_RUN_DEADLINE). Returns their ids
    to queue again; versions past INGEST_MAX_ATTEMPTS are failed instead. Also removes the
    work directories (partial Parquet files) that killed workers left behind."""
    authorize(permissions.versions_requeue_stuck, actor)
    now = now or timezone.now()
    requeue, give_up = jobs.jobs_stuck(DatasetVersion, now=now)
    for pk, attempts in give_up:
        _version_fail(pk, str(DatasetVersion.GAVE_UP % {"n": attempts}))
    remove_stale_work_dirs("ingest-", now - settings.INGEST_RUN_DEADLINE)
    return requeue


def _field_change_errors(version: DatasetVersion, fields: dict, changes: list[dict]) -> dict[str, list[str]]:
    """What is wrong with `changes`, by column name ("name" for unknown columns)."""
    field_errors: dict[str, list[str]] = {}
    for change in changes:
        name = change.get("name")
        field = fields.get(name)
        if field is None:
            field_errors.setdefault("name", []).append(_("No column named %(name)s.") % {"name": name})
            continue
        if "sensitivity" not in change:
            continue
        if change["sensitivity"] not in Sensitivity.values:
            field_errors.setdefault(name, []).append(
                _("Sensitivity is one of: %(choices)s.") % {"choices": ", ".join(Sensitivity.values)}
            )
        elif change["sensitivity"] != field.sensitivity and version.status == DatasetVersion.Status.PUBLISHED:
            field_errors.setdefault(name, []).append(
                _("This version is published; upload a new version to change sensitivities.")
            )
    return field_errors


def version_fields_update(*, actor, version: DatasetVersion, changes: list[dict]) -> DatasetVersion:
    """Set sensitivities, titles and descriptions. A published version's sensitivities are
    frozen (licenses were granted on them); upload a new version to change them."""
    authorize(permissions.version_fields_update, actor, version, can_view=permissions.version_view)
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(of=("self",))
            .select_related("dataset__center")
            .get(pk=version.pk)
        )
        if version.status not in (DatasetVersion.Status.READY, DatasetVersion.Status.PUBLISHED):
            raise errors.InvalidState(_("Fields can be edited once ingestion has finished."))
        fields = {f.name: f for f in version.fields.all()}
        field_errors = _field_change_errors(version, fields, changes)
        if field_errors:
            raise errors.ApplicationError(_("Some field changes are not valid."), errors=field_errors)
        before, after, touched = {}, {}, []
        for change in changes:
            field = fields[change["name"]]
            diff = {
                k: change[k]
                for k in ("sensitivity", "title", "description")
                if k in change and change[k] != getattr(field, k)
            }
            if not diff:
                continue
            before[field.name] = {k: getattr(field, k) for k in diff}
            after[field.name] = diff
            for key, value in diff.items():
                setattr(field, key, value)
            touched.append(field)
        Field.objects.bulk_update(touched, ["sensitivity", "title", "description"])
        if touched:
            audit_record(
                actor=actor,
                verb="catalog.version.fields_updated",
                target=version,
                organization=version.dataset.center,
                before=before,
                after=after,
            )
            catalog_cache.changed(version.dataset)  # titles and descriptions of a published version are shown
            dataset = version.dataset
            Dataset.objects.filter(pk=dataset.pk).update(search_text=_search_text(dataset))
    return version


def version_publish(*, actor, version: DatasetVersion) -> DatasetVersion:
    """Make a ready version the one buyers get. The previous published version stays readable
    for licenses issued on it."""
    authorize(permissions.version_publish, actor, version, can_view=permissions.version_view)
    with transaction.atomic():
        dataset = (
            Dataset.objects.select_for_update(of=("self",))
            .select_related("center")
            .get(pk=version.dataset_id)
        )
        version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        if dataset.current_version_id == version.pk:
            return version
        if version.status != DatasetVersion.Status.READY:
            raise errors.InvalidState(
                _("Only a version that finished ingestion can be published (this one is %(status)s).")
                % {"status": version.get_status_display()}
            )
        if dataset.status == Dataset.Status.RETIRED:
            raise errors.InvalidState(_("This dataset is retired."))
        previous = dataset.current_version_id
        now = timezone.now()
        version.status = DatasetVersion.Status.PUBLISHED
        version.published_at = now
        version.published_by = None if is_system(actor) else actor
        version.save(update_fields=["status", "published_at", "published_by"])
        dataset.current_version = version
        dataset.status = Dataset.Status.PUBLISHED
        dataset.published_at = dataset.published_at or now
        dataset.search_text = _search_text(dataset)
        dataset.save(update_fields=["current_version", "status", "published_at", "search_text", "updated_at"])
        audit_record(
            actor=actor,
            verb="catalog.version.published",
            target=version,
            organization=dataset.center,
            before={"current_version": previous},
            after={"current_version": version.pk, "number": version.number},
        )
        reactions.announce_on_commit(reactions.VERSION_PUBLISHED, version_id=version.pk)
    # Each record-level offer is measured again over the version buyers now get.
    for offer in dataset.offers.filter(kind=Offer.Kind.RECORDS):
        offer_assess_risk(actor=SYSTEM, offer=offer, version=version)
    if dataset.offers.filter(kind=Offer.Kind.AGGREGATE, is_active=True).exists():
        _keep_released_tables(version.pk)
    catalog_cache.changed(dataset)
    return version


def _keep_released_tables(version_id: int | None) -> None:
    """Once committed, have a worker build the protected tables of the version's open aggregate
    offers (catalog.released_cache), ahead of the first extract or page view that reads them."""
    if version_id:
        transaction.on_commit(lambda: jobs.enqueue("catalog.tasks.keep_released_tables", version_id))


# --- offers -----------------------------------------------------------------------------------

# The offer's terms around its privacy policy (catalog.policy.OfferPolicy holds the rest).
TERMS_FIELDS = (
    "approval",
    "buyer_categories",
    "price_krw",
    "duration_days",
    "download_quota",
    "deliver_updates",
    "is_active",
)
OFFER_FIELDS = ("name", "name_en", *OfferPolicy.KEYS, *TERMS_FIELDS)
MEASURE_AGGREGATES = privacy.AGGREGATES


def _schema_version(dataset: Dataset) -> DatasetVersion:
    if dataset.current_version_id:
        return dataset.current_version
    version = dataset.versions.filter(status=DatasetVersion.Status.READY).order_by("-number").first()
    if version is None:
        raise errors.InvalidState(_("Upload a file and let it finish ingestion before creating offers."))
    return version


def _version_schema(version: DatasetVersion) -> dict[str, privacy.Column]:
    """A version's columns as the privacy planner reads them, by name (one query)."""
    return {
        name: privacy.Column(name, type_, sensitivity)
        for name, type_, sensitivity in version.fields.values_list("name", "type", "sensitivity")
    }


def _terms_errors(values: dict) -> dict[str, list[str]]:
    e: dict[str, list[str]] = {}
    if not (values.get("name") or "").strip():
        e["name"] = [_("Give the offer a name.")]
    cats = values.get("buyer_categories") or []
    bad = [c for c in cats if c not in Organization.BuyerCategory.values]
    if bad:
        e["buyer_categories"] = [
            _("Unknown buyer categories: %(names)s.") % {"names": ", ".join(map(str, bad))}
        ]
    if values.get("approval") not in Offer.Approval.values:
        e["approval"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Offer.Approval.values)}]
    for key, low in (("price_krw", 0), ("duration_days", 1), ("download_quota", 1)):
        value = values.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            e[key] = [_("A whole number of at least %(low)s.") % {"low": low}]
    return e


def offer_errors(*, actor, dataset: Dataset, values: dict) -> dict[str, list[str]]:
    """Every error the offer `values` would be refused with, without saving anything: a form
    shows them all together with its own (one round trip, not one per mistake). Reads only."""
    authorize(permissions.offer_errors, actor, dataset, can_view=permissions.dataset_view)
    try:
        schema = _version_schema(_schema_version(dataset))
    except errors.InvalidState:
        return {}
    e = _terms_errors(values)
    try:
        policy_errors = OfferPolicy.from_values(values).normalized().errors(schema)
    except (TypeError, ValueError, KeyError):
        policy_errors = {}
    for key, messages in policy_errors.items():
        e.setdefault(key, []).extend(messages)
    return e


def _validated_offer(values: dict, schema: dict[str, privacy.Column]) -> dict:
    """`values` with the privacy policy normalized; raises with every error at once."""
    policy = OfferPolicy.from_values(values).normalized()
    e = _terms_errors(values)
    for key, messages in policy.errors(schema).items():
        e.setdefault(key, []).extend(messages)
    if e:
        raise errors.ApplicationError(_("The offer is not valid; see the fields."), errors=e)
    policy_values = {k: v for k, v in policy.model_values().items() if k in values or k == "fields"}
    return {**values, **policy_values}


def _refuse_opening(messages: list[str]) -> None:
    if messages:
        raise errors.ApplicationError(
            _("This record-level offer is above the risk threshold and cannot be open for requests: %(why)s")
            % {"why": " ".join(messages)},
            errors={"is_active": messages},
        )


def _refuse_public_conflicts(policy: OfferPolicy, version: DatasetVersion) -> None:
    """An aggregate offer opened beside open statistics of its dataset must not give back a cell
    one of them suppresses, nor the reverse: everyone holds those (insights answers)."""
    if not policy.is_aggregate:
        return
    messages = reactions.ask(
        reactions.PUBLIC_TABLE_CONFLICTS,
        default=[],
        dataset_id=version.dataset_id,
        version=version,
        policy=policy,
    )
    if messages:
        raise errors.ApplicationError(
            _("This offer cannot be open for requests beside the open statistics of its dataset: %(why)s")
            % {"why": " ".join(messages)},
            errors={"dimensions": messages},
        )


NOT_MEASURED = {"risk_report": None, "risk_computed_at": None, "risk_version": None, "risk_passes": None}
NOTHING_OWED = {
    "risk_token": None,
    "risk_measuring_since": None,
    "open_when_measured": False,
    "risk_progress": None,
    "risk_heartbeat_at": None,
    "risk_failed_at": None,
}


def _unmeasured(*, failed: bool = False) -> dict:
    """The risk fields of an offer with no report and none owed; `failed`: the last try failed
    on the data (risk_status "failed")."""
    return {**NOT_MEASURED, **NOTHING_OWED, "risk_failed_at": timezone.now() if failed else None}


def _measured_later(policy: OfferPolicy, version: DatasetVersion) -> bool:
    """Whether a worker measures the risk of a record offer over `version` (more rows than
    RISK_INLINE_MAX_ROWS: minutes, not seconds) instead of the request that saves it."""
    return not policy.is_aggregate and (version.row_count or 0) > settings.RISK_INLINE_MAX_ROWS


def _owed(version: DatasetVersion, *, opening: bool) -> dict:
    """The risk fields of an offer whose report a worker owes: no report, closed until it passes
    (`open_when_measured` remembers that it was asked to open); see _queue_measurement."""
    return {
        **NOT_MEASURED,
        "risk_version": version,
        "risk_token": uuid.uuid4(),
        "risk_measuring_since": timezone.now(),
        "open_when_measured": opening,
        "risk_progress": 0,
        "risk_heartbeat_at": None,
        "risk_failed_at": None,
    }


def _queue_measurement(offer: Offer) -> None:
    """Once committed, have a worker measure the report `offer` owes (catalog.services.risk_measurement)."""
    if offer.risk_token:
        offer_id, token = offer.pk, str(offer.risk_token)
        transaction.on_commit(lambda: jobs.enqueue("catalog.tasks.measure_offer_risk", offer_id, token))


def _assessed(policy: OfferPolicy, version: DatasetVersion, *, opening: bool) -> dict:
    """The risk fields of an offer with `policy` over `version` (measured now, or owed by a
    worker for a large version); refuses when the offer would be open for requests above the
    operator's threshold, or beside open statistics that it would give away (or that would give
    it away)."""
    if opening:
        _refuse_public_conflicts(policy, version)
    if _measured_later(policy, version):
        return _owed(version, opening=opening)
    return _measure_now(policy, version, opening=opening)


def _measure_now(policy: OfferPolicy, version: DatasetVersion, *, opening: bool, progress=None) -> dict:
    """The risk fields of `policy` over `version`, measured in this process (see _assessed);
    `progress` as risk_reports.report_for takes it."""
    try:
        report = risk_reports.report_for(policy, version, progress)
    except (duckdb.Error, spark.SparkStageError) as exc:  # out of memory or disk on a very large version
        log.warning("risk of an offer over version %s not measured: %s", version.pk, exc)
        if opening:
            message = _(
                "The re-identification risk of this offer could not be measured on the data, so it "
                "cannot be open for requests yet. Save it closed and measure it again later, or ask "
                "an operator."
            )
            raise errors.ApplicationError(message, errors={"is_active": [message]}) from exc
        return _unmeasured(failed=True)
    if report is None:
        return _unmeasured()
    stored = report.to_dict()
    messages = risk_reports.violation_messages(stored)
    if opening and risk_reports.guards(version.dataset):
        _refuse_opening(messages)
    return {
        "risk_report": stored,
        "risk_computed_at": timezone.now(),
        "risk_version": version,
        "risk_passes": not messages,
        **NOTHING_OWED,
    }


def _settle_assessment(offer: Offer, assessed: dict, *, wants_open: bool) -> bool:
    """Set the risk fields `assessed` on the locked `offer`. While a worker owes the report the
    offer stays closed and remembers `wants_open`; with a report that passes (or that does not
    guard the dataset) an offer that was waiting to open opens. Returns whether it opened."""
    for key, value in assessed.items():
        setattr(offer, key, value)
    if offer.risk_token:
        offer.open_when_measured = wants_open
        return False
    if wants_open and not offer.is_active and offer.risk_report and not risk_reports.refusal(offer):
        offer.is_active = True
        return True
    return False


def offer_assess_risk(*, actor, offer: Offer, version: DatasetVersion | None = None) -> Offer:
    """Measure a record-level offer's risk over `version` (default: the dataset's current one)
    and store the report with the offer. Never refuses: an offer above the threshold stays as
    it is, and its requests cannot be approved (`risk_reports.refusal`)."""
    authorize(
        permissions.offer_assess_risk,
        actor,
        offer,
        can_view=lambda a, o: permissions.dataset_view(a, o.dataset),
    )
    if offer.kind != Offer.Kind.RECORDS:
        return offer
    version = version or _schema_version(offer.dataset)
    assessed = _assessed(offer.policy, version, opening=False)
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update(of=("self",)).select_related("dataset__center").get(pk=offer.pk)
        )
        _store_assessment(actor, offer, assessed, version)
        _queue_measurement(offer)
    return offer


def _store_assessment(actor, offer: Offer, assessed: dict, version: DatasetVersion | None) -> bool:
    """Settle `assessed` on the locked `offer` (see _settle_assessment), save and audit it.
    Returns whether the offer opened."""
    opened = _settle_assessment(offer, assessed, wants_open=offer.open_when_measured)
    offer.save(update_fields=[*assessed, "is_active", "updated_at"])
    audit_record(
        actor=actor,
        verb="catalog.offer.risk_assessed",
        target=offer,
        organization=offer.dataset.center,
        after={
            "version": version.pk if version else None,
            "passes": offer.risk_passes,
            "report": offer.risk_report,
            "status": offer.risk_status,
            "opened": opened,
        },
    )
    return opened


def risk_threshold_update(*, actor, **values) -> RiskThresholdSetting:
    """Set the operator's risk threshold for record-level offers (one row)."""
    authorize(permissions.risk_threshold_update, actor, None)
    keys = ("min_k", "max_sample_uniqueness", "max_unicity", "max_linkage")
    with transaction.atomic():
        row = (
            RiskThresholdSetting.objects.select_for_update().order_by("pk").first() or RiskThresholdSetting()
        )
        before = {k: getattr(row, k) for k in keys}
        for key in keys:
            if key in values:
                setattr(row, key, values[key])
        row.updated_by = None if is_system(actor) else actor
        problems: dict[str, list[str]] = {}
        try:
            row.full_clean(exclude=["updated_by"])
        except ValidationError as exc:
            problems = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        if not problems and not 2 <= row.min_k <= 1000:  # k of 1 would switch the rule off
            problems["min_k"] = [_("The minimum k-anonymity must be between 2 and 1000.")]
        if problems:
            raise errors.ApplicationError(_("The threshold is not valid; see the fields."), errors=problems)
        row.save()
        audit_record(
            actor=actor,
            verb="catalog.risk_threshold.updated",
            target=row,
            organization=None,
            before=before,
            after={k: getattr(row, k) for k in keys},
        )
    return row


def offer_create(*, actor, dataset: Dataset, terms: str, **values) -> Offer:
    """Add an offer; its terms become version 1 of its license text."""
    authorize(permissions.offer_create, actor, dataset, can_view=permissions.dataset_view)
    if not (terms or "").strip():
        raise errors.ApplicationError(
            _("Write the license terms."), errors={"terms": [_("This field is required.")]}
        )
    values = {k: v for k, v in values.items() if k in OFFER_FIELDS}
    values.setdefault("approval", Offer.Approval.CENTER)
    version = _schema_version(dataset)
    values = _validated_offer(values, _version_schema(version))
    assessed = _assessed(OfferPolicy.from_values(values), version, opening=values.get("is_active", True))
    if assessed["risk_token"]:
        values["is_active"] = False  # opened by the worker once the report passes
    with transaction.atomic():
        offer = Offer.objects.create(
            dataset=dataset, created_by=None if is_system(actor) else actor, **values, **assessed
        )
        offer.current_terms = LicenseTerms.objects.create(offer=offer, version=1, text=terms.strip())
        offer.save(update_fields=["current_terms"])
        audit_record(
            actor=actor,
            verb="catalog.offer.created",
            target=offer,
            organization=dataset.center,
            after={
                "name": offer.name,
                "kind": offer.kind,
                "price_krw": offer.price_krw,
                "approval": offer.approval,
                "is_active": offer.is_active,
                "risk_status": offer.risk_status,
            },
        )
        _queue_measurement(offer)
    if offer.kind == Offer.Kind.AGGREGATE and offer.is_active:
        _keep_released_tables(dataset.current_version_id)
    catalog_cache.changed(dataset)
    return offer


def _reassess(offer: Offer, cleaned: dict, values: dict, changed: list[str], version) -> bool:
    """The risk side of an offer update on the locked `offer`: measured again when its policy or
    version changed (now, or owed by a worker), refused when it would open above the threshold.
    An offer waiting for its report is closed but asked to open: that request stands until the
    change (`values`) says otherwise. Returns whether the policy or version changed."""
    wants_open = (
        cleaned["is_active"] if "is_active" in values else offer.is_active or offer.open_when_measured
    )
    policy_changed = any(k in OfferPolicy.KEYS for k in changed) or offer.risk_version_id != version.pk
    if policy_changed:
        for key, value in _assessed(OfferPolicy.from_values(cleaned), version, opening=wants_open).items():
            setattr(offer, key, value)
    elif wants_open and not offer.is_active and not offer.risk_token:
        _refuse_public_conflicts(OfferPolicy.from_values(cleaned), version)
        _refuse_opening(risk_reports.refusal(offer))
    if offer.risk_token:
        offer.open_when_measured = wants_open
    return policy_changed


def offer_update(*, actor, offer: Offer, terms: str | None = None, **values) -> Offer:
    """Change an offer. New terms become a new version; licenses already issued keep theirs."""
    authorize(
        permissions.offer_update, actor, offer, can_view=lambda a, o: permissions.dataset_view(a, o.dataset)
    )
    values = {k: v for k, v in values.items() if k in OFFER_FIELDS}
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update(of=("self",))
            .select_related("dataset__center", "current_terms")
            .get(pk=offer.pk)
        )
        merged = {k: getattr(offer, k) for k in OFFER_FIELDS} | values
        version = _schema_version(offer.dataset)
        cleaned = _validated_offer(merged, _version_schema(version))
        changed = [k for k in OFFER_FIELDS if k in values or (k == "fields" and cleaned[k] != offer.fields)]
        before = {k: getattr(offer, k) for k in changed}
        policy_changed = _reassess(offer, cleaned, values, changed, version)
        for key in changed:
            setattr(offer, key, cleaned[key])
        if offer.risk_token:  # owed by a worker: closed until the report passes
            offer.is_active = False
        if (
            terms is not None
            and terms.strip()
            and terms.strip() != (offer.current_terms.text if offer.current_terms else "")
        ):
            last = offer.terms_versions.aggregate(n=Max("version"))["n"] or 0
            offer.current_terms = LicenseTerms.objects.create(
                offer=offer, version=last + 1, text=terms.strip()
            )
            values["terms_version"] = last + 1
        offer.save()
        audit_record(
            actor=actor,
            verb="catalog.offer.updated",
            target=offer,
            organization=offer.dataset.center,
            before={k: str(v) if isinstance(v, Decimal) else v for k, v in before.items()},
            after={
                **{k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()},
                "risk_status": offer.risk_status,
            },
        )
        if policy_changed:
            _queue_measurement(offer)
    if offer.kind == Offer.Kind.AGGREGATE and offer.is_active:
        _keep_released_tables(offer.dataset.current_version_id)
    catalog_cache.changed(offer.dataset)
    return offer

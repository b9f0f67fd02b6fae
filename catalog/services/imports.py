"""Versions imported from the center's prefix in object storage (`source_uris`), many files in
one call: each file is ingested by its own task, in parallel, and the last one to finish queues
the join that makes them one version (a chord whose count is kept in PostgreSQL, since the
broker keeps no results; `VersionSource`). The files are checked, converted, partitioned and
profiled exactly as an upload is; their profiles are merged, never recomputed over the table."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import uuid
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from catalog import import_store, ingestion, permissions, spark_ingestion
from catalog.ingestion import partition
from catalog.ingestion.errors import message_template as _t
from catalog.ingestion.sql import insertion_order_preserved, literal
from catalog.models import Dataset, DatasetVersion, UploadMode, VersionSource
from catalog.services import (
    _appended,
    _check_takes_version,
    _converted_file,
    _enqueue_ingestion,
    _finish_ingestion,
    _Ingested,
    _new_version,
    _partition_files,
    _partitioned_ingested,
    _remove_stored,
    _version_fail,
)
from catalog.storage import local_path, sha256_of, store_file
from marketplace import errors, jobs
from marketplace.audit import audit_record
from marketplace.authz import authorize
from marketplace.duckdb import connect


def _display_name(files: list[import_store.ImportFile]) -> str:
    if len(files) == 1:
        return files[0].name[:255]
    return f"{files[0].name} … {files[-1].name} ({len(files)})"[:255]


def version_import(
    *,
    actor,
    dataset: Dataset,
    source_uris: list[str],
    mode: str = UploadMode.REPLACE,
    replace_periods: bool = False,
) -> DatasetVersion:
    """A new version made of files in the center's import prefix, queued for ingestion. Every
    URI is checked against the prefix and storage (size, ETag) before anything is recorded; the
    files ingested are exactly those seen then (a file replaced since fails the version).
    `mode` and `replace_periods` as for an upload."""
    authorize(permissions.version_import, actor, dataset, can_view=permissions.dataset_view)
    _check_takes_version(dataset, mode)
    if not source_uris:
        raise errors.ApplicationError(
            _("Name at least one file."), errors={"source_uris": [_("Name at least one file.")]}
        )
    files = import_store.resolve(dataset.center_id, source_uris)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        version, replaced = _new_version(
            locked,
            actor,
            mode,
            replace_periods,
            original_filename=_display_name(files),
            source_bytes=sum(f.bytes for f in files),
        )
        version.save()
        VersionSource.objects.bulk_create(
            VersionSource(version=version, position=i, uri=f.uri, key=f.key, etag=f.etag, bytes=f.bytes)
            for i, f in enumerate(files)
        )
        audit_record(
            actor=actor,
            verb="catalog.version.imported",
            target=version,
            organization=dataset.center,
            after={
                "number": version.number,
                "files": len(files),
                "uris": [f.uri for f in files[:20]],
                "bytes": version.source_bytes,
                "mode": mode,
                **({"replaces_failed": [v.number for v in replaced]} if replaced else {}),
            },
        )
        transaction.on_commit(lambda: _enqueue_ingestion(version.pk))
    return version


# --- one file -----------------------------------------------------------------------------------


def _version_is_ingesting(source: VersionSource) -> str | None:
    if source.version.status != DatasetVersion.Status.INGESTING:
        return str(_("The version is no longer being ingested."))
    return None


def version_source_ingest(*, actor, source_id: int) -> VersionSource:
    """Ingest one imported file: download it (the object seen at import), convert it, cut it
    into partition files (or one staged file) in storage and profile it; the last file of the
    version to finish queues the join. A bad file fails the version with the file's name."""
    source = VersionSource.objects.select_related("version__dataset").get(pk=source_id)
    authorize(permissions.version_source_ingest, actor, source)
    claim = jobs.job_claim(VersionSource, source_id, check=_version_is_ingesting)
    if not claim.claimed:
        return claim.job
    try:
        result = _ingest_source(source)
    except ingestion.IngestionError as exc:
        return _source_failed(source, exc)
    return _source_done(source, result)


def _ingest_source(source: VersionSource) -> dict:
    """The work, outside any transaction: what the join needs of this file (JSON)."""
    version, dataset = source.version, source.version.dataset
    progress = jobs.ProgressReporter(VersionSource, source.pk)
    work_dir = Path(settings.WORK_DIR) / f"ingest-{version.pk}-{source.position}-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        local = work_dir / "source.bin"
        file = import_store.ImportFile(source.uri, source.key, source.bytes, source.etag)
        import_store.download(file, local, on_fraction=lambda f: progress(f * 30))
        converted, parts, profile = _converted(con, local, work_dir, dataset, progress)
        result = {
            "columns": converted.columns,
            "file_kind": converted.file_kind,
            "encoding": converted.encoding or "",
            "dialect": converted.dialect,
            "rows": converted.row_count,
            "source_sha256": converted.source_sha256,
            "profile": profile,
        }
        local.unlink()
        if dataset.period_field:
            result["parts"] = _stored_parts(con, dataset, converted, work_dir, parts)
        else:
            name = f"datasets/{dataset.pk}/versions/{version.number}/sources/{source.position}.parquet"
            result["staged"] = store_file(converted.parquet_path, name)
        return result
    finally:
        con.close()
        shutil.rmtree(work_dir, ignore_errors=True)


def _converted(con, local: Path, work_dir: Path, dataset: Dataset, progress):
    """The downloaded file converted (`_converted_file`): the result, Spark's partition files
    (None when DuckDB converted it into one file) and the profile."""
    converted = _converted_file(
        con, local, work_dir, dataset, settings.IMPORT_MAX_UNCOMPRESSED_BYTES, lambda f: progress(30 + f * 50)
    )
    if isinstance(converted, spark_ingestion.Ingested):
        return converted
    return converted, None, ingestion.profile_parquet(converted.parquet_path, converted.columns, con=con)


def _stored_parts(con, dataset: Dataset, converted, work_dir: Path, parts=None) -> list[dict]:
    """The file's partition files (cut now by DuckDB, or `parts` as Spark wrote them), stored."""
    if parts is None:
        parts = _partition_files(con, converted, work_dir, dataset)
    stored = []
    for part in parts:
        name = store_file(part.path, f"datasets/{dataset.pk}/parts/{part.relative}")
        values = dataclasses.asdict(dataclasses.replace(part, path=Path(name), relative=name))
        values["path"] = name
        for key in ("date_min", "date_max"):
            values[key] = values[key].isoformat() if values[key] else None
        stored.append(values)
    return stored


def _stored_names(result: dict) -> list[str]:
    return [p["path"] for p in result.get("parts", [])] + ([result["staged"]] if result.get("staged") else [])


def _source_done(source: VersionSource, result: dict) -> VersionSource:
    """Record the file's result; the last file of a version still ingesting queues the join.
    A file finished for a version that failed meanwhile removes what it stored."""
    with transaction.atomic():
        version = DatasetVersion.job_lock(source.version_id)
        done = jobs.job_finish(VersionSource, source.pk, lambda s: setattr(s, "result", result))
        if not done.claimed or version.status != DatasetVersion.Status.INGESTING:
            transaction.on_commit(lambda: [_remove_stored(n) for n in _stored_names(result)])
            return done.job
        sources = list(version.sources.values_list("status", "bytes"))
        finished = sum(b for status, b in sources if status == VersionSource.Status.DONE)
        jobs.ProgressReporter(DatasetVersion, version.pk)(90 * finished / max(1, sum(b for _s, b in sources)))
        if all(status == VersionSource.Status.DONE for status, _b in sources):
            transaction.on_commit(lambda: jobs.enqueue("catalog.tasks.join_sources", version.pk))
    return done.job


def _source_failed(source: VersionSource, exc: ingestion.IngestionError) -> VersionSource:
    """A bad file fails its version, naming the file; the files already stored are removed."""
    detail = {"template": exc.template, "params": exc.params, "file": source.name}
    with transaction.atomic():
        failed = jobs.job_fail(VersionSource, source.pk, exc.message)
        VersionSource.objects.filter(pk=source.pk).update(error_detail=detail)
        _fail_for_source(source.version_id, f"{source.name}: {exc.message}", exc, detail)
    return failed.job


def version_source_fail(*, actor, source_id: int, message: str) -> VersionSource:
    """Fail a file, and its version, for a reason outside the file (retries exhausted)."""
    source = VersionSource.objects.get(pk=source_id)
    authorize(permissions.version_source_fail, actor, source)
    with transaction.atomic():
        failed = jobs.job_fail(VersionSource, source_id, message)
        _fail_for_source(source.version_id, message, None, {})
    return failed.job


def _fail_for_source(version_id: int, message: str, exc, detail: dict) -> None:
    """Fail the version for one file's error and remove what its other files stored."""
    row, column = (exc.row, exc.column) if exc else (None, None)
    _version_fail(version_id, message, row=row, column=column, detail=detail)
    stored = [
        name
        for result in VersionSource.objects.filter(
            version_id=version_id, status=VersionSource.Status.DONE
        ).values_list("result", flat=True)
        for name in _stored_names(result)
    ]
    transaction.on_commit(lambda: [_remove_stored(n) for n in stored])


# --- the join -----------------------------------------------------------------------------------


def version_sources_join(*, actor, version_id: int) -> DatasetVersion:
    """Make the ingested files one version: the same columns in every file (else the version
    fails naming the first file that differs), their profiles merged, their partition files
    (after the base version's, for an append) in one manifest, or their staged files written as
    one Parquet file. Does nothing unless the version is ingesting and every file is done."""
    version = DatasetVersion.objects.select_related("dataset", "base_version").get(pk=version_id)
    authorize(permissions.version_sources_join, actor, version)
    sources = list(version.sources.order_by("position"))
    if version.status != DatasetVersion.Status.INGESTING or any(
        s.status != VersionSource.Status.DONE for s in sources
    ):
        return version
    try:
        ingested = _joined(version, sources)
    except ingestion.IngestionError as exc:
        detail = {"template": exc.template, "params": exc.params, "file": exc.params.get("file", "")}
        with transaction.atomic():
            _fail_for_source(version_id, exc.message, exc, detail)
        return DatasetVersion.objects.get(pk=version_id)
    joined = _finish_ingestion(actor, version_id, ingested)
    if joined.status == DatasetVersion.Status.READY and not version.dataset.period_field:
        for source in sources:  # now in the version's one file
            _remove_stored(source.result["staged"])
    return joined


def _check_same_columns(sources: list[VersionSource]) -> None:
    first = sources[0]
    want = [(c["name"], c["type"]) for c in first.result["columns"]]
    for source in sources[1:]:
        have = [(c["name"], c["type"]) for c in source.result["columns"]]
        if have != want:
            differ = [f"{n} ({t})" for n, t in have if (n, t) not in want] or [
                f"{n} ({t})" for n, t in want if (n, t) not in have
            ]
            raise ingestion.IngestionError(
                _t(
                    "The file %(file)s does not have the columns of %(first)s, in the same order and "
                    "with the same types (it differs at %(columns)s). Make the files alike, or import "
                    "them as separate versions."
                ),
                file=source.name,
                first=first.name,
                columns=", ".join(differ) or "-",
            )


def _joined(version: DatasetVersion, sources: list[VersionSource]) -> _Ingested:
    _check_same_columns(sources)
    first = sources[0].result
    columns = first["columns"]
    profiles = first["profile"]
    for source in sources[1:]:
        profiles = ingestion.merge_profiles(profiles, source.result["profile"], columns)
    source_sha = hashlib.sha256(
        "".join(f"{s.result['source_sha256']}  {s.key}\n" for s in sources).encode()
    ).hexdigest()
    result = ingestion.IngestResult(
        parquet_path=Path(),
        file_kind=first["file_kind"],
        encoding=first["encoding"] or None,
        dialect=first["dialect"],
        row_count=sum(s.result["rows"] for s in sources),
        source_bytes=sum(s.bytes for s in sources),
        parquet_bytes=0,
        columns=columns,
    )
    work_dir = Path(settings.WORK_DIR) / f"ingest-{version.pk}-join-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        if version.dataset.period_field:
            return _joined_parts(version, sources, result, profiles, source_sha, work_dir, con)
        return _joined_file(version, sources, result, profiles, source_sha, work_dir, con)
    finally:
        con.close()
        shutil.rmtree(work_dir, ignore_errors=True)


def _part_file(values: dict) -> partition.PartFile:
    dates = {k: date.fromisoformat(values[k]) if values[k] else None for k in ("date_min", "date_max")}
    return partition.PartFile(**{**values, **dates, "path": local_path(values["path"])})


def _joined_parts(version, sources, result, profiles, source_sha, work_dir, con) -> _Ingested:
    new_parts = [_part_file(p) for s in sources for p in s.result.get("parts", [])]
    kept, base_fields = [], {}
    if version.mode == UploadMode.APPEND:
        kept, base_fields, profiles = _appended(version, result, new_parts, profiles, con)
    return _partitioned_ingested(
        version, result, profiles, source_sha, work_dir, kept, new_parts, base_fields
    )


def _joined_file(version, sources, result, profiles, source_sha, work_dir, con) -> _Ingested:
    """An unpartitioned dataset's files, in the order named, as its one Parquet file."""
    staged = [s.result["staged"] for s in sources]
    output = work_dir / "data.parquet"
    files = "[" + ", ".join(literal(local_path(name)) for name in staged) + "]"
    with insertion_order_preserved(con):
        con.execute(
            f"COPY (SELECT * FROM read_parquet({files}, hive_partitioning = false)) "  # noqa: S608
            f"TO {literal(output)} (FORMAT parquet, COMPRESSION zstd)"
        )
    parquet_sha = sha256_of(output)
    parquet_bytes = output.stat().st_size
    stored = store_file(output, f"datasets/{version.dataset_id}/versions/{version.number}/data.parquet")
    return _Ingested(
        dataclasses.replace(result, parquet_bytes=parquet_bytes),
        profiles,
        source_sha,
        parquet_sha,
        stored,
    )

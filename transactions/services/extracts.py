"""Extracts: building a license's file on a worker, and handing it over through signed links.

The engine (transactions/extracts) turns a recipe into a file; these services decide when a
file is built, check the license at build time and again at download, store the bundle and
keep the record."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from catalog import privacy, spark
from catalog import selectors as catalog_selectors
from catalog.models import DatasetVersion
from catalog.policy import OfferPolicy
from catalog.storage import remove_stale_work_dirs, store_file
from marketplace import errors, jobs
from marketplace.actors import SYSTEM, is_system
from marketplace.audit import audit_record
from marketplace.authz import authorize
from transactions import keystore, permissions
from transactions.extracts import bundle as bundles
from transactions.extracts import engine
from transactions.extracts.leaks import RowCandidate, trace_leak, trace_rows
from transactions.extracts.writers import ExtractError
from transactions.models import Extract, License, license_is_active_now, license_is_usable
from transactions.notifications import BUYER, notify
from transactions.services.ledger import disclosure_release_record
from transactions.services.licenses import _download_refusal, license_download_record

log = logging.getLogger(__name__)
Status = Extract.Status
SIGNING_SALT = "jangteo.extract-download"


def _audit(extract: Extract, *, actor, verb: str, after: dict | None = None, before: dict | None = None):
    return audit_record(
        actor=actor,
        verb=f"transactions.extract.{verb}",
        target=extract,
        organization=extract.license.organization,
        other_organization=extract.license.dataset.center,
        before=before,
        after=after,
    )


def _enqueue(extract_id: int) -> None:
    jobs.enqueue("transactions.tasks.build_extract", extract_id)


def _extract_choices(format: str | None, header: str | None) -> tuple[str, str]:
    """The format and header row asked for (the defaults when not given), or a 400 naming the
    choices."""
    format = format or settings.EXTRACT_DEFAULT_FORMAT
    if format not in Extract.Format.values:
        raise errors.ApplicationError(
            _("Choose a format: %(formats)s.") % {"formats": ", ".join(Extract.Format.values)},
            errors={"format": [_("Not a known format.")]},
        )
    header = header or Extract.Header.NAMES
    if header not in Extract.Header.values:
        raise errors.ApplicationError(
            _("Choose a header row: %(choices)s.") % {"choices": ", ".join(Extract.Header.values)},
            errors={"header": [_("Not a known header row.")]},
        )
    return format, header


def _requeue(extract: Extract) -> Extract:
    """A failed or purged extract queued again from the start (under its job lock)."""
    extract = Extract.job_lock(extract.pk)
    extract.status, extract.progress, extract.error = Status.QUEUED, 0, ""
    extract.queued_at, extract.started_at, extract.finished_at = timezone.now(), None, None
    extract.attempts = 0
    extract.save(
        update_fields=["status", "progress", "error", "queued_at", "started_at", "finished_at", "attempts"]
    )
    return extract


def extract_request(
    *,
    actor,
    license: License,
    format: str | None = None,
    version: DatasetVersion | None = None,
    header: str | None = None,
) -> Extract:
    """Ask for the license's file in `format` built from `version` (default: the dataset's
    published version). One extract per license, version and format: asking again returns it,
    or queues it again when it failed or its file was purged."""
    authorize(permissions.extract_request, actor, license, can_view=permissions.license_view)
    format, header = _extract_choices(format, header)
    with transaction.atomic():
        license = License.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=license.pk)
        if not license_is_active_now(license):
            raise errors.InvalidState(_("This license is not active, so no file can be built for it."))
        version = version or license.dataset.current_version
        if version is None or version.dataset_id != license.dataset_id:
            raise errors.InvalidState(_("The dataset has no published version to deliver."))
        extract, created = Extract.objects.get_or_create(
            license=license,
            version=version,
            format=format,
            header=header,
            defaults={"requested_by": None if is_system(actor) else actor},
        )
        if not created and extract.status not in (Status.FAILED, Status.EXPIRED):
            return extract
        if not created:
            extract = _requeue(extract)
        _audit(
            extract,
            actor=actor,
            verb="queued",
            after={"format": format, "header": header, "version": version.number},
        )
        transaction.on_commit(lambda: _enqueue(extract.pk))
    return extract


def _recipe_for(extract: Extract) -> engine.Recipe:
    license = extract.license
    version = extract.version
    if not version.parquet or not default_storage.exists(version.parquet):
        raise ExtractError(
            _("The dataset's data file is missing from storage; the platform team has been told.")
        )
    fields = list(version.fields.all())
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in fields]
    policy = OfferPolicy.from_snapshot(license.offer_snapshot)
    # Records: only the partition files the license's scope can touch (catalog.selectors).
    files = catalog_selectors.version_files(version, policy=policy, scope=license.scope)
    return engine.build_recipe(
        parquet=files,
        spark_files=_spark_files(files, schema, policy, license.scope, version.cell_key_seed),
        source_sha256=version.parquet_sha256,
        schema=schema,
        policy=policy,
        scope=license.scope,
        key=keystore.license_key(license.pk),
        format=extract.format,
        noise_seed=version.cell_key_seed,
        labels=engine.header_labels(fields) if extract.header == Extract.Header.TITLES else None,
    )


def _spark_files(files: str | list[str], schema, policy, scope: dict, noise_seed: str) -> list[str] | None:
    """The files to scan on Spark, when Spark is configured, the scan is at least
    SPARK_MIN_SCAN_BYTES and the extract has a Spark form; else None (DuckDB scans)."""
    if not spark.scan_is_large(files):
        return None
    if spark.compilable({c.name: c for c in schema}, policy, scope, noise_seed):
        return None
    if not spark.reachable():
        log.warning("Spark Connect at %s does not answer; this extract runs on DuckDB", settings.SPARK_REMOTE)
        return None
    return privacy.source_files(files)


def _recipe_sha256(recipe: engine.Recipe, license_id: int) -> str:
    """Identifies what a file contains: query, parameters, source content, engine and the
    license whose key pseudonymizes it (the recipe holds no key material, only placeholders).
    The source's storage path (a parameter) is left out: the source is identified by its hash."""
    data = recipe.to_dict()
    data["license"] = license_id

    def located(params: list) -> list:
        def path(p) -> bool:
            if isinstance(p, list):  # a partitioned version's files
                return bool(p) and all(isinstance(x, str) and x.endswith(".parquet") for x in p)
            return isinstance(p, str) and p.endswith(".parquet")

        return [p for p in params if not path(p)]

    data["params"] = located(data["params"])
    data["setup"] = [
        {**step, "params": located(step.get("params") or [])} for step in data.get("setup") or []
    ]
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def _download_name(extract: Extract) -> str:
    dataset = extract.license.dataset
    stem = dataset.slug or f"dataset-{dataset.pk}"
    titled = "-titles" if extract.header == Extract.Header.TITLES else ""
    return f"{stem}-v{extract.version.number}-license{extract.license_id}-{extract.format}{titled}.zip"


def extract_build(*, actor, extract_id: int) -> Extract:
    """Build the extract's file. Idempotent (`marketplace.jobs`): a succeeded extract is not
    rebuilt; a second delivery while another worker is running it returns at once; a job left
    running by a killed worker (past EXTRACT_RUN_DEADLINE) starts over. The license is checked
    just before building: a license revoked or expired since the request gets no file. Nothing
    partial is ever visible: the bundle is recorded only once it is completely in storage."""
    authorize(permissions.extract_build, actor)
    claim = jobs.job_claim(Extract, extract_id, check=_license_refusal, failed=_audit_failure)
    if not claim.claimed:
        return claim.job
    extract = claim.job
    work_dir = Path(settings.WORK_DIR) / f"extract-{extract.pk}-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        built = _build_bundle(extract, work_dir)
    except (privacy.PlanError, ExtractError) as exc:
        return extract_fail(actor=SYSTEM, extract_id=extract.pk, message=str(exc))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    with transaction.atomic():
        done = jobs.job_finish(Extract, extract_id, lambda e: _record_bundle(e, built))
        if not done.claimed:
            # Failed or re-queued meanwhile (e.g. the license was revoked): the new file is
            # not recorded, so it must not stay in storage either.
            if built.stored != done.job.file:
                default_storage.delete(built.stored)
            return done.job
        _audit(
            done.job,
            actor=actor,
            verb="built",
            after={"rows": built.result.rows, "sha256": built.result.sha256},
        )
        disclosure_release_record(actor=SYSTEM, license=done.job.license, version=done.job.version)
        notify(verb="extract_ready", audiences=[BUYER], license=done.job.license)
    return done.job


def _license_refusal(extract: Extract) -> str | None:
    if license_is_active_now(extract.license):
        return None
    return _("The license is no longer active (%(state)s); no file was built.") % {
        "state": extract.license.get_state_display()
    }


@dataclasses.dataclass(frozen=True)
class _Built:
    recipe: engine.Recipe
    result: engine.ExtractResult
    bundle_bytes: int
    bundle_sha256: str
    stored: str


def _build_bundle(extract: Extract, work_dir: Path) -> _Built:
    """The work itself, outside any transaction: the data file, its manifest and datapackage,
    zipped and put in storage."""
    recipe = _recipe_for(extract)
    data_name = f"data{engine.FORMATS[recipe.format].suffix}"
    result = engine.run_extract(
        recipe,
        out_path=work_dir / data_name,
        work_dir=work_dir,
        key=keystore.license_key(extract.license_id) if recipe.needs_key() else None,
        progress=jobs.ProgressReporter(Extract, extract.pk),
    )
    license = extract.license
    manifest = bundles.build_manifest(
        license_id=license.pk,
        organization=license.organization.name,
        scope=license.scope,
        terms_sha256=license.terms_sha256,
        dataset=license.dataset.slug,
        version=extract.version.number,
        data_name=data_name,
        rows=result.rows,
        sha256=result.sha256,
        bytes=result.bytes,
        built_at=timezone.now(),
        recipe=recipe,
    )
    package = bundles.datapackage(
        data_name=data_name,
        columns=recipe.output_fields(),
        format=recipe.format,
        rows=result.rows,
        sha256=result.sha256,
        bytes=result.bytes,
        title=license.dataset.title,
        license_text=license.terms_text,
    )
    zip_path = work_dir / "bundle.zip"
    bundle_bytes, bundle_sha = bundles.write_bundle(
        data_path=result.path, data_name=data_name, manifest=manifest, out_zip=zip_path, datapackage=package
    )
    stored = store_file(zip_path, f"extracts/{license.pk}/{extract.pk}/{_download_name(extract)}")
    return _Built(recipe, result, bundle_bytes, bundle_sha, stored)


def _record_bundle(extract: Extract, built: _Built) -> None:
    result = built.result
    extract.row_count, extract.bytes, extract.sha256 = result.rows, result.bytes, result.sha256
    extract.bundle_bytes, extract.bundle_sha256 = built.bundle_bytes, built.bundle_sha256
    extract.file, extract.file_name = built.stored, _download_name(extract)
    extract.recipe, extract.recipe_sha256 = (
        built.recipe.to_dict(),
        _recipe_sha256(built.recipe, extract.license_id),
    )
    extract.purged_at = None


def _audit_failure(extract: Extract) -> None:
    _audit(extract, actor=SYSTEM, verb="failed", after={"error": extract.error})


def extract_fail(*, actor, extract_id: int, message: str) -> Extract:
    """End a job as failed with a reason a person can act on (retries exhausted, the scope
    delivers nothing, the license went away). A finished extract is left alone."""
    authorize(permissions.extract_fail, actor)
    with transaction.atomic():
        failed = jobs.job_fail(Extract, extract_id, message)
        if failed.claimed:
            _audit_failure(failed.job)
    return failed.job


def extracts_requeue_stuck(*, actor, now: datetime.datetime | None = None) -> list[int]:
    """Jobs lost by a dead worker or broker (`marketplace.jobs`: queued past
    EXTRACT_QUEUE_DEADLINE, running past EXTRACT_RUN_DEADLINE). Returns the ids to queue
    again; those past EXTRACT_MAX_ATTEMPTS are failed instead. Also removes stale work
    directories left by killed workers."""
    authorize(permissions.extracts_requeue_stuck, actor)
    now = now or timezone.now()
    requeue, give_up = jobs.jobs_stuck(Extract, now=now)
    for pk, attempts in give_up:
        extract_fail(actor=SYSTEM, extract_id=pk, message=str(Extract.GAVE_UP % {"n": attempts}))
    remove_stale_work_dirs("extract-", now - settings.EXTRACT_RUN_DEADLINE)
    return requeue


def extracts_purge_files(*, actor, now: datetime.datetime | None = None) -> int:
    """Delete files older than EXTRACT_RETENTION_DAYS; the record and its recipe stay (status
    `expired`), and asking again rebuilds the same file."""
    authorize(permissions.extracts_purge_files, actor)
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.EXTRACT_RETENTION_DAYS)
    purged = 0
    for pk in Extract.objects.filter(status=Status.SUCCEEDED, finished_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            extract = Extract.job_lock(pk)
            if extract.status != Status.SUCCEEDED:
                continue
            name = extract.file
            extract.status, extract.purged_at, extract.file = Status.EXPIRED, now, ""
            extract.save(update_fields=["status", "purged_at", "file"])
            _audit(extract, actor=actor, verb="purged", before={"file": name})
            transaction.on_commit(lambda n=name: default_storage.delete(n))
            purged += 1
    return purged


def extracts_deliver_version(*, actor, version_id: int) -> list[int]:
    """A new version was published: queue it for every active license on the dataset that
    receives updates, in each format the license has asked for before (default CSV)."""
    authorize(permissions.extracts_deliver_version, actor)
    version = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
    if version.dataset.current_version_id != version.pk:
        return []
    now = timezone.now()
    queued = []
    licenses = License.objects.filter(
        dataset=version.dataset, state=License.State.ACTIVE, deliver_updates=True, valid_until__gt=now
    )
    for license in licenses:
        if not license_is_active_now(license, now):
            continue
        asked = set(license.extracts.values_list("format", "header"))
        for format, header in sorted(asked or {(settings.EXTRACT_DEFAULT_FORMAT, Extract.Header.NAMES)}):
            queued.append(
                extract_request(
                    actor=SYSTEM, license=license, format=format, version=version, header=header
                ).pk
            )
    return queued


# --- download ---------------------------------------------------------------------------------


def extract_download_link(*, actor, extract: Extract) -> tuple[str, datetime.datetime]:
    """A signed token for downloading `extract`, bound to it and to the person, valid for
    DOWNLOAD_LINK_SECONDS. The license is checked now and again when the link is followed."""
    authorize(permissions.extract_download_link, actor, extract, can_view=permissions.extract_view)
    if extract.status != Status.SUCCEEDED:
        raise errors.InvalidState(
            _("The file is not ready (%(status)s).") % {"status": extract.get_status_display()}
        )
    _check_license_for_download(extract.license)
    token = signing.TimestampSigner(salt=SIGNING_SALT).sign_object({"e": extract.pk, "u": actor.pk})
    expires = timezone.now() + datetime.timedelta(seconds=settings.DOWNLOAD_LINK_SECONDS)
    return token, expires


def _check_license_for_download(license: License) -> None:

    if not license_is_usable(license):
        raise errors.InvalidState(_download_refusal(license, timezone.now()))


def extract_download(*, actor, token: str) -> Extract:
    """Follow a signed link: verify it (tampered → 404-like refusal, expired → a clear message),
    check the license at this moment, count the download against the quota and record who
    downloaded what. Returns the extract whose bundle the caller streams."""
    authorize(permissions.extract_download, actor)
    signer = signing.TimestampSigner(salt=SIGNING_SALT)
    try:
        payload = signer.unsign_object(token, max_age=settings.DOWNLOAD_LINK_SECONDS)
    except signing.SignatureExpired as exc:
        raise errors.ApplicationError(
            _("This download link has expired; ask for a new one from the license page.")
        ) from exc
    except signing.BadSignature as exc:
        raise errors.NotFound(_("This download link is not valid.")) from exc
    extract = (
        Extract.objects.select_related("license__organization", "license__dataset__center", "version")
        .filter(pk=payload.get("e"))
        .first()
    )
    if extract is None:
        raise errors.NotFound(_("This download link is not valid."))
    if extract.status != Status.SUCCEEDED or not extract.file:
        raise errors.InvalidState(_("This file is no longer available; ask for it again."))

    # The link is bound to the person it was issued to: it works only while that person may
    # still ask for one (an active account, still a member of the licensee with a buyer role).
    user = User.objects.filter(pk=payload.get("u"), is_active=True).first()
    if user is None or not permissions.extract_download_link(user, extract):
        raise errors.NotFound(_("This download link is not valid."))
    license_download_record(
        actor=SYSTEM,
        license=extract.license,
        extract_id=extract.pk,
        size_bytes=extract.bundle_bytes or 0,
        user=user,
    )
    return extract


# --- leak tracing ------------------------------------------------------------------------------


def _trace_by_rows(*, dataset, leaked_file: Path, keys: dict, licenses: dict) -> dict:
    """trace_rows over every delivered extract of a record offer of `dataset` (one candidate
    per license and version: the rows depend on both); `licenses` are the dataset's, by id.
    Returns the best row per license."""
    delivered = (
        Extract.objects.filter(
            license__dataset=dataset, status__in=[Extract.Status.SUCCEEDED, Extract.Status.EXPIRED]
        )
        .values_list("license_id", "version_id")
        .distinct()
    )
    candidates = []
    for license_id, version_id in sorted(set(delivered)):
        license = licenses[license_id]
        policy = OfferPolicy.from_snapshot(license.offer_snapshot)
        if policy.is_aggregate or license_id not in keys:
            continue  # every holder of an aggregate table gets the same cells
        version = DatasetVersion.objects.get(pk=version_id)
        if not version.parquet or not default_storage.exists(version.parquet):
            continue
        fields = list(version.fields.all())
        schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in fields]
        parquet = catalog_selectors.version_files(version, policy=policy, scope=license.scope)

        def deliver(key, parquet=parquet, schema=schema, policy=policy, scope=license.scope):
            return privacy.plan(parquet=parquet, schema=schema, policy=policy, scope=scope, key=key)

        candidates.append(
            RowCandidate(
                id=license_id,
                deliver=deliver,
                key=keys[license_id],
                identifiers=frozenset(f.name for f in fields if f.sensitivity == "identifier"),
                labels={f.name: f.title for f in fields if f.title},
                keyed=policy.treatments.samples,
            )
        )
    best: dict = {}
    for row in trace_rows(leaked_file=leaked_file, candidates=candidates):
        best.setdefault(row["id"], row)  # best first: the first row of a license is its best
    return best


def _leak_results(licenses, ranked: list[dict], by_rows: dict) -> list[dict]:
    """One result per license, best first, from the pseudonym ranking and the row trace; no
    license is identified when two could be."""
    pseudonyms = {row["license_id"]: row for row in ranked}
    results = []
    for lic in licenses:
        p, r = pseudonyms.get(lic.pk, {}), by_rows.get(lic.pk, {})
        results.append(
            {
                "license": lic.pk,
                "organization": lic.organization.name,
                "matches": p.get("matches", 0),
                "share": p.get("share", 0.0),
                "column": p.get("column"),
                "rows": r.get("rows"),
                "rows_matched": r.get("rows_matched"),
                "row_share": r.get("row_share"),
                "confidence": r.get("confidence"),
                "false_match_rate": r.get("false_match_rate"),
                "identified": bool(p.get("matches")) or bool(r.get("identified")),
            }
        )
    results.sort(key=lambda c: (-c["matches"], -(c["rows_matched"] or 0), c["license"]))
    if len(results) > 1 and results[1]["identified"]:  # two cannot both be the source
        for row in results:
            row["identified"] = False
    return results


LEAK_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".xlsx")


def license_trace_leak(*, actor, dataset, leaked_file: Path, file_name: str = "") -> list[dict]:
    """Which license did a leaked file come from? Pseudonyms are keyed per license, so the
    file's 64-hex tokens are matched against every license of `dataset` (the identifiers of its
    published version hashed under each license's key, in DuckDB). When no pseudonym matches
    (dropped or re-hashed), the file's rows are matched against what each delivered extract of a
    record offer held (transactions.extracts.leaks.trace_rows), with a confidence measured
    against decoy keys. Returns candidates best first: license id, organization, pseudonym
    matches and share, rows matched and share, and for the best by rows its confidence,
    false-match rate and whether it is identified. Operators only; the search is audited."""
    authorize(permissions.license_trace_leak, actor)
    suffix = Path(file_name or leaked_file.name).suffix.lower()
    if suffix not in LEAK_SUFFIXES:
        raise errors.ApplicationError(
            _("Upload the leaked file as CSV, Excel (XLSX), JSON Lines or Parquet."),
            errors={"file": [_("Unsupported file type.")]},
        )
    version = dataset.current_version
    if version is None:
        raise errors.InvalidState(_("This dataset has no published version to compare with."))
    identifiers = list(version.fields.filter(sensitivity="identifier").values_list("name", flat=True))
    licenses = list(License.objects.filter(dataset=dataset).select_related("organization"))
    keys = keystore.license_keys([lic.pk for lic in licenses])
    work_dir = Path(settings.WORK_DIR) / f"leak-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir(parents=True, exist_ok=True)
    by_rows: dict = {}
    try:
        copy = work_dir / f"leaked{suffix}"
        shutil.copyfile(leaked_file, copy)
        ranked = []
        if identifiers:
            ranked = trace_leak(
                leaked_file=copy,
                source_parquet=catalog_selectors.version_files(version),
                identifier_columns=identifiers,
                candidates=list(keys.items()),
            )
        if not any(row["matches"] for row in ranked):
            by_rows = _trace_by_rows(
                dataset=dataset, leaked_file=copy, keys=keys, licenses={lic.pk: lic for lic in licenses}
            )
    except ValueError as exc:
        raise errors.ApplicationError(_("The file could not be read: %(error)s") % {"error": exc}) from exc
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    results = _leak_results(licenses, ranked, by_rows)
    audit_record(
        actor=actor,
        verb="transactions.leak.traced",
        target=dataset,
        organization=dataset.center,
        after={
            "file": file_name[:200],
            "top": results[0] if results and (results[0]["matches"] or results[0]["rows_matched"]) else None,
        },
    )
    return results

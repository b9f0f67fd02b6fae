"""Files a center keeps in its own import prefix in object storage, named by `s3://` URI.

A center that already holds its data in object storage (S3, MinIO, NCloud Object Storage) does
not push it through an HTTP upload: it copies the files under its prefix,
`s3://<IMPORT_BUCKET>/<IMPORT_PREFIX>/<center id>/`, and names them in `source_uris` (a URI that
ends in "/" names every file under it). `resolve` checks each URI against the center's prefix
and asks storage for its size and ETag before anything is recorded; `download` streams one
file to local disk for ingestion, refusing a file that changed since (the ETag) or outgrew the
limit. Credentials come from the environment (IMPORT_S3_* settings, else boto3's usual chain).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from catalog.ingestion.errors import IngestionError
from catalog.ingestion.errors import message_template as _t
from marketplace import errors

SCHEME = "s3://"
CHUNK = 8 << 20


@dataclasses.dataclass(frozen=True)
class ImportFile:
    uri: str
    key: str
    bytes: int
    etag: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)


class StorageUnavailable(errors.ApplicationError):
    """Object storage did not answer (HTTP 503)."""

    status_code = 503


def configured() -> bool:
    return bool(settings.IMPORT_BUCKET)


def center_prefix(center_id: int) -> str:
    """The key prefix a center imports from, ending in "/"."""
    root = settings.IMPORT_PREFIX.strip("/")
    return f"{root}/{center_id}/" if root else f"{center_id}/"


def center_uri(center_id: int) -> str:
    return f"{SCHEME}{settings.IMPORT_BUCKET}/{center_prefix(center_id)}"


def client():
    import boto3
    from botocore.config import Config

    options = {
        "endpoint_url": settings.IMPORT_S3_ENDPOINT_URL or None,
        "region_name": settings.IMPORT_S3_REGION or None,
        "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
    }
    if settings.IMPORT_S3_ACCESS_KEY_ID:
        options["aws_access_key_id"] = settings.IMPORT_S3_ACCESS_KEY_ID
        options["aws_secret_access_key"] = settings.IMPORT_S3_SECRET_ACCESS_KEY
    return boto3.client("s3", **options)


def _key_of(uri: str, prefix: str) -> tuple[str | None, str]:
    """The object key a URI names inside `prefix`, or None with the reason."""
    if not uri.startswith(SCHEME):
        return None, _("A source URI starts with s3://.")
    bucket, _sep, key = uri[len(SCHEME) :].partition("/")
    if bucket != settings.IMPORT_BUCKET:
        return None, _("Files are imported from the bucket %(bucket)s only.") % {
            "bucket": settings.IMPORT_BUCKET
        }
    segments = key.split("/")
    if any(s in (".", "..") for s in segments) or "//" in key or any(not ch.isprintable() for ch in key):
        return None, _("The path has empty, “.” or “..” segments or control characters.")
    if not key.startswith(prefix) or key == prefix.rstrip("/"):
        return None, _("The file is outside your center's import prefix.")
    return key, ""


def _listed(s3, key: str) -> list[ImportFile]:
    """Every file under the folder `key` (ending in "/"), by key; folder markers skipped."""
    found = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.IMPORT_BUCKET, Prefix=key)
    for page in pages:
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/") and item["Size"] > 0:
                uri = f"{SCHEME}{settings.IMPORT_BUCKET}/{item['Key']}"
                found.append(ImportFile(uri, item["Key"], item["Size"], item["ETag"]))
            if len(found) > settings.IMPORT_MAX_FILES:
                return found
    return sorted(found, key=lambda f: f.key)


def _headed(s3, uri: str, key: str) -> tuple[ImportFile | None, str]:
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=settings.IMPORT_BUCKET, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return None, _("There is no file at this URI.")
        if code in ("403", "AccessDenied", "Forbidden"):
            return None, _("The platform may not read this file; check the bucket's policy.")
        raise
    if head["ContentLength"] == 0:
        return None, _("The file is empty.")
    return ImportFile(uri, key, head["ContentLength"], head["ETag"]), ""


def _resolve_one(s3, uri: str, prefix: str) -> tuple[list[ImportFile], str]:
    key, reason = _key_of(uri, prefix)
    if key is None:
        return [], reason
    if key.endswith("/"):
        files = _listed(s3, key)
        return files, "" if files else _("There are no files under this folder.")
    found, reason = _headed(s3, uri, key)
    return ([found] if found else []), reason


def resolve(center_id: int, uris: list[str]) -> list[ImportFile]:
    """The files `uris` name inside the center's prefix, in the order given (a folder's files
    by key). Raises ApplicationError naming each URI that is outside the prefix, missing, empty
    or too large, with `errors["source_uris"]`; nothing is recorded then."""
    if not configured():
        raise errors.ApplicationError(
            _("This platform has no import storage set up; upload the file instead."),
            errors={"source_uris": [_("Imports from object storage are not configured.")]},
        )
    from botocore.exceptions import ConnectionError as StorageUnreachable
    from botocore.exceptions import HTTPClientError

    prefix = center_prefix(center_id)
    s3 = client()
    files: list[ImportFile] = []
    problems: list[str] = []
    try:
        for uri in uris:
            found, reason = _resolve_one(s3, uri, prefix)
            if reason:
                problems.append(f"{uri}: {reason}")
            files.extend(found)
    except (StorageUnreachable, HTTPClientError) as exc:
        raise StorageUnavailable(
            _("The import storage does not answer; nothing was recorded. Try again in a few minutes.")
        ) from exc
    problems += _limit_problems(files)
    if problems:
        raise errors.ApplicationError(
            _("Some source URIs cannot be imported; your center's import prefix is %(prefix)s.")
            % {"prefix": center_uri(center_id)},
            errors={"source_uris": problems},
        )
    return files


def _limit_problems(files: list[ImportFile]) -> list[str]:
    problems = []
    if len(files) > settings.IMPORT_MAX_FILES:
        problems.append(
            _("One import takes at most %(n)s files; split it into several versions (mode append).")
            % {"n": settings.IMPORT_MAX_FILES}
        )
    seen: set[str] = set()
    for f in files:
        if f.key in seen:
            problems.append(_("%(uri)s is named twice.") % {"uri": f.uri})
        seen.add(f.key)
        if f.bytes > settings.IMPORT_MAX_FILE_BYTES:
            problems.append(
                _("%(uri)s is %(size)s bytes; one file may be at most %(limit)s bytes.")
                % {"uri": f.uri, "size": f"{f.bytes:,}", "limit": f"{settings.IMPORT_MAX_FILE_BYTES:,}"}
            )
    return problems


def download(file: ImportFile, target: Path, *, on_fraction: Callable[[float], None] | None = None) -> None:
    """Stream the file to `target`, exactly the object that was resolved (its ETag). Raises
    IngestionError when it was removed or replaced since, and ConnectionError (an OSError,
    which the ingestion task retries with backoff) when storage cannot be reached once boto's
    own retries are spent."""
    from botocore.exceptions import ConnectionError as StorageUnreachable
    from botocore.exceptions import HTTPClientError, ResponseStreamingError

    try:
        _download(file, target, on_fraction)
    except (StorageUnreachable, HTTPClientError, ResponseStreamingError) as exc:
        raise ConnectionError(f"Object storage did not answer while reading {file.name}: {exc}") from exc


def _download(file: ImportFile, target: Path, on_fraction: Callable[[float], None] | None) -> None:
    from botocore.exceptions import ClientError

    s3 = client()
    try:
        body = s3.get_object(Bucket=settings.IMPORT_BUCKET, Key=file.key, IfMatch=file.etag)["Body"]
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise IngestionError(_t("%(name)s was removed from the import prefix."), name=file.name) from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise IngestionError(
                _t("The platform may no longer read %(name)s; check the bucket's policy."), name=file.name
            ) from exc
        if code in ("412", "PreconditionFailed"):
            raise IngestionError(
                _t("%(name)s was replaced after the import was requested; import it again."), name=file.name
            ) from exc
        raise
    done = 0
    with open(target, "wb") as out:
        for chunk in body.iter_chunks(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if done > file.bytes:
                raise IngestionError(
                    _t("%(name)s grew after the import was requested; import it again."), name=file.name
                )
            if on_fraction:
                on_fraction(done / file.bytes)
    if done != file.bytes:
        raise IngestionError(
            _t("%(name)s was cut short: %(done)s of %(size)s bytes arrived."),
            name=file.name,
            done=done,
            size=file.bytes,
        )

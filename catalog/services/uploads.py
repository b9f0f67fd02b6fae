"""Resumable uploads (the tus protocol's core, creation, termination, expiration and checksum
extensions; catalog/tus.py speaks the protocol): a file beyond the single-request limit arrives
in pieces, each appended at the offset the server holds, and a dropped connection resumes
where the bytes stopped. The finished file becomes a version like any upload."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import permissions
from catalog.models import Dataset, DatasetVersion, ResumableUpload, UploadMode
from catalog.services import _display_filename, _human, version_upload
from marketplace import errors
from marketplace.actors import is_system
from marketplace.audit import audit_record
from marketplace.authz import authorize

CHUNK = 1 << 20
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}


class Conflict(errors.ApplicationError):
    """The piece does not start where the upload stands (tus: 409)."""

    status_code = 409


class ChecksumMismatch(errors.ApplicationError):
    """The piece's checksum does not match what arrived (tus: 460); nothing was kept."""

    status_code = 460


class Busy(errors.ApplicationError):
    """Another request is writing to this upload (tus: 423 Locked)."""

    status_code = 423


def _check_length(length: int) -> None:
    if length <= 0:
        raise errors.ApplicationError(
            _("Upload-Length must be the file's size in bytes, more than 0."),
            errors={"Upload-Length": [_("A whole number of bytes, more than 0.")]},
        )
    if length > settings.RESUMABLE_UPLOAD_MAX_BYTES:
        raise errors.TooLarge(
            _("The file is %(size)s; the limit is %(limit)s.")
            % {"size": _human(length), "limit": _human(settings.RESUMABLE_UPLOAD_MAX_BYTES)}
        )
    spool = Path(settings.RESUMABLE_UPLOAD_DIR)
    spool.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(spool).free < length:
        raise errors.ApplicationError(
            _("The platform has no room for a file of %(size)s now; try again later or tell the operators.")
            % {"size": _human(length)}
        )


def upload_create(*, actor, dataset: Dataset, length: int, filename: str) -> ResumableUpload:
    """Open an upload of `length` bytes for a version of `dataset` (its curators and managers
    only). A person has at most RESUMABLE_UPLOADS_PER_USER open at once."""
    authorize(permissions.upload_create, actor, dataset, can_view=permissions.dataset_view)
    if dataset.status == Dataset.Status.RETIRED:
        raise errors.InvalidState(_("This dataset is retired; it takes no new versions."))
    _check_length(length)
    with transaction.atomic():
        open_uploads = ResumableUpload.objects.select_for_update().filter(
            created_by=actor, expires_at__gt=timezone.now()
        )
        if len(open_uploads) >= settings.RESUMABLE_UPLOADS_PER_USER:
            raise errors.Throttled(
                _("You have %(n)s unfinished uploads; finish or cancel one first.") % {"n": len(open_uploads)}
            )
        upload = ResumableUpload.objects.create(
            dataset=dataset,
            created_by=actor,
            length=length,
            filename=_display_filename(filename or "upload"),
            expires_at=timezone.now() + settings.RESUMABLE_UPLOAD_EXPIRY,
        )
        _audit(actor, "created", upload, after={"filename": upload.filename, "bytes": length})
    upload.path.touch()
    return upload


def _audit(actor, action: str, upload: ResumableUpload, after: dict | None = None) -> None:
    audit_record(
        actor=actor,
        verb=f"catalog.upload.{action}",
        target=upload,
        organization=upload.dataset.center,
        after={"dataset": upload.dataset.slug, **(after or {})},
    )


def _checksum(header: str | None):
    """The algorithm and expected digest of an Upload-Checksum header, or None."""
    if not header:
        return None
    name, _sep, value = header.strip().partition(" ")
    if name not in CHECKSUMS:
        raise errors.ApplicationError(
            _("Upload-Checksum uses %(name)s; this server knows %(known)s.")
            % {"name": name, "known": ", ".join(CHECKSUMS)}
        )
    try:
        return CHECKSUMS[name](), base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise errors.ApplicationError(_("Upload-Checksum's digest is not base64.")) from exc


def upload_append(*, actor, upload: ResumableUpload, offset: int, stream, checksum: str | None = None) -> int:
    """Append the request body at `offset`, which must be where the upload stands; return the
    new offset. What arrives before a dropped connection is kept (the client resumes from
    it); a piece whose checksum does not match is dropped whole."""
    authorize(permissions.upload_append, actor, upload)
    expected = _checksum(checksum)
    with open(upload.path, "r+b") as spool:
        try:
            fcntl.flock(spool, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy(_("Another request is sending this upload; wait for it or resume later.")) from exc
        at = os.fstat(spool.fileno()).st_size
        if offset != at:
            raise Conflict(
                _("Upload-Offset is %(sent)s but the upload stands at %(at)s; resume from %(at)s.")
                % {"sent": offset, "at": at}
            )
        spool.seek(at)
        received = _copy(stream, spool, upload.length - at, expected[0] if expected else None)
        if expected and expected[0].digest() != expected[1]:
            spool.truncate(at)
            raise ChecksumMismatch(_("The piece's checksum does not match what arrived; send it again."))
        spool.flush()
    ResumableUpload.objects.filter(pk=upload.pk).update(
        expires_at=timezone.now() + settings.RESUMABLE_UPLOAD_EXPIRY
    )
    if received and at + received == upload.length:  # the last piece: recorded once
        _audit(actor, "completed", upload, after={"bytes": upload.length})
    return at + received


def _copy(stream, spool, room: int, digest) -> int:
    """Copy the body into the spool, at most `room` bytes (more is refused: the upload's
    length was declared); returns the bytes written."""
    written = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return written
        if written + len(chunk) > room:
            spool.truncate(spool.tell() - written)
            raise errors.TooLarge(_("The piece goes past the upload's declared length; nothing was kept."))
        spool.write(chunk)
        if digest is not None:
            digest.update(chunk)
        written += len(chunk)


def upload_delete(*, actor, upload: ResumableUpload) -> None:
    """Cancel an upload: its bytes are removed."""
    authorize(permissions.upload_delete, actor, upload)
    spool = upload.path  # named by the primary key, which delete() clears
    with transaction.atomic():
        _audit(actor, "cancelled", upload, after={"received": upload.offset})
        upload.delete()
    spool.unlink(missing_ok=True)


def uploads_sweep_expired(*, actor, now=None) -> int:
    """Remove uploads untouched past their expiry (the bytes and the row); returns how many."""
    authorize(permissions.uploads_sweep_expired, actor)
    expired = list(
        ResumableUpload.objects.filter(expires_at__lte=now or timezone.now()).select_related(
            "dataset__center"
        )
    )
    for upload in expired:
        spool = upload.path
        with transaction.atomic():
            _audit(actor, "expired", upload, after={"received": upload.offset})
            upload.delete()
        spool.unlink(missing_ok=True)
    return len(expired)


class _Spooled(File):
    """The finished spool file as an upload Django's file storage moves into place instead of
    copying (FileSystemStorage moves a file that has a temporary_file_path)."""

    def __init__(self, path: Path, name: str):
        super().__init__(open(path, "rb"), name=name)  # noqa: SIM115 - closed by the caller
        self._path = path
        self.size = path.stat().st_size

    def temporary_file_path(self) -> str:
        return str(self._path)


def version_upload_resumed(
    *,
    actor,
    dataset: Dataset,
    upload_id: uuid.UUID,
    mode: str = UploadMode.REPLACE,
    replace_periods: bool = False,
) -> DatasetVersion:
    """The finished upload `upload_id` (the caller's own, for this dataset) as a new version,
    queued for ingestion as an ordinary upload. An unfinished one is refused with its offset."""
    upload = ResumableUpload.objects.filter(pk=upload_id, dataset=dataset).first()
    if upload is None or not (is_system(actor) or upload.created_by_id == getattr(actor, "pk", None)):
        raise errors.ApplicationError(
            _("There is no such upload of yours for this dataset."),
            errors={"upload": [_("Unknown upload.")]},
        )
    authorize(permissions.version_upload_resumed, actor, upload)
    if upload.offset != upload.length:
        raise errors.InvalidState(
            _("The upload has %(offset)s of %(length)s bytes; send the rest first.")
            % {"offset": f"{upload.offset:,}", "length": f"{upload.length:,}"}
        )
    spooled = _Spooled(upload.path, upload.filename)
    try:
        version = version_upload(
            actor=actor,
            dataset=dataset,
            file=spooled,
            filename=upload.filename,
            mode=mode,
            replace_periods=replace_periods,
            max_bytes=settings.RESUMABLE_UPLOAD_MAX_BYTES,
        )
    finally:
        spooled.close()
    upload.path.unlink(missing_ok=True)  # moved into storage, unless storage copied it
    upload.delete()
    return version

"""Resumable uploads over tus 1.0.0 (https://tus.io/protocols/resumable-upload), the open
protocol that tus-js-client, tuspy, Uppy and tus-java-client speak, at `/api/v1/uploads/`:
core, creation, termination, expiration and checksum (sha1, sha256, md5).

    POST   /api/v1/uploads/        Upload-Length, Upload-Metadata "dataset <b64 slug>,filename <b64>"
                                   → 201, Location of the upload
    HEAD   /api/v1/uploads/{id}/   → Upload-Offset, Upload-Length (where to resume)
    PATCH  /api/v1/uploads/{id}/   Content-Type application/offset+octet-stream, Upload-Offset
                                   → 204, the new Upload-Offset
    DELETE /api/v1/uploads/{id}/   → 204, the bytes removed

A finished upload becomes a version with `POST /api/v1/datasets/{slug}/versions/
{"upload": "<id>"}`. Only the person who opened an upload sees it (404 for anyone else).
These endpoints are outside the OpenAPI schema: their contract is the tus protocol's headers.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.models import ResumableUpload
from catalog.services import uploads
from marketplace import errors

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration,checksum"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"


class VersionUnsupported(errors.ApplicationError):
    status_code = 412


class WrongContentType(errors.ApplicationError):
    status_code = 415


def _int_header(request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise errors.ApplicationError(
            _("The %(header)s header must be a whole number of bytes.") % {"header": name},
            errors={name: [_("A whole number of bytes.")]},
        )
    return int(value)


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs."""
    values = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _sep, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded, validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.ApplicationError(
                _("Upload-Metadata's %(key)s is not base64-encoded UTF-8.") % {"key": key},
                errors={"Upload-Metadata": [_("Each value base64-encoded.")]},
            ) from exc
    return values


class _Tus(APIView):
    """What every tus endpoint shares: the protocol version check and headers."""

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "OPTIONS" else [IsAuthenticated()]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise VersionUnsupported(
                _("Send Tus-Resumable: %(version)s; this server speaks tus %(version)s.")
                % {"version": TUS_VERSION}
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Tus-Version"] = TUS_VERSION
        return response


def _expiry(upload: ResumableUpload) -> str:
    return http_date(upload.expires_at.timestamp())


@extend_schema(exclude=True)
class UploadsView(_Tus):
    def options(self, request, *args, **kwargs):
        response = Response(status=204)
        response["Tus-Extension"] = EXTENSIONS
        response["Tus-Max-Size"] = str(settings.RESUMABLE_UPLOAD_MAX_BYTES)
        response["Tus-Checksum-Algorithm"] = ",".join(uploads.CHECKSUMS)
        return response

    def post(self, request):
        length = _int_header(request, "Upload-Length")
        meta = _metadata(request.headers.get("Upload-Metadata", ""))
        if not meta.get("dataset"):
            raise errors.ApplicationError(
                _("Name the dataset in Upload-Metadata (dataset <base64 slug>)."),
                errors={"Upload-Metadata": [_("The dataset's slug is missing.")]},
            )
        dataset = get_object_or_404(selectors.datasets_visible_to(request.user), slug=meta["dataset"])
        upload = uploads.upload_create(
            actor=request.user, dataset=dataset, length=length, filename=meta.get("filename", "")
        )
        response = Response(status=201)
        response["Location"] = request.build_absolute_uri(reverse("v1:upload-detail", args=[upload.pk]))
        response["Upload-Expires"] = _expiry(upload)
        return response


@extend_schema(exclude=True)
class UploadDetailView(_Tus):
    def _upload(self, request, pk: uuid.UUID) -> ResumableUpload:
        return get_object_or_404(
            ResumableUpload.objects.select_related("dataset"),
            pk=pk,
            created_by=request.user,
            expires_at__gt=timezone.now(),
        )

    def head(self, request, pk):
        upload = self._upload(request, pk)
        response = Response(status=200)
        response["Upload-Offset"] = str(upload.offset)
        response["Upload-Length"] = str(upload.length)
        response["Upload-Expires"] = _expiry(upload)
        response["Cache-Control"] = "no-store"
        return response

    def patch(self, request, pk):
        upload = self._upload(request, pk)
        if request.content_type.split(";")[0].strip() != OFFSET_CONTENT_TYPE:
            raise WrongContentType(
                _("Send the bytes as %(type)s.") % {"type": OFFSET_CONTENT_TYPE},
            )
        offset = uploads.upload_append(
            actor=request.user,
            upload=upload,
            offset=_int_header(request, "Upload-Offset"),
            stream=request._request,  # the body, read in chunks: never whole in memory
            checksum=request.headers.get("Upload-Checksum"),
        )
        upload.refresh_from_db()
        response = Response(status=204)
        response["Upload-Offset"] = str(offset)
        response["Upload-Expires"] = _expiry(upload)
        return response

    def delete(self, request, pk):
        uploads.upload_delete(actor=request.user, upload=self._upload(request, pk))
        return Response(status=204)

"""The delivered bundle: a zip with the data file, `manifest.json` and a Frictionless
`datapackage.json` describing the data file.

The zip is written streaming (the data file is copied in chunks, never read whole) to a
temporary file beside `out_zip`, fsynced and renamed into place, like the data file itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from transactions.extracts import writers
from transactions.extracts.writers import FORMATS

MANIFEST_NAME = "manifest.json"
DATAPACKAGE_NAME = "datapackage.json"
# Frictionless field types for the catalog's column types.
FRICTIONLESS_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}
_ALREADY_COMPRESSED = (".parquet", ".xlsx", ".zip", ".gz", ".zst")


def _json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode() + b"\n"


def _check_name(data_name: str) -> str:
    if not data_name or data_name in (".", "..") or "/" in data_name or "\\" in data_name:
        raise ValueError(f"the data file's name in the bundle must be a plain file name: {data_name!r}")
    if data_name in (MANIFEST_NAME, DATAPACKAGE_NAME):
        raise ValueError(f"{data_name!r} is reserved in the bundle")
    return data_name


def _resource_name(data_name: str) -> str:
    """A Frictionless resource name (lowercase letters, digits, '-', '_', '.')."""
    stem = re.sub(r"[^a-z0-9._-]+", "-", Path(data_name).stem.lower()).strip("-.")
    return stem or "extract"


def datapackage(
    *,
    data_name: str,
    columns: list,
    format: str,
    rows: int,
    sha256: str,
    bytes: int,
    title: str,
    license_text: str,
) -> dict:
    """A Frictionless Data Package descriptor for one extract file.

    `columns` are objects with `name` and `type` (catalog types; `Recipe.output_fields()`
    gives them). `rows` goes into the package's `x_jangteo` block; Frictionless checks the file
    against `hash` (`sha256:<hex>`) and `bytes` when it validates."""
    fmt = FORMATS[format]
    resource = {
        "name": _resource_name(_check_name(data_name)),
        "path": data_name,
        "profile": "tabular-data-resource",
        "format": fmt.frictionless_format,
        "mediatype": fmt.mediatype,
        "encoding": "utf-8",
        "hash": f"sha256:{sha256}",
        "bytes": bytes,
        "schema": {
            "fields": [{"name": c.name, "type": FRICTIONLESS_TYPES.get(c.type, "string")} for c in columns]
        },
    }
    if format in ("csv", "csv_bom"):
        resource["encoding"] = "utf-8-sig" if format == "csv_bom" else "utf-8"
        resource["dialect"] = {
            "header": True,
            "delimiter": ",",
            "lineTerminator": "\r\n",
            "quoteChar": '"',
            "doubleQuote": True,
        }
    return {
        "profile": "tabular-data-package",
        "name": _resource_name(data_name),
        "title": title,
        "licenses": [{"name": "other-closed", "title": license_text}],
        "resources": [resource],
        "x_jangteo": {"rows": rows},
    }


def build_manifest(
    *,
    license_id,
    organization: str,
    scope: dict,
    terms_sha256: str,
    dataset: str,
    version,
    data_name: str,
    rows: int,
    sha256: str,
    bytes: int,
    built_at: datetime,
    recipe,
) -> dict:
    """The bundle's `manifest.json`: who the file is for, under which terms, what is in it.
    `recipe` contributes its summary only (its parameters carry key material)."""
    return {
        "license": {"id": license_id, "organization": organization, "terms_sha256": terms_sha256},
        "scope": scope,
        "dataset": dataset,
        "version": version,
        "file": {"name": data_name, "format": recipe.format, "rows": rows, "sha256": sha256, "bytes": bytes},
        "built_at": built_at.isoformat(),
        "recipe": recipe.summary(),
    }


def write_bundle(
    *, data_path: Path, data_name: str, manifest: dict, out_zip: Path, datapackage: dict | None = None
) -> tuple[int, str]:
    """Zip the data file (as `data_name`), `manifest.json` and, when given, `datapackage.json`
    into `out_zip`, atomically; return the zip's (bytes, sha256). Text is deflated; Parquet and
    XLSX (already compressed) are stored."""
    _check_name(data_name)
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".part", dir=out_zip.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        stored = data_name.lower().endswith(_ALREADY_COMPRESSED)
        # Level 1: most of deflate's gain on CSV at a fraction of its time (extracts are large).
        with writers.FixedTimeZip(
            tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1
        ) as archive:
            archive.write(
                data_path, data_name, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            )
            archive.writestr(MANIFEST_NAME, _json(manifest))
            if datapackage is not None:
                archive.writestr(DATAPACKAGE_NAME, _json(datapackage))
        writers.fsync(tmp)
        size, digest = writers.sha256_file(tmp)
        writers.publish(tmp, out_zip)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return size, digest

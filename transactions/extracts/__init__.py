"""The extract engine (GitHub issue 6): license scope in, privacy-safe file and bundle out.

Knows nothing of Django; the delivery task keeps the job's state and calls these:

- `build_recipe` → `Recipe`: one SQL statement (catalog.privacy) for the format, replayable.
- `run_extract` → `ExtractResult`: the file, written atomically, with rows, bytes and sha256.
- `datapackage`, `build_manifest`, `write_bundle`: the zip a buyer downloads.
- `trace_leak`: which license's key made the pseudonyms in a leaked file.
- `trace_rows`: which license's delivery holds a leaked file's rows (pseudonyms dropped or re-hashed).
"""

from catalog.privacy import Column, PlanError
from transactions.extracts.bundle import build_manifest, datapackage, write_bundle
from transactions.extracts.engine import (
    ENGINE_VERSION,
    ExtractResult,
    OutputField,
    Recipe,
    build_recipe,
    run_extract,
)
from transactions.extracts.leaks import RowCandidate, trace_leak, trace_rows
from transactions.extracts.writers import FORMATS, ExtractError, ExtractTooLarge

__all__ = [
    "ENGINE_VERSION",
    "FORMATS",
    "Column",
    "ExtractError",
    "ExtractResult",
    "ExtractTooLarge",
    "OutputField",
    "PlanError",
    "Recipe",
    "RowCandidate",
    "build_manifest",
    "build_recipe",
    "datapackage",
    "run_extract",
    "trace_leak",
    "trace_rows",
    "write_bundle",
]

"""The ingestion engine: uploaded files in, profiled zstd Parquet out. Knows nothing of Django.

All data moves through DuckDB or streamed byte chunks, never whole into Python memory
(DESIGN.md, performance rules).
"""

from .errors import IngestionError
from .ingest import IngestResult, ingest_file
from .profile import merge_profiles, preview_rows, profile_files, profile_parquet
from .sensitivity import suggest_sensitivity

__all__ = [
    "IngestResult",
    "IngestionError",
    "ingest_file",
    "merge_profiles",
    "preview_rows",
    "profile_files",
    "profile_parquet",
    "suggest_sensitivity",
]

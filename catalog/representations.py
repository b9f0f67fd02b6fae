"""A dataset's detail representation written by hand (issue 18, item 3).

A catalog cache miss rebuilt the representation through `catalog.api.DatasetDetailSerializer`:
DRF copies a dataset's, its version's and every column's serializer fields for each object and
runs each value through a field, which cost more than reading the rows. This module builds the
same dictionary directly, key for key and value for value; `DatasetDetailSerializer` stays the
schema's description (OpenAPI, the generated client), and the tests compare the two on datasets
of every shape, so neither can change alone.

Values as DRF's fields give them: datetimes in the current time zone, ISO 8601 with "Z" for
UTC (REST_FRAMEWORK["DATETIME_FORMAT"] = "iso-8601"), dates in ISO 8601, text through `str`.
"""

from __future__ import annotations

from django.utils import timezone

from catalog import selectors
from catalog.rendering import markdown_to_html
from catalog.vocabularies import regions_by_code


def iso_datetime(value) -> str | None:
    """DRF's DateTimeField with the "iso-8601" format: in the current time zone, UTC as "Z"."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(timezone.get_current_timezone())
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _iso_date(value) -> str | None:
    return None if value is None else value.isoformat()


def _text(value) -> str | None:
    return None if value is None else str(value)


def _field(field, full_profiles: bool) -> dict:
    return {
        "position": field.position,
        "name": field.name,
        "type": field.type,
        "sensitivity": field.sensitivity,
        "suggested_sensitivity": field.suggested_sensitivity,
        "title": field.title,
        "description": field.description,
        "profile": selectors.field_profile_shown(field, full=full_profiles),
    }


def version_detail(version, dataset, *, full_profiles: bool) -> dict:
    """`catalog.api.VersionSerializer`'s representation of `dataset`'s `version` (fields
    prefetched)."""
    return {
        "id": version.pk,
        "dataset": dataset.slug,
        "number": version.number,
        "status": version.status,
        "progress": version.progress,
        "row_count": version.row_count,
        "encoding": version.encoding,
        "dialect": version.dialect,
        "file_kind": version.file_kind,
        "original_filename": version.original_filename,
        "source_bytes": version.source_bytes,
        "parquet_bytes": version.parquet_bytes,
        "parquet_sha256": version.parquet_sha256,
        "mode": version.mode,
        "replace_periods": version.replace_periods,
        "error": _text(version.error_text),
        "error_row": version.error_row,
        "error_column": version.error_column,
        "attempts": version.attempts,
        "is_current": dataset.current_version_id == version.pk,
        "created_at": iso_datetime(version.created_at),
        "ingest_started_at": iso_datetime(version.started_at),
        "ingest_finished_at": iso_datetime(version.finished_at),
        "published_at": iso_datetime(version.published_at),
        "fields": [_field(f, full_profiles) for f in version.fields.all()],
    }


def dataset_detail(dataset, *, full_profiles: bool) -> dict:
    """`catalog.api.DatasetDetailSerializer`'s representation of `dataset`, read with its
    center, current version and that version's fields (select_related / prefetch_related)."""
    version = dataset.current_version
    center = dataset.center
    known = regions_by_code()
    return {
        "slug": dataset.slug,
        "title": dataset.title,
        "title_en": dataset.title_en,
        "summary": dataset.summary,
        "summary_en": dataset.summary_en,
        "description": dataset.description,
        "description_en": dataset.description_en,
        "description_html": markdown_to_html(dataset.description),
        "description_en_html": markdown_to_html(dataset.description_en),
        "theme": dataset.theme,
        "theme_label": _text(dataset.get_theme_display()),
        "keywords": dataset.keywords,
        "regions": dataset.regions,
        "region_names": {code: known[code].name for code in dataset.regions if code in known},
        "temporal_start": _iso_date(dataset.temporal_start),
        "temporal_end": _iso_date(dataset.temporal_end),
        "update_frequency": dataset.update_frequency,
        "status": dataset.status,
        "deliver_updates": dataset.deliver_updates,
        "period_field": dataset.period_field,
        "period_unit": dataset.period_unit,
        "partition_region_field": dataset.partition_region_field,
        "center": {"id": center.pk, "name": center.name, "name_en": center.name_en},
        "current_version": None
        if version is None
        else version_detail(version, dataset, full_profiles=full_profiles),
        "created_at": iso_datetime(dataset.created_at),
        "updated_at": iso_datetime(dataset.updated_at),
        "published_at": iso_datetime(dataset.published_at),
    }

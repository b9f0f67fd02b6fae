"""The scope of an access request: which fields, regions and dates a buyer asks for.

A scope is JSON: `{"fields": [...], "regions": [...], "date_from": "YYYY-MM-DD" | None,
"date_to": ...}`. An empty `regions` list means every region. `scope_clean` is pure (it takes
the schema as data) so it can be tested without a database; `scope_validate` reads the
published version's schema for an offer.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils.translation import gettext as _

from catalog.models import Offer, Sensitivity
from catalog.policy import OfferPolicy, whole_period_errors
from marketplace import errors

SCOPE_KEYS = ("fields", "regions", "date_from", "date_to")
REGION_MAX_LENGTH = 100


@dataclass(frozen=True)
class SchemaField:
    name: str
    sensitivity: str
    values: tuple[str, ...] | None = None  # every value of the column, when the profile lists them


def offer_schema(offer: Offer) -> dict[str, SchemaField]:
    """The published version's fields, by name (one query). Empty when nothing is published."""
    version_id = offer.dataset.current_version_id
    if version_id is None:
        return {}
    from catalog.models import Field

    schema = {}
    for name, sensitivity, profile in Field.objects.filter(version_id=version_id).values_list(
        "name", "sensitivity", "profile"
    ):
        values = (profile or {}).get("values") if isinstance(profile, dict) else None
        schema[name] = SchemaField(
            name=name,
            sensitivity=sensitivity,
            values=tuple(str(v) for v in values) if isinstance(values, list) else None,
        )
    return schema


def _names(values) -> str:
    return ", ".join(str(v) for v in values)


def _parse_date(value, key: str, field_errors: dict) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    field_errors.setdefault(key, []).append(_("Enter a date as YYYY-MM-DD."))
    return None


def scope_clean(*, policy: OfferPolicy, schema: dict[str, SchemaField], data: dict) -> dict:
    """Check a requested scope against an offer's policy and the published schema; return it
    normalized (fields in the offer's order, regions without duplicates, dates as ISO strings).
    An aggregate's scope is a point of its lattice: all its dimensions, regions of its region
    dimension, whole periods of its granularity. Raises ApplicationError with a message per
    scope key, every problem at once."""
    field_errors: dict[str, list[str]] = {}
    chosen = _clean_fields(policy, schema, data.get("fields") or [], field_errors)
    regions = _clean_regions(policy, schema, data.get("regions") or [], field_errors)
    date_from, date_to = _clean_window(policy, data, field_errors)
    if field_errors:
        raise errors.ApplicationError(
            _("The requested scope is not valid; see the fields."), errors=field_errors
        )
    return {
        "fields": chosen,
        "regions": regions,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
    }


def _clean_fields(
    policy: OfferPolicy, schema: dict[str, SchemaField], fields, field_errors: dict
) -> list[str]:
    offer_fields = list(policy.offered_fields())
    if policy.is_aggregate and not fields:
        fields = offer_fields
    if not isinstance(fields, list | tuple) or not all(isinstance(f, str) for f in fields):
        field_errors["fields"] = [_("Give the fields as a list of column names.")]
        return []
    if policy.is_aggregate and set(fields) != set(offer_fields):
        field_errors["fields"] = [
            _(
                "An aggregate offer's dimensions are fixed, so that no two extracts can be subtracted "
                "from each other: choose all of %(names)s."
            )
            % {"names": _names(offer_fields)}
        ]
        return []
    if not fields:
        field_errors["fields"] = [_("Choose at least one field.")]
        return []
    messages = []
    not_offered = [f for f in dict.fromkeys(fields) if f not in offer_fields]
    if not_offered:
        messages.append(
            _("These fields are not part of this offer: %(names)s.") % {"names": _names(not_offered)}
        )
    offered = [f for f in offer_fields if f in fields]
    missing = [f for f in offered if f not in schema]
    if missing:
        messages.append(
            _("These fields are not in the published data any more: %(names)s.") % {"names": _names(missing)}
        )
    excluded = [f for f in offered if f in schema and schema[f].sensitivity == Sensitivity.EXCLUDED]
    if excluded:
        messages.append(_("These fields are never delivered: %(names)s.") % {"names": _names(excluded)})
    if messages:
        field_errors["fields"] = messages
    return offered


def _clean_regions(
    policy: OfferPolicy, schema: dict[str, SchemaField], regions, field_errors: dict
) -> list[str]:
    if not regions:
        return []
    region_field = policy.region_field
    if not region_field:
        message = _("This offer cannot be filtered by region.")
    elif not isinstance(regions, list | tuple) or not all(isinstance(r, str) for r in regions):
        message = _("Give the regions as a list of values.")
    elif any(not r or len(r) > REGION_MAX_LENGTH for r in regions):
        message = _("Each region is a value of 1 to %(max)s characters.") % {"max": REGION_MAX_LENGTH}
    elif region_field not in schema:
        message = _("The region filter is not available in the published data.")
    else:
        clean = list(dict.fromkeys(regions))
        known = schema[region_field].values
        unknown = [r for r in clean if known is not None and r not in known]
        if not unknown:
            return clean
        message = _("These regions do not occur in %(field)s: %(values)s.") % {
            "field": region_field,
            "values": _names(unknown),
        }
    field_errors["regions"] = [message]
    return []


def _clean_window(policy: OfferPolicy, data: dict, field_errors: dict):
    date_from = _parse_date(data.get("date_from"), "date_from", field_errors)
    date_to = _parse_date(data.get("date_to"), "date_to", field_errors)
    if (date_from or date_to) and not policy.date_field:
        for key, value in (("date_from", date_from), ("date_to", date_to)):
            if value is not None:
                field_errors.setdefault(key, []).append(_("This offer cannot be filtered by date."))
    elif date_from and date_to and date_from > date_to:
        field_errors.setdefault("date_to", []).append(_("The end date is before the start date."))
    elif policy.is_aggregate and (date_from or date_to):
        for key, messages in whole_period_errors(date_from, date_to, policy.date_granularity).items():
            field_errors.setdefault(key, []).extend(messages)
    return date_from, date_to


def scope_validate(offer: Offer, data: dict) -> dict:
    """`scope_clean` against the offer and its dataset's published schema."""
    return scope_clean(policy=offer.policy, schema=offer_schema(offer), data=data)


def scope_narrowing_errors(current: dict, narrowed: dict) -> dict[str, list[str]]:
    """Why `narrowed` (a clean scope) is not inside `current`; empty when it is."""
    field_errors: dict[str, list[str]] = {}
    added = [f for f in narrowed["fields"] if f not in current["fields"]]
    if added:
        field_errors["fields"] = [
            _("Approval can only remove fields; these were not requested: %(names)s.")
            % {"names": _names(added)}
        ]
    if current["regions"]:
        if not narrowed["regions"]:
            field_errors["regions"] = [
                _("Approval cannot widen the request to every region; list the regions to keep.")
            ]
        else:
            extra = [r for r in narrowed["regions"] if r not in current["regions"]]
            if extra:
                field_errors["regions"] = [
                    _("Approval can only keep requested regions; these were not requested: %(values)s.")
                    % {"values": _names(extra)}
                ]
    if current["date_from"] and (not narrowed["date_from"] or narrowed["date_from"] < current["date_from"]):
        field_errors["date_from"] = [_("The approved period must lie inside the requested one.")]
    if current["date_to"] and (not narrowed["date_to"] or narrowed["date_to"] > current["date_to"]):
        field_errors["date_to"] = [_("The approved period must lie inside the requested one.")]
    return field_errors


def scope_narrow(offer: Offer, current: dict, changes: dict) -> dict:
    """The scope a reviewer approves: `current` with the keys present in `changes` replaced,
    valid for the offer and inside `current`."""
    proposed = {key: changes[key] if key in changes else current.get(key) for key in SCOPE_KEYS}
    narrowed = scope_validate(offer, proposed)
    field_errors = scope_narrowing_errors(current, narrowed)
    if field_errors:
        raise errors.ApplicationError(
            _("The approved scope must lie inside the requested one; see the fields."), errors=field_errors
        )
    return narrowed


def scope_difference(requested: dict, approved: dict) -> dict:
    """What a reviewer narrowed: `{key: {"requested": ..., "approved": ...}}` for each key that
    differs (empty when nothing was narrowed)."""
    diff = {}
    for key in SCOPE_KEYS:
        before, after = (requested or {}).get(key), (approved or {}).get(key)
        if key in ("fields", "regions"):
            before, after = before or [], after or []
        if before != after:
            diff[key] = {"requested": before, "approved": after}
    if "fields" in diff:
        diff["fields"]["removed"] = [
            f for f in diff["fields"]["requested"] if f not in diff["fields"]["approved"]
        ]
    return diff

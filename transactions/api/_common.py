"""Shared by the transactions API modules: validated input, id filters, the CSV renderer and
the since/until parameters."""

from __future__ import annotations

import datetime
import json

import django_filters
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from rest_framework.renderers import BaseRenderer

from marketplace import errors
from marketplace.api import MAX_ID
from transactions import selectors


def valid_input(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class IdFilter(django_filters.NumberFilter):
    """A foreign key's id: a number beyond the database's integer range is invalid input (400),
    not a comparison the database fails at (a 500: OverflowError on SQLite, out of range on
    PostgreSQL; Django guards only plain integer fields)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=-MAX_ID - 1, max_value=MAX_ID, **kwargs)


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` reach the view, which streams the CSV itself; anything else that ends
    up here (an error) is written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")


def parse_when(value: str | None, *, end: bool = False) -> datetime.datetime | None:
    """A `since` (or, with `end`, `until`) query parameter. A date alone is the whole day in the
    platform's time zone (`until=2026-03-05` includes every event of 5 March); a date and time
    keeps its exact meaning (read in the platform's time zone when it has no offset)."""
    if not value:
        return None
    try:
        # The date first: parse_datetime also reads "2026-03-05", as that day's midnight, which
        # made a date-only `until` drop the events of its own day.
        day = parse_date(value)
        if day is not None:
            return selectors.day_bound(day, end=end)
        moment = parse_datetime(value)
    except ValueError:  # well formed but impossible: 2026-02-30, 25:00
        moment = None
    if moment is None:
        raise errors.ApplicationError(
            _("Give dates as YYYY-MM-DD or ISO 8601 times."),
            errors={"until" if end else "since": [value]},
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


SINCE_HELP = (
    "From this date (its first moment) or ISO 8601 time, inclusive. Dates and times without an "
    f"offset are in the platform's time zone ({settings.TIME_ZONE})."
)
UNTIL_HELP = (
    "Until this date, inclusive: the whole day in the platform's time zone "
    f"({settings.TIME_ZONE}). Or until this ISO 8601 time, exclusive (without an offset, in the "
    "platform's time zone)."
)

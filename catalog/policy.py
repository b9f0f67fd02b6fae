"""An offer's privacy policy as one typed, frozen value, and a request's scope on its lattice.

`OfferPolicy` is the only thing the privacy planner (`catalog.privacy`) reads about an offer. It
is built from an offer (`from_offer`), from the snapshot a license keeps (`from_snapshot`), or
from a dict of input values (`from_values`); `to_snapshot()` is its JSON form, so what a license
was approved under never changes when the center edits the offer afterwards. `errors(schema)`
checks it against a version's columns and returns messages per field (empty when valid);
`normalized()` fills what follows from the rules (an aggregate's choosable fields are its
dimensions).

The rules, for a statistical office's disclosure-control reading:

- thresholds have bounds that no value can switch off: k ≥ 3 distinct subjects per cell, a p%
  rule with 5 ≤ p ≤ 50, a (2, c) dominance share 0.5 ≤ c ≤ 0.95;
- an aggregate offer over data with an identifier column names its subject (what k counts);
- an aggregate offer's dimensions are fixed: the region and date filters must be dimensions, so
  every narrowing a buyer may choose selects whole cells of one table (a lattice point) and two
  extracts can never be subtracted to reveal anything finer;
- `min`/`max` measures publish single transactions, so only when the center opts in
  (`extremes_allowed`), and then only in cells that pass every rule.

No Django models here; messages go through gettext so API and forms show them translated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from catalog.treatments import RecordTreatments, parse_ints

PUBLIC = "public"
QUASI_IDENTIFIER = "quasi_identifier"
IDENTIFIER = "identifier"
EXCLUDED = "excluded"

RECORDS = "records"
AGGREGATE = "aggregate"
KINDS = (RECORDS, AGGREGATE)

# Finest first.
GRANULARITIES = ("day", "week", "month", "quarter", "year")
AGGREGATES = ("sum", "avg", "min", "max")
SAMPLE_BY = ("position", "values")
EXTREMES = ("min", "max")

K_MIN, K_MAX, DEFAULT_K = 3, 1000, 5
P_MIN, P_MAX, DEFAULT_P = 5, 50, 10
DOMINANCE_MIN, DOMINANCE_MAX = Decimal("0.5"), Decimal("0.95")
DEFAULT_DOMINANCE = Decimal("0.85")
NUMERIC_TYPES = ("integer", "number")
DATE_TYPES = ("date", "datetime")


@dataclass(frozen=True)
class Column:
    """A column of a version's schema as the planner needs it."""

    name: str
    type: str
    sensitivity: str


@dataclass(frozen=True)
class Measure:
    field: str
    agg: str

    @property
    def output_name(self) -> str:
        return f"{self.agg}_{self.field}"


def _names(values: Iterable) -> str:
    return ", ".join(str(v) for v in values)


def _tuple_of_str(value) -> tuple[str, ...] | None:
    if value in (None, ""):
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(value))
    return None


def _measures(value) -> tuple[Measure, ...] | None:
    if value in (None, ""):
        return ()
    if not isinstance(value, list | tuple):
        return None
    out = []
    for m in value:
        if isinstance(m, Measure):
            out.append(m)
        elif isinstance(m, Mapping) and isinstance(m.get("field"), str) and isinstance(m.get("agg"), str):
            out.append(Measure(field=m["field"], agg=m["agg"]))
        else:
            return None
    return tuple(dict.fromkeys(out))


def _parse_numbers(values: Mapping, kwargs: dict, invalid: list[str]) -> None:
    """k, p_percent and dominance of `values` into `kwargs`; the keys that do not parse go to
    `invalid` (empty values are left out: the defaults apply)."""
    parse_ints(values, ("k", "p_percent"), kwargs, invalid)
    if values.get("dominance") not in (None, ""):
        try:
            kwargs["dominance"] = Decimal(str(values["dominance"]))
            if not kwargs["dominance"].is_finite():
                raise InvalidOperation
            # One spelling per value ("0.850" from the database, "0.85" from a form): a snapshot,
            # and every name made of one (a protected table's, catalog.released_cache), is the same.
            kwargs["dominance"] = kwargs["dominance"].normalize()
        except (InvalidOperation, ValueError):
            kwargs.pop("dominance", None)
            invalid.append("dominance")


@dataclass(frozen=True)
class OfferPolicy:
    """What an offer may release and under which disclosure rules (see the module docstring)."""

    kind: str
    fields: tuple[str, ...] = ()
    region_field: str = ""
    date_field: str = ""
    dimensions: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = ()
    subject_field: str = ""
    dominance_field: str = ""
    k: int = DEFAULT_K
    p_percent: int = DEFAULT_P
    dominance: Decimal = DEFAULT_DOMINANCE
    date_granularity: str = "month"
    quasi_identifiers_allowed: bool = False
    extremes_allowed: bool = False
    # Record offers only (catalog.treatments); an old snapshot without it gets no treatment.
    treatments: RecordTreatments = field(default_factory=RecordTreatments)
    # What a per-license sample draws from (catalog.privacy): "values", the row's delivered values,
    # so a row keeps its draw in every version, however the center's file orders its rows; or
    # "position", its place in the file (licenses approved before: their samples stay as they
    # were). A license's snapshot says "values" (catalog.selectors.offer_snapshot).
    sample_by: str = "position"
    # Values that did not parse, by key: reported by errors(), never planned.
    invalid: tuple[str, ...] = field(default=(), compare=False)

    KEYS = (
        "kind",
        "fields",
        "region_field",
        "date_field",
        "dimensions",
        "measures",
        "subject_field",
        "dominance_field",
        "k",
        "p_percent",
        "dominance",
        "date_granularity",
        "quasi_identifiers_allowed",
        "extremes_allowed",
        "treatments",
    )

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_values(cls, values: Mapping) -> OfferPolicy:
        """A policy from loosely typed input (API, form, snapshot); keys it does not know are
        ignored, values that do not parse are kept aside for `errors()`."""
        kwargs: dict = {}
        invalid: list[str] = []
        for key in ("fields", "dimensions"):
            if key in values:
                parsed = _tuple_of_str(values[key])
                kwargs[key] = parsed if parsed is not None else ()
                if parsed is None:
                    invalid.append(key)
        if "measures" in values:
            parsed = _measures(values["measures"])
            kwargs["measures"] = parsed if parsed is not None else ()
            if parsed is None:
                invalid.append("measures")
        for key in (
            "kind",
            "region_field",
            "date_field",
            "subject_field",
            "dominance_field",
            "date_granularity",
        ):
            if key in values:
                value = values[key]
                if value is None:
                    value = ""
                if isinstance(value, str):
                    kwargs[key] = value.strip()
                else:
                    invalid.append(key)
        if "date_granularity" in kwargs and not kwargs["date_granularity"]:
            del kwargs["date_granularity"]
        _parse_numbers(values, kwargs, invalid)
        for key in ("quasi_identifiers_allowed", "extremes_allowed"):
            if key in values and values[key] is not None:
                kwargs[key] = bool(values[key])
        if values.get("sample_by") is not None:
            if values["sample_by"] in SAMPLE_BY:
                kwargs["sample_by"] = values["sample_by"]
            else:
                invalid.append("sample_by")
        if "treatments" in values:
            treatments = values["treatments"]
            if not isinstance(treatments, RecordTreatments):
                treatments = RecordTreatments.from_values(treatments)
            kwargs["treatments"] = treatments
        return cls(kind=kwargs.pop("kind", ""), invalid=tuple(invalid), **kwargs)

    @classmethod
    def from_offer(cls, offer) -> OfferPolicy:
        """The policy an `catalog.models.Offer` row holds now."""
        return cls.from_values({key: getattr(offer, key) for key in cls.KEYS})

    @classmethod
    def from_snapshot(cls, snapshot: Mapping) -> OfferPolicy:
        """The policy a license snapshotted at approval. Snapshots from before the policy had
        some keys get the defaults, which are the strictest settings a center could choose."""
        return cls.from_values(snapshot)

    def to_snapshot(self) -> dict:
        """JSON form; `from_snapshot(p.to_snapshot()) == p`."""
        return {
            "kind": self.kind,
            "fields": list(self.fields),
            "region_field": self.region_field,
            "date_field": self.date_field,
            "dimensions": list(self.dimensions),
            "measures": [{"field": m.field, "agg": m.agg} for m in self.measures],
            "subject_field": self.subject_field,
            "dominance_field": self.dominance_field,
            "k": self.k,
            "p_percent": self.p_percent,
            "dominance": str(self.dominance),
            "date_granularity": self.date_granularity,
            "quasi_identifiers_allowed": self.quasi_identifiers_allowed,
            "extremes_allowed": self.extremes_allowed,
            "treatments": self.treatments.to_dict(),
            # Only where it is not the default: an aggregate's snapshot, and every key made of
            # one (the protected table's name, the disclosure ledger's releases), stays as it was.
            **({"sample_by": self.sample_by} if self.sample_by != "position" else {}),
        }

    def model_values(self) -> dict:
        """The values an Offer row stores for this policy."""
        values = self.to_snapshot()
        values["dominance"] = self.dominance
        values.pop("sample_by", None)  # a license's, not the offer's (see sample_by)
        return values

    def normalized(self) -> OfferPolicy:
        """An aggregate's choosable fields are its dimensions (all of them, in order)."""
        if self.kind == AGGREGATE:
            return replace(self, fields=self.dimensions)
        return self

    # --- reading -----------------------------------------------------------------------------

    @property
    def is_aggregate(self) -> bool:
        return self.kind == AGGREGATE

    @property
    def p(self) -> float:
        return self.p_percent / 100

    def offered_fields(self) -> tuple[str, ...]:
        return self.dimensions if self.is_aggregate else self.fields

    # --- validation --------------------------------------------------------------------------

    def errors(self, schema: Mapping[str, Column]) -> dict[str, list[str]]:
        """Why this policy cannot be offered over `schema` (column name → Column), per key."""
        e: dict[str, list[str]] = {}
        for key in self.invalid:
            e.setdefault(key, []).append(_("This value is not valid."))
        if self.kind not in KINDS:
            e.setdefault("kind", []).append(_("Choose records or aggregate."))
        if self.kind == RECORDS:
            self._record_errors(schema, e)
            for key, messages in self.treatments.errors(
                schema, fields=self.fields, date_field=self.date_field, subject_field=self.subject_field
            ).items():
                e.setdefault(key, []).extend(messages)
        elif self.kind == AGGREGATE:
            self._aggregate_errors(schema, e)
            if self.treatments.any:
                e.setdefault("treatments", []).append(_("Treatments apply to record-level offers only."))
        self._filter_errors(schema, e)
        self._threshold_errors(e)
        return e

    def _record_errors(self, schema, e) -> None:
        if not self.fields:
            e.setdefault("fields", []).append(_("Choose the columns a buyer may license."))
            return
        deliverable = {PUBLIC, IDENTIFIER} | ({QUASI_IDENTIFIER} if self.quasi_identifiers_allowed else set())
        _check_columns(
            e,
            "fields",
            self.fields,
            schema,
            allowed=deliverable,
            message=_(
                "These columns cannot be delivered record by record under their sensitivity: %(names)s."
            ),
        )

    def _aggregate_errors(self, schema, e) -> None:
        if not self.dimensions:
            e.setdefault("dimensions", []).append(_("Choose at least one column to group by."))
        else:
            _check_columns(
                e,
                "dimensions",
                self.dimensions,
                schema,
                allowed={PUBLIC, QUASI_IDENTIFIER},
                message=_("Identifiers and excluded columns cannot be dimensions: %(names)s."),
            )
        extra = [f for f in self.fields if f not in self.dimensions]
        if extra:
            e.setdefault("fields", []).append(
                _("An aggregate offer's fields are its dimensions; not: %(names)s.")
                % {"names": _names(extra)}
            )
        self._measure_errors(schema, e)
        identifiers = [c.name for c in schema.values() if c.sensitivity == IDENTIFIER]
        if not self.subject_field and identifiers:
            e.setdefault("subject_field", []).append(
                _(
                    "Name the subject that k counts (one of the identifier columns: %(names)s); "
                    "otherwise cells would count records, not people or businesses."
                )
                % {"names": _names(identifiers)}
            )
        for key in ("subject_field", "dominance_field"):
            name = getattr(self, key)
            if not name:
                continue
            if name not in schema:
                e.setdefault(key, []).append(_("No such column: %(name)s.") % {"name": name})
            elif schema[name].sensitivity == EXCLUDED:
                e.setdefault(key, []).append(_("Excluded columns are never read."))
        for key in ("region_field", "date_field"):
            name = getattr(self, key)
            if name and self.dimensions and name not in self.dimensions:
                e.setdefault(key, []).append(
                    _(
                        "In an aggregate offer a filter column must be one of its dimensions, so a "
                        "narrower request selects whole cells of the same table."
                    )
                )

    def _measure_errors(self, schema, e) -> None:
        for m in self.measures:
            column = schema.get(m.field)
            if m.agg not in AGGREGATES or column is None:
                e.setdefault("measures", []).append(
                    _('Each measure is {"field": a numeric column, "agg": one of %(aggs)s}.')
                    % {"aggs": _names(AGGREGATES)}
                )
            elif column.type not in NUMERIC_TYPES or column.sensitivity != PUBLIC:
                e.setdefault("measures", []).append(
                    _("%(name)s is not a public numeric column.") % {"name": m.field}
                )
            elif m.agg in EXTREMES and not self.extremes_allowed:
                e.setdefault("measures", []).append(
                    _(
                        "%(agg)s of %(name)s publishes a single record's value; allow minimum and maximum "
                        "values explicitly to offer it."
                    )
                    % {"agg": m.agg, "name": m.field}
                )

    def _filter_errors(self, schema, e) -> None:
        for key in ("region_field", "date_field"):
            name = getattr(self, key)
            if not name:
                continue
            column = schema.get(name)
            if column is None:
                e.setdefault(key, []).append(_("No such column: %(name)s.") % {"name": name})
            elif column.sensitivity in (EXCLUDED, IDENTIFIER):
                e.setdefault(key, []).append(_("Filters cannot use identifiers or excluded columns."))
            elif key == "date_field" and column.type not in DATE_TYPES:
                e.setdefault(key, []).append(_("The date filter needs a date or date-time column."))

    def _threshold_errors(self, e) -> None:
        if self.date_granularity not in GRANULARITIES:
            e.setdefault("date_granularity", []).append(
                _("Choose one of: %(choices)s.") % {"choices": _names(GRANULARITIES)}
            )
        if not K_MIN <= self.k <= K_MAX:
            e.setdefault("k", []).append(
                _("k is a whole number from %(low)s to %(high)s.") % {"low": K_MIN, "high": K_MAX}
            )
        if not P_MIN <= self.p_percent <= P_MAX:
            e.setdefault("p_percent", []).append(
                _("p is a whole percentage from %(low)s to %(high)s.") % {"low": P_MIN, "high": P_MAX}
            )
        if not DOMINANCE_MIN <= self.dominance <= DOMINANCE_MAX:
            e.setdefault("dominance", []).append(
                _("The dominance share lies between %(low)s and %(high)s (e.g. 0.85).")
                % {"low": DOMINANCE_MIN, "high": DOMINANCE_MAX}
            )


def _check_columns(e, key: str, names, schema, *, allowed: set[str], message: str) -> None:
    unknown = [n for n in names if n not in schema]
    if unknown:
        e.setdefault(key, []).append(_("No such columns: %(names)s.") % {"names": _names(unknown)})
    refused = [n for n in names if n in schema and schema[n].sensitivity not in allowed]
    if refused:
        e.setdefault(key, []).append(message % {"names": _names(refused)})


# --- date periods --------------------------------------------------------------------------------


def period_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def next_period(start: date, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def whole_period_errors(date_from: date | None, date_to: date | None, unit: str) -> dict[str, list[str]]:
    """Why an inclusive window is not made of whole periods of `unit`, by scope key (empty when
    it is): an aggregate's window must select whole cells."""
    messages: dict[str, list[str]] = {}
    if date_from and period_start(date_from, unit) != date_from:
        start = period_start(date_from, unit)
        messages["date_from"] = [
            _("The window must start on the first day of a %(unit)s (e.g. %(day)s).")
            % {"unit": _unit_label(unit), "day": start.isoformat()}
        ]
    if date_to:
        end = date_to + timedelta(days=1)
        if period_start(end, unit) != end:
            last = next_period(period_start(date_to, unit), unit) - timedelta(days=1)
            messages["date_to"] = [
                _("The window must end on the last day of a %(unit)s (e.g. %(day)s).")
                % {"unit": _unit_label(unit), "day": last.isoformat()}
            ]
    return messages


def _unit_label(unit: str) -> str:
    return {
        "day": _("day"),
        "week": _("week (Monday to Sunday)"),
        "month": _("month"),
        "quarter": _("quarter"),
        "year": _("year"),
    }[unit]


def policy_fields(policy: OfferPolicy) -> list[str]:
    """Names of the dataclass fields that make a policy (for forms and serializers)."""
    return [f.name for f in fields(policy) if f.name != "invalid"]

"""Treatments of a record-level offer: what the engine does to rows before they leave.

`RecordTreatments` is a frozen value held by `catalog.policy.OfferPolicy.treatments` and applied
by `catalog.privacy._records_plan` in SQL (every value a bound parameter), the same way for
extracts and previews. The default is "no treatment", which is also what a license snapshotted
before treatments existed gets. In the order the engine applies them:

1. `sample_percent` < 100: a deterministic per-license sample of the source rows (an HMAC of the
   row's delivered values under the license key; of its position for licenses approved before,
   `OfferPolicy.sample_by`), so two licenses' files are not the same rows, and one license's
   files of two versions are the same rows however the file orders them.
2. `time_unit`: every delivered date/time column truncated to the hour, day or week (Monday).
3. `amount_fields` rounded to `amount_round` and top-coded at ±`amount_top` (0: not).
4. `pseudonym_period`: identifiers are pseudonymized with the period of the offer's date field
   in the HMAC input, so a card's pseudonym changes every day, week or month.
5. `suppress_k` > 0: local suppression. Rows whose combination of delivered non-identifier
   columns is shared by fewer than k rows first lose the values of `suppress_first`; rows still
   in a class smaller than k are dropped. The file is then k-anonymous on those columns.
6. `trajectory_k` > 0 (needs the offer's `subject_field` among the delivered identifiers): a
   subject's pseudonym is kept only when the whole multiset of its rows (every other delivered
   column) is shared by at least k subjects; otherwise it is blanked (NULL) on its rows. No
   subject's points then single it out, whatever p (de Montjoye's unicity is 0), and no
   trajectory is unique across two files.

No Django models here; messages go through gettext.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

TIME_UNITS = ("", "hour", "day", "week")
PSEUDONYM_PERIODS = ("", "day", "week", "month")
SUPPRESS_K_MIN, SUPPRESS_K_MAX = 2, 1000
AMOUNT_MAX = 10**12


def parse_ints(values: Mapping, keys, kwargs: dict, invalid: list[str]) -> None:
    """The whole numbers of `values` under `keys` into `kwargs` (written as numbers or text;
    empty ones left out); keys that are not whole numbers go to `invalid`."""
    for key in keys:
        value = values.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, bool) or not isinstance(value, int | str):
            invalid.append(key)
            continue
        try:
            kwargs[key] = int(value)
        except ValueError:
            invalid.append(key)


_INTS = ("amount_round", "amount_top", "suppress_k", "trajectory_k", "sample_percent")
_TUPLES = ("amount_fields", "suppress_first")
_CHOICES = {"time_unit": TIME_UNITS, "pseudonym_period": PSEUDONYM_PERIODS}


@dataclass(frozen=True)
class RecordTreatments:
    time_unit: str = ""
    amount_fields: tuple[str, ...] = ()
    amount_round: int = 0
    amount_top: int = 0
    suppress_k: int = 0
    suppress_first: tuple[str, ...] = ()
    trajectory_k: int = 0
    pseudonym_period: str = ""
    sample_percent: int = 100
    invalid: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, values: Mapping | None) -> RecordTreatments:
        """From loosely typed input (API, form, snapshot); missing keys mean no treatment,
        values that do not parse are kept aside for `errors()`."""
        if not values:
            return cls()
        if not isinstance(values, Mapping):
            return cls(invalid=("treatments",))
        kwargs: dict = {}
        invalid: list[str] = []
        for key, choices in _CHOICES.items():
            value = values.get(key) or ""
            if isinstance(value, str) and value.strip() in choices:
                kwargs[key] = value.strip()
            else:
                invalid.append(key)
        parse_ints(values, _INTS, kwargs, invalid)
        for key in _TUPLES:
            value = values.get(key)
            if value in (None, ""):
                continue
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                kwargs[key] = tuple(dict.fromkeys(value))
            else:
                invalid.append(key)
        return cls(invalid=tuple(invalid), **kwargs)

    def to_dict(self) -> dict:
        return {
            "time_unit": self.time_unit,
            "amount_fields": list(self.amount_fields),
            "amount_round": self.amount_round,
            "amount_top": self.amount_top,
            "suppress_k": self.suppress_k,
            "suppress_first": list(self.suppress_first),
            "trajectory_k": self.trajectory_k,
            "pseudonym_period": self.pseudonym_period,
            "sample_percent": self.sample_percent,
        }

    @property
    def any(self) -> bool:
        return self != RecordTreatments()

    @property
    def samples(self) -> bool:
        return self.sample_percent < 100

    def errors(self, schema: Mapping, *, fields, date_field: str, subject_field: str) -> dict[str, list[str]]:
        """Why these treatments cannot apply to an offer delivering `fields` of `schema`."""
        e: dict[str, list[str]] = {}

        def add(key, message):  # one key for the whole setting, as the form shows it
            e.setdefault("treatments", []).append(f"{key}: {message}")

        for key in self.invalid:
            add(key, _("This value is not valid."))
        for key in ("amount_fields", "suppress_first"):
            bad = [n for n in getattr(self, key) if n not in fields or n not in schema]
            if bad:
                add(key, _("Not among the offer's fields: %(names)s.") % {"names": ", ".join(bad)})
        not_numeric = [
            n for n in self.amount_fields if n in schema and schema[n].type not in ("integer", "number")
        ]
        if not_numeric:
            add("amount_fields", _("Not numeric columns: %(names)s.") % {"names": ", ".join(not_numeric)})
        for key in ("amount_round", "amount_top"):
            value = getattr(self, key)
            if not 0 <= value <= AMOUNT_MAX:
                add(key, _("A whole number from 0 (none) to %(max)s.") % {"max": AMOUNT_MAX})
            elif value and not self.amount_fields:
                add(key, _("Name the amount columns to round or top-code."))
        for key in ("suppress_k", "trajectory_k"):
            value = getattr(self, key)
            if value and not SUPPRESS_K_MIN <= value <= SUPPRESS_K_MAX:
                add(
                    key,
                    _("k is 0 (none) or a whole number from %(low)s to %(high)s.")
                    % {"low": SUPPRESS_K_MIN, "high": SUPPRESS_K_MAX},
                )
        if self.suppress_first and not self.suppress_k:
            add("suppress_first", _("Local suppression needs its k."))
        if self.trajectory_k and (
            not subject_field or subject_field not in fields or schema.get(subject_field) is None
        ):
            add("trajectory_k", _("Name the subject (an identifier among the offer's fields)."))
        elif self.trajectory_k and schema[subject_field].sensitivity != "identifier":
            add("trajectory_k", _("The subject must be an identifier column."))
        if self.pseudonym_period and (not date_field or date_field not in schema):
            add("pseudonym_period", _("Renewing pseudonyms per period needs the offer's date field."))
        if not 1 <= self.sample_percent <= 100:
            add("sample_percent", _("A whole percentage from 1 to 100 (100: every row)."))
        return e

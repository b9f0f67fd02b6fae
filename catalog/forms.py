"""Web forms of the catalog. They parse and check input only; the services decide (and their
ApplicationError.errors come back onto these forms' fields)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Organization
from catalog import policy as offer_policy
from catalog import selectors
from catalog.models import Offer, PeriodUnit, Sensitivity, UploadMode
from catalog.services import MEASURE_AGGREGATES
from catalog.treatments import AMOUNT_MAX, SUPPRESS_K_MAX, RecordTreatments
from catalog.vocabularies import Theme, UpdateFrequency, gyeonggi_regions
from marketplace.forms import WebForm

SORT_CHOICES = [
    ("newest", _("Newest")),
    ("updated", _("Recently updated")),
    ("title", _("Title")),
    ("price", _("Price")),
]
PRICE_CHOICES = [("free", _("Free")), ("paid", pgettext_lazy("price", "Paid"))]


def region_choices() -> list[tuple[str, str]]:
    return [(r.code, r.label) for r in gyeonggi_regions()]


class CatalogSearchForm(WebForm):
    """The catalog's query string. Unknown values are dropped rather than refused: a stale
    bookmark still shows results."""

    q = forms.CharField(label=_("Search datasets"), required=False, max_length=200)
    theme = forms.ChoiceField(label=_("Theme"), required=False, choices=[("", ""), *Theme.choices])
    center = forms.IntegerField(label=_("Center"), required=False, min_value=1)
    region = forms.ChoiceField(label=_("Region"), required=False)
    price = forms.ChoiceField(label=_("Price"), required=False, choices=[("", ""), *PRICE_CHOICES])
    approval = forms.ChoiceField(
        label=_("Approval"), required=False, choices=[("", ""), *Offer.Approval.choices]
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=[("", ""), *SORT_CHOICES])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [("", ""), *region_choices()]

    def params(self) -> selectors.SearchParams:
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        return selectors.SearchParams(
            q=(data.get("q") or "").strip(),
            theme=data.get("theme") or "",
            center=data.get("center") or None,
            region=data.get("region") or "",
            price=data.get("price") or "",
            approval=data.get("approval") or "",
            sort=data.get("sort") or "",
        )


# --- center side --------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DatasetForm(WebForm):
    title = forms.CharField(label=_("Title (Korean)"), max_length=200)
    title_en = forms.CharField(label=_("Title (English)"), max_length=200, required=False)
    summary = forms.CharField(label=_("Summary (Korean)"), max_length=500, required=False)
    summary_en = forms.CharField(label=_("Summary (English)"), max_length=500, required=False)
    description = forms.CharField(
        label=_("Description (Korean, Markdown)"), required=False, max_length=50_000, widget=forms.Textarea
    )
    description_en = forms.CharField(
        label=_("Description (English, Markdown)"), required=False, max_length=50_000, widget=forms.Textarea
    )
    theme = forms.ChoiceField(label=_("Theme"), choices=Theme.choices, initial=Theme.OTHER)
    keywords = forms.CharField(
        label=_("Keywords"),
        required=False,
        max_length=1000,
        help_text=_("Separate keywords with commas."),
    )
    regions = forms.MultipleChoiceField(
        label=_("Regions covered (시·군)"), required=False, widget=forms.CheckboxSelectMultiple
    )
    temporal_start = forms.DateField(label=_("Coverage from"), required=False, widget=DateInput())
    temporal_end = forms.DateField(label=_("Coverage until"), required=False, widget=DateInput())
    update_frequency = forms.ChoiceField(
        label=_("Update frequency"), choices=UpdateFrequency.choices, initial=UpdateFrequency.IRREGULAR
    )
    deliver_updates = forms.BooleanField(
        label=_("Licensees receive new versions"), required=False, initial=True
    )
    period_field = forms.CharField(
        label=_("Period column"),
        max_length=255,
        required=False,
        help_text=_(
            "A date column, e.g. 거래일자. Each version is then stored as one file per period, "
            "new periods can be appended, and extracts read only the periods they need."
        ),
    )
    period_unit = forms.ChoiceField(
        label=_("Period"), choices=PeriodUnit.choices, initial=PeriodUnit.MONTH, required=False
    )
    partition_region_field = forms.CharField(
        label=_("Region column (optional)"),
        max_length=255,
        required=False,
        help_text=_("Also one file per value of this column, e.g. 시군코드."),
    )

    def __init__(self, *args, centers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = region_choices()
        if centers is not None and len(centers) > 1:
            self.fields["center"] = forms.TypedChoiceField(
                label=_("Publishing center"), choices=[(c.pk, c.name) for c in centers], coerce=int
            )
            self.order_fields(["center"])

    def clean_keywords(self) -> list[str]:
        return [k.strip() for k in self.cleaned_data["keywords"].split(",") if k.strip()]

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("center", None)
        data["period_unit"] = data.get("period_unit") or PeriodUnit.MONTH
        return data

    @staticmethod
    def initial_from(dataset) -> dict:
        return {
            **{
                name: getattr(dataset, name)
                for name in (
                    "title",
                    "title_en",
                    "summary",
                    "summary_en",
                    "description",
                    "description_en",
                    "theme",
                    "regions",
                    "temporal_start",
                    "temporal_end",
                    "update_frequency",
                    "deliver_updates",
                    "period_field",
                    "period_unit",
                    "partition_region_field",
                )
            },
            "keywords": ", ".join(dataset.keywords),
        }


class UploadForm(WebForm):
    file = forms.FileField(
        label=_("Data file"),
        help_text=_("CSV (UTF-8, UTF-8 with BOM, CP949/EUC-KR) or Parquet. The encoding is detected."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.parquet,.gz,.zip"}),
    )
    mode = forms.ChoiceField(
        label=_("The file holds"),
        choices=[
            (UploadMode.REPLACE, _("the whole table (replaces the published data)")),
            (UploadMode.APPEND, _("new periods to add to the published data")),
        ],
        initial=UploadMode.REPLACE,
        required=False,
    )
    replace_periods = forms.BooleanField(
        label=_("Replace periods the published data already holds"), required=False
    )


class ImportForm(WebForm):
    """A version from files already in the center's import prefix in object storage."""

    source_uris = forms.CharField(
        label=_("Files in object storage"),
        help_text=_("One s3:// address per line; an address ending in “/” takes every file under it."),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        max_length=200_000,
    )
    mode = UploadForm.base_fields["mode"]
    replace_periods = UploadForm.base_fields["replace_periods"]

    def clean_source_uris(self) -> list[str]:
        uris = [line.strip() for line in self.cleaned_data["source_uris"].splitlines() if line.strip()]
        if not uris:
            raise forms.ValidationError(_("Name at least one file."))
        return uris


class FieldsForm(WebForm):
    """One form for every column of a version: sensitivity, title, description."""

    def __init__(self, *args, fields, frozen_sensitivity: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = list(fields)
        for i, field in enumerate(self.columns):
            self.fields[f"f{i}-sensitivity"] = forms.ChoiceField(
                label=_("Sensitivity"),
                choices=Sensitivity.choices,
                initial=field.sensitivity,
                disabled=frozen_sensitivity,
            )
            self.fields[f"f{i}-title"] = forms.CharField(
                label=_("Title"), max_length=255, required=False, initial=field.title
            )
            self.fields[f"f{i}-description"] = forms.CharField(
                label=_("Description"),
                max_length=5000,
                required=False,
                initial=field.description,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def rows(self):
        """(field, its sensitivity / title / description bound fields) for the template."""
        for i, field in enumerate(self.columns):
            yield field, self[f"f{i}-sensitivity"], self[f"f{i}-title"], self[f"f{i}-description"]

    def changes(self) -> list[dict]:
        changes = []
        for i, field in enumerate(self.columns):
            change = {"name": field.name}
            for key in ("sensitivity", "title", "description"):
                if not self.fields[f"f{i}-{key}"].disabled:
                    change[key] = self.cleaned_data[f"f{i}-{key}"]
            changes.append(change)
        return changes

    def field_map(self) -> dict[str, str]:
        """Service error keys (column names) → this form's sensitivity field of that column."""
        return {field.name: f"f{i}-sensitivity" for i, field in enumerate(self.columns)}


class ColumnCheckboxes(forms.CheckboxSelectMultiple):
    """Column checkboxes where the columns in `disabled_values` (excluded ones) are listed but
    cannot be ticked, so neither a click nor "select all" picks them."""

    disabled_values: frozenset = frozenset()

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        if value in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


AGGREGATE_FORM_FIELDS = (
    "dimensions",
    "measures",
    "subject_field",
    "k",
    "dominance_field",
    "p_percent",
    "dominance",
    "extremes_allowed",
)


class OfferForm(WebForm):
    """An offer's terms. Column choices come from the version's schema."""

    name = forms.CharField(label=_("Name (Korean)"), max_length=200)
    name_en = forms.CharField(label=_("Name (English)"), max_length=200, required=False)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=Offer.Kind.choices, widget=forms.RadioSelect, initial=Offer.Kind.RECORDS
    )
    columns = forms.MultipleChoiceField(
        label=_("Columns a buyer may choose"),
        required=False,
        widget=ColumnCheckboxes,
        help_text=_("Excluded columns are never delivered, so they cannot be chosen."),
    )
    region_field = forms.ChoiceField(label=_("Region filter column"), required=False)
    date_field = forms.ChoiceField(label=_("Date filter column"), required=False)
    quasi_identifiers_allowed = forms.BooleanField(
        label=_("Deliver quasi-identifiers (age band, sex, district) record by record"), required=False
    )
    dimensions = forms.MultipleChoiceField(
        label=_("Group by (aggregate offers)"), required=False, widget=ColumnCheckboxes
    )
    measures = forms.MultipleChoiceField(
        label=_("Measures (aggregate offers)"), required=False, widget=forms.CheckboxSelectMultiple
    )
    subject_field = forms.ChoiceField(label=_("Subject column counted for k"), required=False)
    dominance_field = forms.ChoiceField(
        label=_("Contributor column for the dominance rules (e.g. merchant)"), required=False
    )
    k = forms.IntegerField(
        label=_("Minimum group size k"),
        min_value=offer_policy.K_MIN,
        max_value=offer_policy.K_MAX,
        initial=offer_policy.DEFAULT_K,
    )
    p_percent = forms.IntegerField(
        label=_("p% rule (percent)"),
        min_value=offer_policy.P_MIN,
        max_value=offer_policy.P_MAX,
        initial=offer_policy.DEFAULT_P,
        required=False,
        help_text=_(
            "A cell is suppressed when its other contributors add up to less than p% of the largest."
        ),
    )
    dominance = forms.DecimalField(
        label=_("Dominance share of the two largest contributors"),
        min_value=offer_policy.DOMINANCE_MIN,
        max_value=offer_policy.DOMINANCE_MAX,
        decimal_places=3,
        initial=offer_policy.DEFAULT_DOMINANCE,
        required=False,
    )
    extremes_allowed = forms.BooleanField(
        label=_("Allow minimum and maximum measures (they publish a single record's value)"), required=False
    )
    date_granularity = forms.ChoiceField(
        label=_("Finest date granularity"), choices=Offer.Granularity.choices, initial=Offer.Granularity.MONTH
    )
    approval = forms.ChoiceField(
        label=_("Approval path"), choices=Offer.Approval.choices, initial=Offer.Approval.CENTER
    )
    buyer_categories = forms.MultipleChoiceField(
        label=_("Eligible buyer categories"),
        required=False,
        choices=Organization.BuyerCategory.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: every category may request."),
    )
    price_krw = forms.IntegerField(
        label=_("Price (KRW, before VAT)"),
        min_value=0,
        max_value=10**12,
        initial=0,
        help_text=_("0 means free. Invoices add 10% VAT."),
    )
    duration_days = forms.IntegerField(
        label=_("License duration (days)"), min_value=1, max_value=3650, initial=365
    )
    download_quota = forms.IntegerField(label=_("Download quota"), min_value=1, max_value=100_000, initial=10)
    deliver_updates = forms.BooleanField(label=_("Deliver new versions"), required=False, initial=True)
    is_active = forms.BooleanField(label=_("Open for requests"), required=False, initial=True)
    terms = forms.CharField(
        label=_("License terms"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=100_000,
        help_text=_("Changing the terms creates a new version; licenses already issued keep theirs."),
    )

    # Record-level treatments (catalog.treatments.RecordTreatments), applied by the engine.
    time_unit = forms.ChoiceField(
        label=_("Coarsen times to"),
        required=False,
        choices=[("", _("— as recorded —")), ("hour", _("hour")), ("day", _("day")), ("week", _("week"))],
        help_text=_("Every delivered date and time column is truncated to this unit."),
    )
    amount_fields = forms.MultipleChoiceField(
        label=_("Amount columns to round and top-code"), required=False, widget=forms.CheckboxSelectMultiple
    )
    amount_round = forms.IntegerField(
        label=_("Round amounts to (0: not)"), required=False, min_value=0, max_value=AMOUNT_MAX
    )
    amount_top = forms.IntegerField(
        label=_("Top-code amounts at (0: not)"),
        required=False,
        min_value=0,
        max_value=AMOUNT_MAX,
        help_text=_("Larger amounts are delivered as this value."),
    )
    suppress_k = forms.IntegerField(
        label=_("Local suppression: minimum rows per combination (0: none)"),
        required=False,
        min_value=0,
        max_value=SUPPRESS_K_MAX,
        help_text=_("Rows in rarer combinations of delivered values are blanked, then dropped."),
    )
    suppress_first = forms.MultipleChoiceField(
        label=_("Columns blanked first in rare combinations"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    trajectory_k = forms.IntegerField(
        label=_("Trajectory suppression: minimum subjects sharing a trajectory (0: none)"),
        required=False,
        min_value=0,
        max_value=SUPPRESS_K_MAX,
        help_text=_("Needs the subject column: a subject's pseudonym is blanked when fewer share its rows."),
    )
    pseudonym_period = forms.ChoiceField(
        label=_("Renew pseudonyms every"),
        required=False,
        choices=[("", _("— never —")), ("day", _("day")), ("week", _("week")), ("month", _("month"))],
        help_text=_("Needs the date filter column. A short-lived pseudonym cannot be followed across files."),
    )
    sample_percent = forms.IntegerField(
        label=_("Per-license record sample (percent)"),
        required=False,
        min_value=1,
        max_value=100,
        initial=100,
        help_text=_("Each license receives a different sample of the rows; 100 delivers every row."),
    )

    TREATMENT_KEYS = tuple(RecordTreatments().to_dict())
    FIELD_MAP = {"fields": "columns"}  # service error keys → this form's fields

    def __init__(self, *args, schema_fields, **kwargs):
        super().__init__(*args, **kwargs)
        columns = [(f.name, _column_label(f)) for f in schema_fields]
        optional = [("", _("— none —")), *columns]
        self.fields["columns"].choices = columns
        self.fields["dimensions"].choices = columns
        excluded = frozenset(f.name for f in schema_fields if f.sensitivity == Sensitivity.EXCLUDED)
        self.fields["columns"].widget.disabled_values = excluded
        self.fields["dimensions"].widget.disabled_values = excluded
        self.fields["region_field"].choices = optional
        self.fields["date_field"].choices = [("", _("— none —"))] + [
            (f.name, _column_label(f)) for f in schema_fields if f.type in ("date", "datetime")
        ]
        self.fields["subject_field"].choices = optional
        self.fields["dominance_field"].choices = optional
        self.fields["suppress_first"].choices = columns
        self.fields["amount_fields"].choices = [
            (f.name, _column_label(f)) for f in schema_fields if f.type in ("integer", "number")
        ]
        self.fields["measures"].choices = [
            (f"{agg}:{f.name}", f"{agg}({f.title or f.name})")
            for f in schema_fields
            if f.type in ("integer", "number")
            for agg in MEASURE_AGGREGATES
        ]

    @property
    def aggregate_errors(self) -> bool:
        """Whether a field of the (collapsible) aggregate section has an error to show."""
        return self.is_bound and any(self.errors.get(name) for name in AGGREGATE_FORM_FIELDS)

    def partial_values(self) -> dict:
        """What `values()` gives, from the fields that were valid (for checking the rest of an
        invalid form against the offer's rules in the same round trip)."""
        data = {name: self.cleaned_data.get(name) for name in self.fields if name in self.cleaned_data}
        data.setdefault("columns", [])
        data.setdefault("dimensions", [])
        data.setdefault("measures", [])
        data.setdefault("kind", Offer.Kind.RECORDS)
        data.setdefault("terms", "")
        return self._offer_values(data)

    def values(self) -> dict:
        return self._offer_values(dict(self.cleaned_data))

    @classmethod
    def _offer_values(cls, data: dict) -> dict:
        for key in ("p_percent", "dominance"):  # left empty: the offer keeps (or gets) the default
            if data.get(key) is None:
                data.pop(key, None)
        data["fields"] = data.pop("columns")
        data["measures"] = [
            {"agg": agg, "field": name} for agg, name in (m.split(":", 1) for m in data.get("measures", []))
        ]
        treatments = {key: data.pop(key, None) for key in cls.TREATMENT_KEYS}
        if data["kind"] == Offer.Kind.RECORDS:
            data["dimensions"], data["measures"] = [], []
            data["treatments"] = {k: v for k, v in treatments.items() if v not in (None, "", [])}
        else:  # an aggregate offer's fields are its dimensions
            data["fields"] = list(data["dimensions"])
        return data

    @staticmethod
    def initial_from(offer) -> dict:
        return {
            **{
                name: getattr(offer, name)
                for name in (
                    "name",
                    "name_en",
                    "kind",
                    "region_field",
                    "date_field",
                    "quasi_identifiers_allowed",
                    "dimensions",
                    "subject_field",
                    "dominance_field",
                    "k",
                    "p_percent",
                    "dominance",
                    "extremes_allowed",
                    "date_granularity",
                    "approval",
                    "buyer_categories",
                    "price_krw",
                    "duration_days",
                    "download_quota",
                    "deliver_updates",
                    "is_active",
                )
            },
            **{k: v for k, v in (offer.treatments or {}).items() if k in OfferForm.TREATMENT_KEYS},
            "columns": offer.fields,
            "measures": [f"{m['agg']}:{m['field']}" for m in offer.measures or []],
            "terms": offer.current_terms.text if offer.current_terms else "",
            # Waiting for its risk report, an offer asked to open keeps that request when saved.
            "is_active": offer.is_active or offer.open_when_measured,
        }


def offer_errors(exc):
    """The service's refusal with each treatment message ("key: message") moved onto its field."""
    placed: dict = {}
    for key, messages_ in exc.errors.items():
        if key != "treatments":
            placed[key] = messages_
            continue
        for message in [messages_] if isinstance(messages_, str) else messages_:
            name, sep, text = str(message).partition(": ")
            if sep and name in OfferForm.TREATMENT_KEYS:
                placed.setdefault(name, []).append(text)
            else:
                placed.setdefault("treatments", []).append(message)
    exc.errors = placed
    return exc


def _column_label(field) -> str:
    title = f" — {field.title}" if field.title and field.title != field.name else ""
    return f"{field.name}{title} ({field.get_sensitivity_display()})"


class PublishCoverageForm(WebForm):
    """Publishing asks what the data covers when the dataset does not say yet: region browsing
    and the dataset page need it. Suggested from the version's columns (region codes or names,
    the range of its first date column)."""

    regions = forms.MultipleChoiceField(
        label=_("Regions covered (시·군)"), required=False, widget=forms.CheckboxSelectMultiple
    )
    temporal_start = forms.DateField(label=_("Coverage from"), required=False, widget=DateInput())
    temporal_end = forms.DateField(label=_("Coverage until"), required=False, widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = region_choices()

    @staticmethod
    def suggested(dataset, fields) -> dict:
        """The dataset's coverage, or what the columns suggest where it is missing."""
        by_name = {r.name: r.code for r in gyeonggi_regions()}
        codes = {r.code for r in gyeonggi_regions()}
        regions = list(dataset.regions)
        if not regions:
            found = set()
            for f in fields:
                for value in (f.profile or {}).get("values") or []:
                    text = str(value)
                    if text in codes:
                        found.add(text)
                    elif text in by_name:
                        found.add(by_name[text])
            regions = sorted(found)
        start, end = dataset.temporal_start, dataset.temporal_end
        if not (start and end):
            dated = next(
                (f for f in fields if f.type in ("date", "datetime") and (f.profile or {}).get("min")), None
            )
            if dated is not None:
                start = start or str(dated.profile["min"])[:10]
                end = end or str(dated.profile["max"])[:10]
        return {"regions": regions, "temporal_start": start, "temporal_end": end}


class RiskThresholdForm(WebForm):
    """The operator's ceiling for record-level offers (shares as percentages on the page)."""

    min_k = forms.IntegerField(label=_("Minimum k-anonymity"), min_value=2, max_value=1000)
    max_sample_uniqueness = forms.FloatField(
        label=_("Maximum sample uniqueness (%)"), min_value=0, max_value=100
    )
    max_unicity = forms.FloatField(label=_("Maximum trajectory unicity (%)"), min_value=0, max_value=100)
    max_linkage = forms.FloatField(label=_("Maximum cross-license linkage (%)"), min_value=0, max_value=100)

    SHARES = ("max_sample_uniqueness", "max_unicity", "max_linkage")

    @classmethod
    def initial_from(cls, limit) -> dict:
        return {"min_k": limit.min_k, **{k: round(getattr(limit, k) * 100, 3) for k in cls.SHARES}}

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {"min_k": data["min_k"], **{k: data[k] / 100 for k in self.SHARES}}

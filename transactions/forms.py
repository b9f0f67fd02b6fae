"""Web forms of the request workflow. They parse input into the shapes the services take
(a scope dict, a purpose); the services check everything that matters."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.forms import DateInput
from catalog.vocabularies import gyeonggi_regions, regions_by_code
from marketplace.forms import WebForm
from transactions.models import AccessRequest, Extract
from transactions.payments import providers

SCOPE_FIELD_MAP = {"fields": "columns"}  # service error keys → form fields


def field_label(field) -> str:
    sensitivity = f" · {field.get_sensitivity_display()}" if field.sensitivity != "public" else ""
    title = field.title or field.name
    return f"{title}{sensitivity}" if title == field.name else f"{title} ({field.name}){sensitivity}"


def region_options(field) -> list[tuple[str, str]]:
    """The values a buyer may pick for an offer's region column: the column's listed values
    when the profile has them, else Gyeonggi-do's 31 시·군 as codes or names, whichever the
    column holds (judged from its most frequent values)."""
    profile = (field.profile or {}) if field is not None else {}
    known = regions_by_code()
    values = profile.get("values")
    if isinstance(values, list) and values:
        return [(str(v), known[str(v)].label if str(v) in known else str(v)) for v in values]
    top = [str(t.get("value")) for t in profile.get("top_values") or [] if t.get("value") is not None]
    names = {r.name for r in gyeonggi_regions()}
    if top and all(v in names for v in top):
        return [(r.name, r.label) for r in gyeonggi_regions()]
    return [(r.code, r.label) for r in gyeonggi_regions()]


class ScopeFields(WebForm):
    """Fields, regions and a date range, with choices from an offer and its schema."""

    columns = forms.MultipleChoiceField(label=_("Fields"), widget=forms.CheckboxSelectMultiple)
    regions = forms.MultipleChoiceField(
        label=_("Regions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave every box empty for all regions."),
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("Until"), required=False, widget=DateInput())

    def __init__(self, *args, offer, schema: dict, field_choices=None, region_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.offer = offer
        offered = [schema[name] for name in offer.fields or [] if name in schema]
        self.fields["columns"].choices = field_choices or [(f.name, field_label(f)) for f in offered]
        if offer.region_field:
            self.fields["regions"].choices = region_choices or region_options(schema.get(offer.region_field))
        else:
            del self.fields["regions"]
        if not offer.date_field:
            del self.fields["date_from"], self.fields["date_to"]

    def scope(self) -> dict:
        data = self.cleaned_data
        scope = {"fields": list(data.get("columns") or [])}
        if "regions" in self.fields:
            scope["regions"] = list(data.get("regions") or [])
        if "date_from" in self.fields:
            for key in ("date_from", "date_to"):
                scope[key] = data[key].isoformat() if data.get(key) else None
        return scope

    @staticmethod
    def initial_from(scope: dict) -> dict:
        return {
            "columns": scope.get("fields") or [],
            "regions": scope.get("regions") or [],
            "date_from": scope.get("date_from"),
            "date_to": scope.get("date_to"),
        }


class AccessRequestForm(ScopeFields):
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("How will the data be used, by whom, and what will be published from it?"),
    )
    purpose_category = forms.ChoiceField(
        label=_("Purpose category"), choices=[("", _("— choose —")), *AccessRequest.PurposeCategory.choices]
    )
    accept_terms = forms.BooleanField(
        label=_("I have read the license terms above and accept them for my organization"), required=True
    )

    def __init__(self, *args, organizations=None, require_terms: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if organizations is not None and len(organizations) > 1:
            self.fields["organization"] = forms.TypedChoiceField(
                label=_("Request for"), choices=[(o.pk, o.name) for o in organizations], coerce=int
            )
            self.order_fields(["organization"])
        if not require_terms:
            self.fields["accept_terms"].required = False
            self.fields["accept_terms"].label = _("Accept the offer's current license terms")


class NarrowingForm(ScopeFields):
    """A reviewer approves, optionally keeping less than was requested."""

    note = forms.CharField(
        label=_("Note to the buyer (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def narrowed_scope(self, current: dict) -> dict | None:
        """The scope keys that differ from `current`, or None when nothing was narrowed."""
        proposed = self.scope()
        changes = {}
        for key, value in proposed.items():
            before = current.get(key) or ([] if key in ("fields", "regions") else None)
            if key == "regions" and not value:
                continue  # no box checked: keep the current regions
            if value != before:
                changes[key] = value
        return changes or None


class ReasonForm(WebForm):
    reason = forms.CharField(label=_("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class ReturnForm(WebForm):
    message = forms.CharField(
        label=_("What should the buyer change?"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class WithdrawForm(WebForm):
    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class MessageForm(WebForm):
    body = forms.CharField(label=_("Message"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class MarkPaidForm(WebForm):
    method = forms.ChoiceField(label=_("Paid by"), required=False)
    reference = forms.CharField(
        label=_("Payment reference"),
        max_length=200,
        help_text=_("For a bank transfer: the depositor name and date, or the bank's transaction number."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A key per form shown: submitting the same form twice pays the invoice once.
        self.fields["idempotency_key"].initial = f"web-{uuid.uuid4().hex}"
        self.fields["method"].choices = [(code, p.name) for code, p in providers().items()]


class RenewForm(WebForm):
    accept_terms = forms.BooleanField(label=_("I accept the offer's current license terms"), required=False)


class AuditFilterForm(WebForm):
    verb = forms.CharField(
        label=_("Event"), required=False, max_length=100, help_text=_("e.g. transactions.license")
    )
    organization = forms.TypedChoiceField(
        label=_("Organization"), required=False, coerce=int, empty_value=None
    )
    since = forms.DateField(label=_("From"), required=False, widget=DateInput())
    until = forms.DateField(label=_("Until"), required=False, widget=DateInput())
    target_type = forms.CharField(label=_("Object type"), required=False, max_length=100)

    def __init__(self, *args, organizations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [("", _("All")), *[(o.pk, o.name) for o in organizations]]


class ExtractFormatForm(WebForm):
    """Ask for the license's data in another file format (built from the published version)."""

    format = forms.ChoiceField(
        label=_("File format"),
        choices=Extract.Format.choices,
        help_text=_("The file is built by a worker; this page shows its progress."),
    )
    header = forms.ChoiceField(
        label=_("Header row"),
        choices=Extract.Header.choices,
        initial=Extract.Header.TITLES,
        required=False,
    )


class LeakTraceForm(WebForm):
    """An operator's question: which license of this dataset did a leaked file come from?"""

    dataset = forms.ModelChoiceField(
        label=_("Dataset"),
        queryset=None,
        to_field_name="slug",
        empty_label=_("Choose a published dataset"),
    )
    file = forms.FileField(
        label=_("Leaked file"),
        help_text=_(
            "CSV, TSV, Excel (XLSX), JSON Lines or Parquet as it was found, e.g. an extract's data file."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.tsv,.txt,.jsonl,.ndjson,.json,.parquet,.xlsx"}
        ),
    )

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets
        self.fields["dataset"].label_from_instance = lambda d: f"{d.title} · {d.center.name}"

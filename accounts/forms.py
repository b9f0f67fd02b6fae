"""Web forms of accounts. They parse input; accounts.services decides (its ApplicationError
.errors come back onto these fields through SIGNUP_FIELD_MAP)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organization
from marketplace.forms import WebForm

SIGNUP_KINDS = [
    (Organization.Kind.BUYER, _("Buyer — we want to use data")),
    (Organization.Kind.CENTER, _("Data center — we publish data")),
]

# Service error keys → form field names.
SIGNUP_FIELD_MAP = {
    "password": "password1",
    "organization": "org_kind",
    "organization.kind": "org_kind",
    "organization.name": "org_name",
    "organization.name_en": "org_name_en",
    "organization.business_number": "business_number",
    "organization.buyer_category": "buyer_category",
}


class SignupForm(WebForm):
    email = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    name = forms.CharField(
        label=_("Your name"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters; not only digits, not a common password."),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    org_kind = forms.ChoiceField(
        label=_("Your organization is a"),
        choices=SIGNUP_KINDS,
        widget=forms.RadioSelect,
        initial=Organization.Kind.BUYER,
    )
    org_name = forms.CharField(
        label=_("Organization name (Korean)"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    org_name_en = forms.CharField(label=_("Organization name (English)"), max_length=200, required=False)
    business_number = forms.CharField(
        label=_("Business registration number"),
        max_length=20,
        help_text=_("사업자등록번호, 10 digits, e.g. 123-45-67891"),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    buyer_category = forms.ChoiceField(
        label=_("Buyer category"),
        required=False,
        choices=[("", _("— choose (buyers only) —")), *Organization.BuyerCategory.choices],
        help_text=_("Buyers only: offers may be limited to some categories."),
    )

    applicant_position = forms.CharField(label=_("Your position"), max_length=100, required=False)
    applicant_phone = forms.CharField(
        label=_("Your phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    certificate = forms.FileField(
        label=_("Business registration certificate (사업자등록증)"),
        required=False,
        help_text=_(
            "PDF, PNG or JPEG, at most 5 MB. Only operators and your organization's managers see it."
        ),
    )
    accept_terms = forms.BooleanField(
        label=_("[Required] I agree to the terms of service."),
        required=False,  # the service refuses without it, with its own message on the field
    )
    accept_privacy = forms.BooleanField(
        label=_("[Required] I agree to the collection and use of my personal data as described above."),
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("password1")
            and cleaned.get("password2")
            and cleaned["password1"] != cleaned["password2"]
        ):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "email": data["email"],
            "password": data["password1"],
            "name": data["name"],
            "organization": {
                "kind": data["org_kind"],
                "name": data["org_name"],
                "name_en": data["org_name_en"],
                "business_number": data["business_number"],
                "buyer_category": data["buyer_category"]
                if data["org_kind"] == Organization.Kind.BUYER
                else "",
            },
            "applicant_position": data["applicant_position"],
            "applicant_phone": data["applicant_phone"],
            "certificate": data.get("certificate"),
            "accept_terms": data["accept_terms"],
            "accept_privacy": data["accept_privacy"],
        }


class RejectOrganizationForm(WebForm):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text=_("The organization's manager reads this; say what to fix."),
    )


class InviteForm(WebForm):
    organization = forms.TypedChoiceField(label=_("Organization"), coerce=int)
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)

    def __init__(self, *args, organizations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [(o.pk, o.name) for o in organizations]

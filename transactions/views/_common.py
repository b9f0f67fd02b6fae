"""What the transactions pages share (offers described for people, request lists)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from catalog.models import Field
from catalog.vocabularies import regions_by_code
from marketplace.views import paginate
from transactions import selectors
from transactions.forms import (
    SCOPE_FIELD_MAP,
    field_label,
)
from transactions.models import (
    AccessRequest,
    vat_krw,
)

State = AccessRequest.State


REQUEST_FIELD_MAP = {**SCOPE_FIELD_MAP}


def _schema(offer) -> dict[str, Field]:
    version_id = offer.dataset.current_version_id
    return {f.name: f for f in Field.objects.filter(version_id=version_id)} if version_id else {}


def _price(offer) -> dict:
    vat = vat_krw(offer.price_krw)
    return {"supply": offer.price_krw, "vat": vat, "total": offer.price_krw + vat}


def _approval_steps(offer) -> list[str]:
    steps = {
        "automatic": [_("Approved automatically when you submit")],
        "center": [_("Review by the data center")],
        "center_operator": [_("Review by the data center"), _("Review by a platform operator")],
    }[offer.approval]
    if offer.price_krw:
        steps = [*steps, _("Payment of the invoice")]
    return [*steps, _("License issued; extracts delivered")]


def _request_list(request, queryset, *, title: str, heading_note: str = "", states=None):
    state = request.GET.get("state", "")
    if state in State.values:
        queryset = queryset.filter(state=state)
    page, page_query = paginate(request, queryset.order_by("-state_changed_at", "-id"))
    return render(
        request,
        "transactions/request_list.html",
        {
            "title": title,
            "note": heading_note,
            "page": page,
            "page_query": page_query,
            "states": states or State.choices,
            "state": state,
        },
    )


def _scope_rows(offer, requested: dict, current: dict, schema: dict) -> list[dict]:
    """Offered / requested / approved, side by side, in words."""
    known = regions_by_code()

    def fields(names):
        return [field_label(schema[n]) if n in schema else n for n in names or []]

    def regions(values):
        return [known[v].label if v in known else v for v in values or []] or [_("All regions")]

    def period(scope):
        start, end = scope.get("date_from"), scope.get("date_to")
        return [f"{start or '…'} – {end or '…'}"] if start or end else [_("Whole period")]

    rows = [
        {
            "label": _("Fields"),
            "offered": fields(offer.fields),
            "requested": fields(requested.get("fields")),
            "approved": fields(current.get("fields")),
        }
    ]
    if offer.region_field:
        rows.append(
            {
                "label": _("Regions"),
                "offered": [_("All regions")],
                "requested": regions(requested.get("regions")),
                "approved": regions(current.get("regions")),
            }
        )
    if offer.date_field:
        rows.append(
            {
                "label": _("Period"),
                "offered": [_("Whole period")],
                "requested": period(requested),
                "approved": period(current),
            }
        )
    for row in rows:
        row["narrowed"] = row["requested"] != row["approved"]
    return rows


def _flat(form) -> str:
    return " ".join(str(m) for errors_ in form.errors.values() for m in errors_)


def _decide(request, pk, *, form, service, argument: str, done: str, invalid: str = ""):
    """A decision on a request posted from its page, with one text from `form`: validate it (with
    `invalid`, a form that does not validate goes back with that message; without, its text is
    optional), call `service` with the text as `argument`, say `done`, back to the request."""
    access_request = selectors.access_request_for(request.user, pk)
    if not form.is_valid() and invalid:
        messages.error(request, invalid)
        return redirect("request-detail", pk)
    service(
        actor=request.user, access_request=access_request, **{argument: form.cleaned_data.get(argument, "")}
    )
    messages.success(request, done)
    return redirect("request-detail", pk)

"""Scope validation and narrowing: pure functions over an offer's settings and a schema."""

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from catalog.policy import OfferPolicy
from marketplace import errors
from transactions.scope import SchemaField, scope_clean, scope_difference, scope_narrowing_errors

SCHEMA = {
    "sigungu_code": SchemaField("sigungu_code", "public", ("41110", "41130", "41150")),
    "industry": SchemaField("industry", "public"),
    "amount": SchemaField("amount", "public"),
    "card_id": SchemaField("card_id", "identifier"),
    "holder_name": SchemaField("holder_name", "excluded"),
    "approved_at": SchemaField("approved_at", "public"),
}
OFFER = {
    "offer_fields": ["sigungu_code", "industry", "amount", "card_id", "holder_name", "approved_at", "gone"],
    "region_field": "sigungu_code",
    "date_field": "approved_at",
}


@pytest.fixture(autouse=True)
def english():
    """The messages below are asserted in English, whatever language an earlier test left."""
    with translation.override("en"):
        yield


def policy_of(**offer) -> OfferPolicy:
    values = {**OFFER, **offer}
    return OfferPolicy(
        kind="records",
        fields=tuple(values["offer_fields"]),
        region_field=values["region_field"],
        date_field=values["date_field"],
    )


def clean(data, **offer):
    return scope_clean(policy=policy_of(**offer), schema=SCHEMA, data=data)


def errors_of(data, **offer) -> dict:
    with pytest.raises(errors.ApplicationError) as exc:
        clean(data, **offer)
    assert exc.value.status_code == 400
    return exc.value.errors


def test_a_valid_scope_is_normalized():
    scope = clean(
        {
            "fields": ["amount", "sigungu_code", "amount"],
            "regions": ["41130", "41110", "41130"],
            "date_from": "2025-01-01",
            "date_to": "2025-06-30",
        }
    )
    assert scope == {
        "fields": ["sigungu_code", "amount"],  # the offer's order, no duplicates
        "regions": ["41130", "41110"],
        "date_from": "2025-01-01",
        "date_to": "2025-06-30",
    }


def test_regions_and_dates_may_be_left_out():
    assert clean({"fields": ["industry"]}) == {
        "fields": ["industry"],
        "regions": [],
        "date_from": None,
        "date_to": None,
    }


@pytest.mark.parametrize(
    "data, key, fragment",
    [
        ({"fields": []}, "fields", "at least one"),
        ({}, "fields", "at least one"),
        ({"fields": "amount"}, "fields", "list"),
        ({"fields": ["amount", "phone"]}, "fields", "not part of this offer: phone"),
        ({"fields": ["holder_name"]}, "fields", "never delivered: holder_name"),
        ({"fields": ["gone"]}, "fields", "not in the published data any more: gone"),
        ({"fields": ["amount"], "regions": ["99999", "41110"]}, "regions", "99999"),
        ({"fields": ["amount"], "regions": ["x" * 101]}, "regions", "1 to 100 characters"),
        ({"fields": ["amount"], "regions": [""]}, "regions", "1 to 100 characters"),
        ({"fields": ["amount"], "regions": [41110]}, "regions", "list of values"),
        ({"fields": ["amount"], "date_from": "2025-13-01"}, "date_from", "YYYY-MM-DD"),
        ({"fields": ["amount"], "date_from": "2025-06-01", "date_to": "2025-01-01"}, "date_to", "before"),
    ],
)
def test_each_problem_is_reported_on_its_field(data, key, fragment):
    found = errors_of(data)
    assert key in found
    assert any(fragment in message for message in found[key]), found


def test_unknown_region_lists_only_the_bad_values():
    [message] = errors_of({"fields": ["amount"], "regions": ["41110", "99999", "00000"]})["regions"]
    assert "99999, 00000" in message and "41110" not in message


def test_any_region_is_accepted_when_the_profile_lists_no_values():
    schema = {**SCHEMA, "sigungu_code": SchemaField("sigungu_code", "public")}
    scope = scope_clean(
        policy=policy_of(), schema=schema, data={"fields": ["amount"], "regions": ["수원시 장안구"]}
    )
    assert scope["regions"] == ["수원시 장안구"]


def test_filters_need_the_offer_to_allow_them():
    found = errors_of(
        {"fields": ["amount"], "regions": ["41110"], "date_from": "2025-01-01"},
        region_field="",
        date_field="",
    )
    assert set(found) == {"regions", "date_from"}


def test_several_problems_are_reported_together():
    found = errors_of({"fields": ["phone"], "regions": ["99999"], "date_to": "soon"})
    assert set(found) == {"fields", "regions", "date_to"}


REQUESTED = {
    "fields": ["sigungu_code", "industry", "amount"],
    "regions": ["41110", "41130"],
    "date_from": "2025-01-01",
    "date_to": "2025-12-31",
}


@pytest.mark.parametrize(
    "narrowed, bad",
    [
        ({**REQUESTED, "fields": ["amount", "card_id"]}, "fields"),
        ({**REQUESTED, "regions": ["41110", "41150"]}, "regions"),
        ({**REQUESTED, "regions": []}, "regions"),  # "every region" would widen it
        ({**REQUESTED, "date_from": "2024-12-31"}, "date_from"),
        ({**REQUESTED, "date_from": None}, "date_from"),
        ({**REQUESTED, "date_to": "2026-01-01"}, "date_to"),
    ],
)
def test_narrowing_cannot_widen(narrowed, bad):
    assert bad in scope_narrowing_errors(REQUESTED, narrowed)


def test_narrowing_inside_is_accepted_and_the_difference_is_named():
    narrowed = {
        "fields": ["sigungu_code", "amount"],
        "regions": ["41110"],
        "date_from": "2025-03-01",
        "date_to": "2025-12-31",
    }
    assert scope_narrowing_errors(REQUESTED, narrowed) == {}
    assert scope_difference(REQUESTED, narrowed) == {
        "fields": {"requested": REQUESTED["fields"], "approved": narrowed["fields"], "removed": ["industry"]},
        "regions": {"requested": ["41110", "41130"], "approved": ["41110"]},
        "date_from": {"requested": "2025-01-01", "approved": "2025-03-01"},
    }
    assert scope_difference(REQUESTED, REQUESTED) == {}


def test_every_region_may_be_narrowed_to_some():
    everywhere = {**REQUESTED, "regions": [], "date_from": None, "date_to": None}
    assert scope_narrowing_errors(everywhere, {**REQUESTED, "regions": ["41150"]}) == {}


FIELDS = ["sigungu_code", "industry", "amount", "card_id", "approved_at"]


@given(
    requested=st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
    approved=st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
)
def test_narrowed_fields_are_accepted_exactly_when_they_are_a_subset(requested, approved):
    current = clean({"fields": requested})
    proposed = clean({"fields": approved})
    is_subset = set(approved) <= set(requested)
    assert ("fields" not in scope_narrowing_errors(current, proposed)) == is_subset
    if is_subset:
        removed = scope_difference(current, proposed).get("fields", {}).get("removed", [])
        assert set(removed) == set(requested) - set(approved)


AGGREGATE = OfferPolicy(
    kind="aggregate",
    dimensions=("sigungu_code", "industry", "approved_at"),
    fields=("sigungu_code", "industry", "approved_at"),
    region_field="sigungu_code",
    date_field="approved_at",
    date_granularity="month",
)


def aggregate_errors(data) -> dict:
    with pytest.raises(errors.ApplicationError) as exc:
        scope_clean(policy=AGGREGATE, schema=SCHEMA, data=data)
    return exc.value.errors


def test_an_aggregate_scope_keeps_every_dimension():
    assert scope_clean(policy=AGGREGATE, schema=SCHEMA, data={})["fields"] == list(AGGREGATE.dimensions)
    reordered = {"fields": ["approved_at", "industry", "sigungu_code"]}
    assert scope_clean(policy=AGGREGATE, schema=SCHEMA, data=reordered)["fields"] == list(
        AGGREGATE.dimensions
    )
    assert "fixed" in aggregate_errors({"fields": ["sigungu_code", "approved_at"]})["fields"][0]


def test_an_aggregate_window_is_made_of_whole_periods():
    whole = {"date_from": "2025-01-01", "date_to": "2025-03-31"}
    assert scope_clean(policy=AGGREGATE, schema=SCHEMA, data=whole)["date_to"] == "2025-03-31"
    found = aggregate_errors({"date_from": "2025-01-02", "date_to": "2025-03-30"})
    assert "2025-01-01" in found["date_from"][0] and "2025-03-31" in found["date_to"][0]

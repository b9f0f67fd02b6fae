"""Fuzz every operation of the OpenAPI schema (issue 8) in-process, as a buyer's analyst and as a
center's curator: no 5xx, and every response is one the schema describes.

The schema is read from the app itself (`/api/schema/` through Django's WSGI handler). Every
operation gets, as each caller, the schema's examples and MAX_EXAMPLES random examples, which
mostly name objects of the world (tests/fuzz/conftest.py) so that they get past the 404 to the
code that does the work; and, once, Schemathesis' coverage phase: deterministic boundary and
invalid values (missing fields, wrong types, huge numbers, other methods, odd content types)."""

from __future__ import annotations

import zlib

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CONTENT_TYPE_PROBES, CoveragePhaseData
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

MAX_EXAMPLES = 15

# The coverage phase is not bounded by MAX_EXAMPLES (it generates every case the schema
# defines), so each operation gets it once, as the caller whose work the operation is: the
# center's curator for the catalog, the buyer's analyst for everything else.
CATALOG_PATHS = r"^/api/v1/(datasets|offers|versions)/"


def _config(*, coverage_of_catalog: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                # Stateless only: the examples of an operation share the world, and a
                # stateful run would chain operations across it.
                "stateful": {"enabled": False},
            },
            "operations": [
                {
                    ("exclude-path-regex" if coverage_of_catalog else "include-path-regex"): CATALOG_PATHS,
                    "phases": {"coverage": {"enabled": False}},
                }
            ],
        }
    )


_app = get_wsgi_application()
buyer_schema = schemathesis.openapi.from_wsgi("/api/schema/", _app, config=_config(coverage_of_catalog=False))
curator_schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", _app, config=_config(coverage_of_catalog=True)
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


# --- checks ---------------------------------------------------------------------------------

# The answers API.md promises for a request the API refuses, each with {"detail", "errors"}, and
# DRF's 415 for a body in a media type the operation does not parse.
ERROR_STATUSES = {400, 401, 403, 404, 409, 413, 415, 429}


def success_status_conformance(ctx, response, case) -> None:
    """Status code conformance for what the schema documents: its success responses. The schema
    declares no error responses (API.md's conventions describe them), so a refusal is checked
    by `error_conformance` instead of Schemathesis' `status_code_conformance`. (The coverage
    phase also sends methods the operation lacks: OPTIONS answers 200 with DRF's metadata.)"""
    if 200 <= response.status_code < 300 and response.request.method == case.operation.method.upper():
        documented = {int(code) for code in case.operation.responses.status_codes if code.isdigit()}
        assert response.status_code in documented, (
            f"{case.operation.label} answered {response.status_code}; the schema documents {sorted(documented)}"
        )


def error_conformance(ctx, response, case) -> None:
    """Every refusal is one of API.md's statuses, as JSON `{"detail": "...", "errors": {...}}`."""
    if response.status_code < 300 or response.status_code >= 500:
        return  # a 5xx is not_a_server_error's to report
    if response.status_code == 405:
        # The coverage phase also tries methods the operation does not have.
        assert response.request.method != case.operation.method.upper(), "a documented method is refused"
    else:
        assert response.status_code in ERROR_STATUSES, (
            f"{response.status_code} is not an answer API.md describes"
        )
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"a {response.status_code} whose body is not JSON: {response.text[:200]!r}"
        ) from None
    assert isinstance(body, dict), body
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), f"no detail sentence: {body}"
    assert set(body) <= {"detail", "errors"}, f"unexpected keys {sorted(set(body) - {'detail', 'errors'})}"
    assert isinstance(body.get("errors", {}), dict), f"errors is not an object: {body['errors']!r}"


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    success_status_conformance,
    error_conformance,
]


# --- real objects ---------------------------------------------------------------------------

# The world of the running module, for the hooks below (they belong to the schemas, which are
# loaded at import time, before any fixture).
_world = {}


@pytest.fixture
def real_objects(fuzz_world):
    _world["current"] = fuzz_world
    yield fuzz_world
    _world.clear()


def _known_or_generated(known: list, generated) -> st.SearchStrategy:
    return st.sampled_from([*known, generated]) if known else st.just(generated)


def flatmap_path_parameters(context, path_parameters):
    """Random examples mostly name existing objects (ids, slugs, a valid download link); the
    generated value stays one of the choices."""
    if not path_parameters:
        return st.just(path_parameters)
    world = _world["current"]
    path = context.operation.path
    return st.fixed_dictionaries(
        {
            name: _known_or_generated(world.known_path_values(path, name), value)
            for name, value in path_parameters.items()
        }
    )


def flatmap_body(context, body):
    """Fields of a JSON or form body that name objects or columns get real values too."""
    if not isinstance(body, dict):
        return st.just(body)
    known = _world["current"].body_values
    return st.fixed_dictionaries(
        {name: _known_or_generated(known.get(name, []), value) for name, value in body.items()}
    )


for _schema in (buyer_schema, curator_schema):
    _schema.hook(flatmap_path_parameters)
    _schema.hook(flatmap_body)


def _coverage(case) -> CoveragePhaseData | None:
    data = case.meta.phase.data if case.meta is not None else None
    return data if isinstance(data, CoveragePhaseData) else None


def _coverage_on_real_objects(case, fuzz_world) -> None:
    """A coverage case (explicit, so the hooks above do not apply) that probes the body, the
    query or the headers is sent to an existing object, or it would stop at the 404; one that
    probes a path parameter keeps its value. The object is chosen by a stable hash, so every
    run sends the same cases."""
    coverage = _coverage(case)
    if coverage is None or coverage.parameter_location == ParameterLocation.PATH:
        return
    for name in case.path_parameters or {}:
        known = fuzz_world.known_path_values(case.operation.path, name)
        if known:
            case.path_parameters[name] = known[zlib.crc32(coverage.description.encode()) % len(known)]


FORM_MEDIA_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _form_coverage(case) -> bool:
    """The coverage phase repeats every body case in each media type DRF parses (JSON, form,
    multipart): three times the cases for the same parsers' validation, which is more than the
    time budget allows. Its body cases are sent as JSON, the encoding API.md documents; form
    and multipart bodies get the random examples (and the content-type probes)."""
    coverage = _coverage(case)
    return (
        coverage is not None
        and coverage.scenario not in CONTENT_TYPE_PROBES
        and case.media_type in FORM_MEDIA_TYPES
    )


# --- the fuzz tests -------------------------------------------------------------------------

FUZZ_SETTINGS = settings(
    deadline=None,
    # One world per module, shared by design (tests/fuzz/conftest.py).
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


def _fuzz(case, fuzz_world, actor: str) -> None:
    if _form_coverage(case):
        return
    _coverage_on_real_objects(case, fuzz_world)
    headers = {"Authorization": f"Token {fuzz_world.tokens[actor]}", "Accept-Language": "en"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@buyer_schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_buyer_analyst(case, real_objects, in_process_requests):
    _fuzz(case, real_objects, "buyer_analyst")


@curator_schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_center_curator(case, real_objects, in_process_requests):
    _fuzz(case, real_objects, "center_curator")

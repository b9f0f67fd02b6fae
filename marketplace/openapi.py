"""OpenAPI schema adjustments (drf-spectacular post-processing hooks) that keep the schema
usable by client generators, not only valid."""

from __future__ import annotations


def drop_parameter_titles(result, generator, request, public):
    """Query parameters' schemas carry a `title` from the filter's label, in the language the
    schema was served in ("상태" or "Status"); generators name a parameter's enum type after it,
    so a client generated from a Korean schema got classes like `ExtractsList상태`. Without the
    title they name it after the parameter (`ExtractsListStatus`) whatever the language."""
    for path in (result.get("paths") or {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters") or ():
                schema = parameter.get("schema")
                if isinstance(schema, dict):
                    schema.pop("title", None)
                    if isinstance(schema.get("items"), dict):
                        schema["items"].pop("title", None)
    return result


def open_operations_need_no_security(result, generator, request, public):
    """drf-spectacular writes an operation anyone may call as `security: [{}]` (one empty
    requirement). OpenAPI says the same with `security: []`, which is what generators read:
    openapi-python-client otherwise makes the token exchange, sign-up and signed download
    links demand an authenticated client."""
    for path in (result.get("paths") or {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                operation["security"] = []
    return result


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def json_request_bodies(result, generator, request, public):
    """Request bodies are documented as JSON (API.md's convention) where the form encodings
    would only repeat the same schema. The server still parses forms, but a body listed three
    times with one schema makes generators write `body: A | A | A` — openapi-python-client's
    output for that did not even import. Uploads, whose multipart schema differs (a file), keep
    every encoding."""
    for path in (result.get("paths") or {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            content = (operation.get("requestBody") or {}).get("content") or {}
            json_schema = (content.get("application/json") or {}).get("schema")
            if json_schema is None:
                continue
            if all((content.get(t) or {}).get("schema", json_schema) == json_schema for t in FORM_TYPES):
                for form_type in FORM_TYPES:
                    content.pop(form_type, None)
    return result

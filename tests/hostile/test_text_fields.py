"""Invalid UTF-8, lone surrogates and NUL in every writable text field of the main write
endpoints get a 400 with a JSON `detail`, and change nothing: in JSON bodies, and invalid UTF-8
in form-encoded and multipart bodies too (every endpoint accepts all three).

The fields are read from the input serializers the endpoints use, so a text field added to one
of them is covered without touching this file; the byte sequences come from the corpus
(tests/data/hostile/invalid_utf8_sequences.bin)."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

import pytest
from rest_framework import serializers

from accounts.api import MemberInputSerializer, SignupSerializer, TokenInputSerializer
from catalog.api import DatasetInputSerializer, OfferInputSerializer
from tests import factories
from tests.hostile.conftest import CORPUS, ENDPOINT_NAMES, MANIFEST, Snapshot, unchanged
from transactions.api.serializers import RequestCreateSerializer

pytestmark = pytest.mark.django_db

(SEQUENCES_FILE,) = [name for name, spec in MANIFEST.items() if spec["delivery"] == "field_values"]
INVALID_UTF8 = [line for line in (CORPUS / SEQUENCES_FILE).read_bytes().split(b"\n") if line]
MARK = "ZZ-HOSTILE-ZZ"

# The input serializer each endpoint validates its body with.
INPUT_SERIALIZERS = {
    "signup": SignupSerializer,
    "dataset_create": DatasetInputSerializer,
    "dataset_update": DatasetInputSerializer,
    "offer_create": OfferInputSerializer,
    "offer_update": OfferInputSerializer,
    "request_create": RequestCreateSerializer,
    "member_invite": MemberInputSerializer,
    "token_create": TokenInputSerializer,
}
TEXT_FIELDS = (serializers.CharField, serializers.ChoiceField)  # EmailField is a CharField


def text_fields(serializer, prefix: tuple = ()) -> list[tuple[tuple, serializers.Field]]:
    """(path, field) for every writable text value; paths look like ("title",), ("keywords", 0),
    ("organization", "name"), ("measures", 0, "agg")."""
    found = []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        path = (*prefix, name)
        if isinstance(field, serializers.ListSerializer):
            found += text_fields(field.child, (*path, 0))
        elif isinstance(field, serializers.Serializer):
            found += text_fields(field, path)
        elif isinstance(field, serializers.ListField):
            if isinstance(field.child, TEXT_FIELDS):
                found.append(((*path, 0), field.child))
        elif isinstance(field, TEXT_FIELDS):
            found.append((path, field))
    return found


def text_paths(serializer) -> list[tuple]:
    return [path for path, _field in text_fields(serializer)]


def case_id(endpoint: str, path: tuple) -> str:
    return f"{endpoint}-{'.'.join(map(str, path))}"


def base_body(endpoint: str, scene) -> dict:
    """A body the endpoint accepts (test_base_bodies_are_accepted), to plant one bad value in."""
    return {
        "signup": {
            "email": "lab@univ.ac.kr",
            "password": "a-long-enough-passphrase",
            "name": "연구자",
            "accept_terms": True,
            "accept_privacy": True,
            "organization": {
                "kind": "buyer",
                "name": "연구실",
                "name_en": "Lab",
                "business_number": "220-81-62517",
                "buyer_category": "research",
            },
        },
        "dataset_create": {"title": "새 데이터", "theme": "business", "regions": ["41110"]},
        "dataset_update": {"summary": "고친 요약"},
        "offer_create": {
            "name": "새 제공",
            "kind": "records",
            "fields": ["지역", "금액"],
            "region_field": "지역",
            "date_field": "일자",
            "terms": "명시한 목적으로만 이용합니다.",
        },
        "offer_update": {"name": "고친 제공"},
        "request_create": {
            "offer": scene.offer.pk,
            "fields": ["지역", "금액"],
            "purpose": "지역 소비 연구",
            "purpose_category": "research",
            "accept_terms": True,
        },
        "member_invite": {"email": "new.member@example.kr", "role": "curator"},
        "token_create": {"email": scene.curator.email, "password": factories.PASSWORD, "name": "노트북"},
    }[endpoint]


def planted(body: dict, path: tuple) -> dict:
    """A copy of `body` with MARK at `path`; an integer step is a list holding just that item."""
    body = json.loads(json.dumps(body))
    node = body
    for key, next_key in itertools.pairwise(path):
        if isinstance(node, list):
            node[:] = [{}]
            node = node[0]
        else:
            node[key] = [] if isinstance(next_key, int) else node.get(key) or {}
            node = node[key]
    if isinstance(node, list):
        node[:] = [MARK]
    else:
        node[path[-1]] = MARK
    return body


def field_cases() -> list:
    return [
        pytest.param(endpoint, path, id=case_id(endpoint, path))
        for endpoint in ENDPOINT_NAMES
        for path in text_paths(INPUT_SERIALIZERS[endpoint]())
    ]


def test_every_endpoint_has_an_input_serializer_and_text_fields():
    assert set(INPUT_SERIALIZERS) == set(ENDPOINT_NAMES)
    for endpoint in ENDPOINT_NAMES:
        assert text_paths(INPUT_SERIALIZERS[endpoint]()), endpoint


def test_the_corpus_holds_several_invalid_sequences():
    assert len(INVALID_UTF8) >= 5
    for sequence in INVALID_UTF8:
        with pytest.raises(UnicodeDecodeError):
            sequence.decode("utf-8")


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_base_bodies_are_accepted(endpoint, light_scene, as_caller):
    """The baseline: without the planted value each body succeeds, so a 400 below is the value's."""
    method, path, caller = light_scene.endpoints()[endpoint]
    response = getattr(as_caller(caller), method)(path, base_body(endpoint, light_scene), format="json")
    assert response.status_code in (200, 201, 202), response.content


def send_all(client, method: str, path: str, bodies: list[tuple[str, bytes]], content_type: str) -> list:
    """Each body in turn; (label, response) for each. Nothing may change, whatever they answer."""
    before = Snapshot.take()
    answers = [
        (label, getattr(client, method)(path, body, content_type=content_type)) for label, body in bodies
    ]
    assert Snapshot.take().changes_since(before) == unchanged()
    return answers


def json_template(endpoint: str, scene, field_path: tuple) -> bytes:
    return json.dumps(planted(base_body(endpoint, scene), field_path), ensure_ascii=False).encode()


MARK_JSON = json.dumps(MARK).encode()


def sequence_for(endpoint: str, field_path: tuple) -> bytes:
    """One of the corpus's invalid sequences per field, in turn, so each is sent somewhere (the
    JSON parser refuses the whole body, so trying all of them in every field adds nothing)."""
    paths = text_paths(INPUT_SERIALIZERS[endpoint]())
    return INVALID_UTF8[(ENDPOINT_NAMES.index(endpoint) + paths.index(field_path)) % len(INVALID_UTF8)]


@pytest.mark.parametrize("endpoint, field_path", field_cases())
def test_invalid_utf8_nul_or_a_lone_surrogate_in_a_field_is_a_400_and_changes_nothing(
    endpoint, field_path, light_scene, as_caller
):
    method, path, caller = light_scene.endpoints()[endpoint]
    template = json_template(endpoint, light_scene, field_path)
    seq = sequence_for(endpoint, field_path)
    bodies = [
        ("invalid UTF-8", template.replace(MARK_JSON, b'"ok' + seq + b'"')),
        ("NUL", template.replace(MARK_JSON, b'"ok\\u0000"')),
        # Error messages quote bad choices: a surrogate in them must not break the JSON answer.
        ("lone surrogate", template.replace(MARK_JSON, b'"ok\\ud800"')),
    ]
    answers = send_all(as_caller(caller), method, path, bodies, "application/json")
    (_, bad_bytes), *in_the_field = answers
    assert bad_bytes.status_code == 400, (seq, bad_bytes.content)
    assert "not valid UTF-8" in bad_bytes.json()["detail"]
    for label, response in in_the_field:
        assert response.status_code == 400, (label, response.content)
        assert response.json()["detail"] and field_path[0] in response.json()["errors"], (
            label,
            response.json(),
        )


# --- the same bytes in a form body ------------------------------------------------------------------

# Form bodies (application/x-www-form-urlencoded) are accepted by every endpoint through DRF's
# FormParser; Django itself decodes them with errors="replace", turning invalid bytes into U+FFFD.
FORM_ENDPOINTS = [e for e in ENDPOINT_NAMES if e != "signup"]  # signup nests an object: JSON only


def form_cases() -> list:
    cases = []
    for endpoint in FORM_ENDPOINTS:
        for path in text_paths(INPUT_SERIALIZERS[endpoint]()):
            if len(path) > 2 or (len(path) == 2 and not isinstance(path[1], int)):
                continue  # nested objects have no form encoding
            cases.append(pytest.param(endpoint, path, id=case_id(endpoint, path)))
    return cases


def form_body(body: dict, field_path: tuple, bad: bytes) -> bytes:
    pairs = []
    for key, value in body.items():
        if key == field_path[0]:
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    pairs.append((field_path[0], b"ok" + bad))
    return urlencode([(k, v if isinstance(v, bytes) else v.encode()) for k, v in pairs]).encode()


@pytest.mark.parametrize("endpoint", FORM_ENDPOINTS)
def test_form_base_bodies_are_accepted(endpoint, light_scene, as_caller):
    """The baseline: each base body sent as a form is accepted, so a 400 below is the bytes'."""
    method, path, caller = light_scene.endpoints()[endpoint]
    body = form_body(base_body(endpoint, light_scene), ("unused",), b"")
    response = getattr(as_caller(caller), method)(
        path, body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (200, 201, 202), response.content


@pytest.mark.parametrize("endpoint, field_path", form_cases())
def test_invalid_utf8_in_a_form_field_is_a_400_and_changes_nothing(
    endpoint, field_path, light_scene, as_caller
):
    method, path, caller = light_scene.endpoints()[endpoint]
    seq = sequence_for(endpoint, field_path)
    bodies = [(repr(seq), form_body(base_body(endpoint, light_scene), field_path, seq))]
    for label, response in send_all(
        as_caller(caller), method, path, bodies, "application/x-www-form-urlencoded"
    ):
        assert response.status_code == 400, (label, response.content)
        assert response.json()["detail"], label


# Multipart bodies (marketplace.parsers.SafeMultiPartParser, on every endpoint): Django decodes
# their text parts with errors="replace"; the parser refuses a part that came out with U+FFFD.
BOUNDARY = "hostile-boundary"


def multipart_cases() -> list:
    return [pytest.param(*param.values, id=param.id) for param in form_cases()]


def multipart_body(body: dict, field_path: tuple, bad: bytes) -> bytes:
    parts = []
    for key, value in body.items():
        if key == field_path[0]:
            continue
        for item in value if isinstance(value, list) else [value]:
            parts.append((key, (str(item).lower() if isinstance(item, bool) else str(item)).encode()))
    parts.append((field_path[0], b"ok" + bad))
    out = b""
    for key, value in parts:
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode() + value + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("endpoint, field_path", multipart_cases())
def test_invalid_utf8_in_a_multipart_field_is_a_400_and_changes_nothing(
    endpoint, field_path, light_scene, as_caller
):
    method, path, caller = light_scene.endpoints()[endpoint]
    seq = sequence_for(endpoint, field_path)
    bodies = [(repr(seq), multipart_body(base_body(endpoint, light_scene), field_path, seq))]
    for label, response in send_all(
        as_caller(caller), method, path, bodies, f"multipart/form-data; boundary={BOUNDARY}"
    ):
        assert response.status_code == 400, (label, response.content)
        assert response.json()["detail"], label


@pytest.mark.parametrize("endpoint", FORM_ENDPOINTS)
def test_multipart_base_bodies_are_accepted(endpoint, light_scene, as_caller):
    method, path, caller = light_scene.endpoints()[endpoint]
    body = multipart_body(base_body(endpoint, light_scene), ("unused",), b"")
    response = getattr(as_caller(caller), method)(
        path, body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert response.status_code in (200, 201, 202), response.content

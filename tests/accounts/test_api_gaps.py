"""A member's role change: `role` is the whole request, in the schema and in the answer."""

import pytest

from accounts.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

MEMBER = "/api/v1/organizations/{organization_pk}/members/{id}/"


def test_the_schema_requires_the_role_of_a_member_patch(api):
    schema = api.get("/api/schema/?format=json").json()
    body = schema["paths"][MEMBER]["patch"]["requestBody"]
    assert body.get("required") is True
    for media in body["content"].values():
        name = media["schema"]["$ref"].rsplit("/", 1)[1]
        component = schema["components"]["schemas"][name]
        assert component["required"] == ["role"], component


@pytest.mark.parametrize("body", [{}, {"name": "x"}])
def test_a_member_patch_without_a_role_is_a_400_that_names_it(login, buyer, body):
    manager = factories.member(buyer, "manager")
    analyst = factories.member(buyer, "analyst", email="analyst@cafe.kr")
    membership = Membership.objects.get(user=analyst, organization=buyer)
    response = login(manager).patch(
        MEMBER.format(organization_pk=buyer.pk, id=membership.pk), body, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json() == {
        "detail": "The request has invalid values: role: This field is required.",
        "errors": {"role": ["This field is required."]},
    }
    membership.refresh_from_db()
    assert membership.role == "analyst"


def test_a_member_patch_with_a_role_changes_it(login, buyer):
    manager = factories.member(buyer, "manager")
    analyst = factories.member(buyer, "analyst", email="analyst@cafe.kr")
    membership = Membership.objects.get(user=analyst, organization=buyer)
    response = login(manager).patch(
        MEMBER.format(organization_pk=buyer.pk, id=membership.pk), {"role": "manager"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "manager"

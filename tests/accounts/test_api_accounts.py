import pytest

from accounts.models import Organization, User
from accounts.selectors import roles_in
from tests import factories


@pytest.mark.django_db
def test_token_for_email_and_password_then_me(center, login):
    user = factories.member(center, "curator", "reviewer", email="curator@example.kr")
    client = login(user)
    body = client.get("/api/v1/me/").json()
    assert body["email"] == "curator@example.kr"
    assert sorted(m["role"] for m in body["memberships"]) == ["curator", "reviewer"]
    assert body["memberships"][0]["organization"] == {
        "id": center.pk,
        "name": center.name,
        "name_en": center.name_en,
        "kind": "center",
    }


@pytest.mark.django_db
def test_wrong_password_gets_a_json_error(api, center):
    user = factories.member(center, "curator")
    response = api.post("/api/v1/auth/token/", {"email": user.email, "password": "wrong"})
    assert response.status_code == 400
    assert response.json()["detail"] == "The e-mail address or password is wrong."


@pytest.mark.django_db
def test_errors_are_in_the_callers_language(api, center):
    user = factories.member(center, "curator")
    response = api.post(
        "/api/v1/auth/token/", {"email": user.email, "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert response.json()["detail"] == "이메일 주소 또는 비밀번호가 틀렸습니다."


@pytest.mark.django_db
def test_invalid_body_lists_errors_per_field(api):
    response = api.post("/api/v1/auth/token/", {"email": "not-an-email"})
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"email", "password"}
    assert body["detail"].startswith("The request has invalid values")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/me/", "/api/v1/organizations/", "/api/v1/organizations/1/members/"]
)
def test_anonymous_gets_401(api, path):
    response = api.get(path)
    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.django_db
def test_bad_token_gets_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert api.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_signup_over_the_api(api):
    response = api.post(
        "/api/v1/auth/signup/",
        {
            "email": "lab@univ.ac.kr",
            "password": "a-long-enough-passphrase",
            "accept_terms": True,
            "accept_privacy": True,
            "organization": {
                "kind": "buyer",
                "name": "지역경제연구실",
                "business_number": "220-81-62517",
                "buyer_category": "research",
            },
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    assert Organization.objects.get().verification == "pending"
    user = User.objects.get(email="lab@univ.ac.kr")
    assert not user.is_active  # until the link e-mailed to the address is followed
    assert roles_in(user, Organization.objects.get()) == {"manager"}


@pytest.mark.django_db
def test_organization_list_is_filtered_by_visibility(login, operator, center, buyer):
    other_buyer = factories.OrganizationFactory(kind="buyer")
    pending_center = factories.OrganizationFactory(kind="center", buyer_category="", verification="pending")
    analyst = factories.member(buyer, "analyst")

    seen = {o["id"] for o in login(analyst).get("/api/v1/organizations/").json()["results"]}
    assert seen == {buyer.pk, center.pk}  # own org + verified centers; not other buyers, not pending centers

    seen_by_operator = {o["id"] for o in login(operator).get("/api/v1/organizations/").json()["results"]}
    assert {buyer.pk, center.pk, other_buyer.pk, pending_center.pk} <= seen_by_operator

    assert login(analyst).get(f"/api/v1/organizations/{other_buyer.pk}/").status_code == 404
    assert login(analyst).get(f"/api/v1/organizations/{center.pk}/").status_code == 200


@pytest.mark.django_db
def test_verify_endpoint(login, operator, buyer):
    pending = factories.OrganizationFactory(kind="buyer", verification="pending")
    manager = factories.member(pending, "manager")
    assert login(manager).post(f"/api/v1/organizations/{pending.pk}/verify/").status_code == 403
    assert (
        login(factories.member(buyer, "manager"))
        .post(f"/api/v1/organizations/{pending.pk}/verify/")
        .status_code
        == 404
    )
    response = login(operator).post(f"/api/v1/organizations/{pending.pk}/verify/")
    assert response.status_code == 200
    assert response.json()["verification"] == "verified"
    assert response.json()["verified_by"] == operator.email


@pytest.mark.django_db
def test_members_endpoints(login, buyer, center):
    manager = factories.member(buyer, "manager")
    client = login(manager)
    created = client.post(
        f"/api/v1/organizations/{buyer.pk}/members/", {"email": "a@example.kr", "role": "analyst"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["state"] == "pending"
    listed = client.get(f"/api/v1/organizations/{buyer.pk}/members/").json()
    assert {m["email"] for m in listed["results"]} == {manager.email}  # not before accepting
    invitee = User.objects.get(email="a@example.kr")
    invitee.set_password(factories.PASSWORD)
    invitee.save()
    accepted = login(invitee).post(f"/api/v1/me/invitations/{created.json()['id']}/accept/")
    assert accepted.status_code == 200, accepted.content
    listed = client.get(f"/api/v1/organizations/{buyer.pk}/members/").json()
    assert {m["email"] for m in listed["results"]} == {manager.email, "a@example.kr"}
    member_id = next(m["id"] for m in listed["results"] if m["email"] == "a@example.kr")
    assert (
        client.patch(f"/api/v1/organizations/{buyer.pk}/members/{member_id}/", {"role": "manager"}).json()[
            "role"
        ]
        == "manager"
    )
    assert client.delete(f"/api/v1/organizations/{buyer.pk}/members/{member_id}/").status_code == 204

    # A center's curator sees the verified center org but not its members' list of another org.
    outsider = login(factories.member(center, "curator"))
    assert outsider.get(f"/api/v1/organizations/{buyer.pk}/members/").status_code == 404
    assert (
        outsider.post(
            f"/api/v1/organizations/{buyer.pk}/members/", {"email": "x@example.kr", "role": "analyst"}
        ).status_code
        == 404
    )


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/token/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content
    assert b"drf_spectacular_sidecar/swagger-ui-dist" in docs.content


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_account_from_that_address(api, center, settings):
    user = factories.member(center, "curator")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert api.post("/api/v1/auth/token/", {"email": user.email, "password": "guess"}).status_code == 400
    # the attempt that reaches the limit is refused as a lockout, and so is the right password then
    assert api.post("/api/v1/auth/token/", {"email": user.email, "password": "guess"}).status_code == 429
    locked = api.post("/api/v1/auth/token/", {"email": user.email, "password": factories.PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    # another address is not locked out of the same account
    other = api.post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": factories.PASSWORD},
        REMOTE_ADDR="203.0.113.9",
    )
    assert other.status_code == 200


@pytest.mark.django_db
def test_web_login_is_locked_out_too(client, center, settings):
    user = factories.member(center, "curator")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": user.email, "password": "guess"})
    response = client.post("/admin/login/", {"username": user.email, "password": factories.PASSWORD})
    assert response.status_code == 429

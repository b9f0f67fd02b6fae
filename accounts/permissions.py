"""One rule per operation, named like the service that checks it (STYLE.md habit 3)."""

from __future__ import annotations

from accounts.models import Membership, Organization
from accounts.selectors import is_operator, roles_by_organization, roles_in
from marketplace.actors import is_authenticated, is_person, is_system

Role = Membership.Role


def sees_everything(actor) -> bool:
    """The platform and its operators see every object of every app."""
    return is_system(actor) or (is_authenticated(actor) and is_operator(actor))


def organization_ids_with(actor, roles=None) -> list[int]:
    """The organizations where a signed-in user holds one of `roles` (any role when None);
    read from the user's cached roles, no query after the first."""
    if not is_person(actor):
        return []
    held = roles_by_organization(actor)
    return [org for org, mine in held.items() if roles is None or mine & set(roles)]


def user_signup(actor, _target=None) -> bool:
    return True  # anyone may sign up; the organization stays pending until verified


def organization_view(actor, organization: Organization) -> bool:
    if is_system(actor) or is_operator(actor) or roles_in(actor, organization):
        return True
    return organization.kind == Organization.Kind.CENTER and organization.is_verified


def organization_create(actor, _target=None) -> bool:
    return is_system(actor) or is_operator(actor)


def organization_verify(actor, organization: Organization) -> bool:
    return is_system(actor) or is_operator(actor)


def organization_reject(actor, organization: Organization) -> bool:
    return organization_verify(actor, organization)


def membership_view(actor, organization: Organization) -> bool:
    return is_system(actor) or is_operator(actor) or bool(roles_in(actor, organization))


def membership_add(actor, organization: Organization) -> bool:
    return is_system(actor) or is_operator(actor) or Role.MANAGER in roles_in(actor, organization)


def membership_change_role(actor, organization: Organization) -> bool:
    return membership_add(actor, organization)


def membership_remove(actor, organization: Organization) -> bool:
    return membership_add(actor, organization)


def organization_is_active(organization: Organization) -> bool:
    """The verification gate: only verified organizations publish or request data."""
    return organization.is_verified

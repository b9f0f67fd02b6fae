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


def organization_certificate_view(actor, organization: Organization) -> bool:
    """The 사업자등록증: the organization's managers (who uploaded it) and operators only."""
    if is_system(actor) or is_operator(actor):
        return True
    return Role.MANAGER in roles_in(actor, organization)


def organization_reject(actor, organization: Organization) -> bool:
    return organization_verify(actor, organization)


def membership_view(actor, organization: Organization) -> bool:
    return is_system(actor) or is_operator(actor) or bool(roles_in(actor, organization))


def membership_add(actor, organization: Organization) -> bool:
    """A role given without the person's consent: only the platform itself (demo seed, shell).
    Everyone else invites (membership_invite) and the invitee accepts."""
    return is_system(actor)


def _manages(actor, organization: Organization) -> bool:
    return is_system(actor) or is_operator(actor) or Role.MANAGER in roles_in(actor, organization)


def membership_invite(actor, organization: Organization) -> bool:
    """Managers and operators invite; the organization must be verified (checked by the service,
    which says so)."""
    return _manages(actor, organization)


def invitation_view(actor, invitation) -> bool:
    """The invitee (the account at the invited address) and the organization's members."""
    return invitation_respond(actor, invitation) or membership_view(actor, invitation.organization)


def invitation_respond(actor, invitation) -> bool:
    email = getattr(actor, "email", "") or ""
    return bool(email) and email.strip().lower() == invitation.email


def invitation_accept(actor, invitation) -> bool:
    return invitation_respond(actor, invitation)


def invitation_decline(actor, invitation) -> bool:
    return invitation_respond(actor, invitation)


def invitation_revoke(actor, invitation) -> bool:
    return _manages(actor, invitation.organization)


def membership_change_role(actor, organization: Organization) -> bool:
    return _manages(actor, organization)


def membership_remove(actor, organization: Organization) -> bool:
    return _manages(actor, organization)


def user_signup_confirm(actor, _target=None) -> bool:
    return True  # the link in the e-mail is the credential


def api_token_create(actor, user) -> bool:
    """A token is made for oneself, after proving the password (or by the platform)."""
    return is_system(actor) or (getattr(actor, "pk", None) is not None and actor.pk == user.pk)


def api_tokens_revoke_all(actor, user) -> bool:
    return api_token_create(actor, user)


def api_token_revoke(actor, token) -> bool:
    return getattr(actor, "pk", None) is not None and token.user_id == actor.pk


def organization_is_active(organization: Organization) -> bool:
    """The verification gate: only verified organizations publish or request data."""
    return organization.is_verified

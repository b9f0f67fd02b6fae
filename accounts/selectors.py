from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, Invitation, Membership, Organization, User
from marketplace.actors import is_person

Role = Membership.Role
# Who acts for a buyer organization (requests, licenses, downloads) and for a center.
BUYER_ROLES = frozenset({Role.ANALYST, Role.MANAGER})
CENTER_ROLES = frozenset({Role.MANAGER, Role.REVIEWER, Role.CURATOR})


def roles_by_organization(user) -> dict[int, set[str]]:
    """{organization id: {roles}} for a user, read once per user object (one query)."""
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return {}
    cached = getattr(user, "_jangteo_roles", None)
    if cached is None:
        cached = {}
        for org_id, role in Membership.objects.filter(user=user).values_list("organization_id", "role"):
            cached.setdefault(org_id, set()).add(role)
        user._jangteo_roles = cached
    return cached


def forget_roles(user) -> None:
    if hasattr(user, "_jangteo_roles"):
        del user._jangteo_roles


def roles_in(user, organization) -> set[str]:
    org_id = organization if isinstance(organization, int) else organization.pk
    return roles_by_organization(user).get(org_id, set())


def is_operator(user) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return any(Membership.Role.OPERATOR in roles for roles in roles_by_organization(user).values())


def organizations_visible_to(user) -> QuerySet[Organization]:
    """Operators see every organization; others see their own and the verified centers
    (publishers are public)."""
    qs = Organization.objects.all()
    if is_operator(user):
        return qs
    public = Q(kind=Organization.Kind.CENTER, verification=Organization.Verification.VERIFIED)
    return qs.filter(public | Q(pk__in=list(roles_by_organization(user))))


def organization_members(organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def user_by_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email.strip()).first()


def invitations_for(user) -> QuerySet[Invitation]:
    """Open invitations addressed to the user's e-mail address."""
    email = (getattr(user, "email", "") or "").strip().lower()
    if not email:
        return Invitation.objects.none()
    return Invitation.objects.filter(
        email=email, state=Invitation.State.PENDING, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-pk")


def organization_invitations(organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("organization")


def api_tokens_of(user) -> QuerySet[ApiToken]:
    if getattr(user, "pk", None) is None:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user)


def organization_ids(user, *, kind: str, roles) -> list[int]:
    """The organizations of `kind` in which the user holds one of `roles` (one query)."""
    if not is_person(user):
        return []
    return list(
        Membership.objects.filter(user=user, organization__kind=kind, role__in=list(roles))
        .order_by()  # the model's ordering would make DISTINCT keep one row per role
        .values_list("organization_id", flat=True)
        .distinct()
    )


def buyer_organization_ids(user) -> list[int]:
    return organization_ids(user, kind=Organization.Kind.BUYER, roles=BUYER_ROLES)


def center_organization_ids(user) -> list[int]:
    return organization_ids(user, kind=Organization.Kind.CENTER, roles=CENTER_ROLES)


def own_organization_ids(user) -> list[int]:
    if not is_person(user):
        return []
    return list(Membership.objects.filter(user=user).values_list("organization_id", flat=True).distinct())

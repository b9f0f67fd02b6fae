"""Every write to accounts and organizations. Each function checks its rule in
accounts.permissions, changes state in one transaction and writes an audit event."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import notifications, permissions
from accounts.models import Membership, Organization, User
from accounts.selectors import forget_roles, user_by_email
from accounts.validators import normalize_business_number, validate_business_number
from marketplace import errors
from marketplace.audit import audit_record
from marketplace.authz import authorize

Role = Membership.Role


def _org_snapshot(org: Organization) -> dict:
    return {"verification": org.verification, "name": org.name, "kind": org.kind}


def _validated_organization_fields(
    *, kind: str, name: str, name_en: str, business_number: str, buyer_category: str
) -> dict:
    field_errors: dict[str, list[str]] = {}
    if kind not in Organization.Kind.values:
        field_errors["kind"] = [
            _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(Organization.Kind.values)}
        ]
    if not (name or "").strip():
        field_errors["name"] = [_("The organization needs a name.")]
    number = normalize_business_number(business_number)
    try:
        validate_business_number(number)
    except ValidationError as exc:
        field_errors["business_number"] = list(exc.messages)
    else:
        if Organization.objects.filter(business_number=number).exists():
            field_errors["business_number"] = [
                _("An organization with this business registration number is already registered.")
            ]
    if kind == Organization.Kind.BUYER and buyer_category not in Organization.BuyerCategory.values:
        field_errors["buyer_category"] = [
            _("Buyers choose a category: %(choices)s.")
            % {"choices": ", ".join(Organization.BuyerCategory.values)}
        ]
    if kind != Organization.Kind.BUYER:
        buyer_category = ""
    if field_errors:
        raise errors.ApplicationError(_("The organization's details are not valid."), errors=field_errors)
    return {
        "kind": kind,
        "name": name.strip(),
        "name_en": (name_en or "").strip(),
        "business_number": number,
        "buyer_category": buyer_category,
    }


def _organization_insert(*, fields: dict) -> Organization:
    group = Group.objects.create(name=f"org:{fields['business_number']}")
    try:
        with transaction.atomic():
            return Organization.objects.create(group=group, **fields)
    except IntegrityError as exc:  # a concurrent registration of the same number
        raise errors.ApplicationError(
            _("An organization with this business registration number is already registered."),
            errors={"business_number": [_("Already registered.")]},
        ) from exc


def _membership_insert(*, user: User, organization: Organization, role: str) -> Membership:
    membership, _created = Membership.objects.get_or_create(user=user, organization=organization, role=role)
    user.groups.add(organization.group)
    forget_roles(user)
    return membership


def user_signup(
    *, email: str, password: str, name: str = "", organization: dict
) -> tuple[User, Organization]:
    """Create a user and their organization, pending verification, with the user as its
    manager. Nothing is created when any value is invalid."""
    authorize(permissions.user_signup, None)
    email = (email or "").strip().lower()
    field_errors: dict[str, list] = {}
    if user_by_email(email) is not None:
        field_errors["email"] = [_("An account with this e-mail address already exists; log in instead.")]
    try:
        validate_password(password, User(email=email, name=name))
    except ValidationError as exc:
        field_errors["password"] = list(exc.messages)
    if organization.get("kind") == Organization.Kind.OPERATOR:
        field_errors["organization"] = [_("Operator organizations cannot sign up.")]
    try:
        org_fields = _validated_organization_fields(
            kind=organization.get("kind", ""),
            name=organization.get("name", ""),
            name_en=organization.get("name_en", ""),
            business_number=organization.get("business_number", ""),
            buyer_category=organization.get("buyer_category", ""),
        )
    except errors.ApplicationError as exc:
        field_errors.update({f"organization.{k}": v for k, v in exc.errors.items()})
    if field_errors:
        raise errors.ApplicationError(
            _("Sign-up could not be completed; see the fields."), errors=field_errors
        )
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, name=name)
        org = _organization_insert(fields=org_fields)
        role = Role.MANAGER
        _membership_insert(user=user, organization=org, role=role)
        audit_record(actor=user, verb="accounts.user.signed_up", target=user, organization=org)
        audit_record(
            actor=user,
            verb="accounts.organization.registered",
            target=org,
            organization=org,
            after=_org_snapshot(org),
        )
    return user, org


def organization_create(
    *,
    actor,
    kind: str,
    name: str,
    business_number: str,
    name_en: str = "",
    buyer_category: str = "",
    verified: bool = False,
) -> Organization:
    """An operator registers an organization directly (optionally already verified)."""
    authorize(permissions.organization_create, actor)
    fields = _validated_organization_fields(
        kind=kind,
        name=name,
        name_en=name_en,
        business_number=business_number,
        buyer_category=buyer_category,
    )
    with transaction.atomic():
        org = _organization_insert(fields=fields)
        if verified:
            org.verification = Organization.Verification.VERIFIED
            org.verified_at = timezone.now()
            org.verified_by = actor if getattr(actor, "pk", None) else None
            org.save(update_fields=["verification", "verified_at", "verified_by"])
        audit_record(
            actor=actor,
            verb="accounts.organization.created",
            target=org,
            organization=org,
            after=_org_snapshot(org),
        )
    return org


def organization_verify(*, actor, organization: Organization) -> Organization:
    """Mark an organization verified (who and when). Already verified: no change."""
    authorize(permissions.organization_verify, actor, organization, can_view=permissions.organization_view)
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.is_verified:
            return org
        before = _org_snapshot(org)
        org.verification = Organization.Verification.VERIFIED
        org.verified_by = actor if getattr(actor, "pk", None) else None
        org.verified_at = timezone.now()
        org.rejection_reason = ""
        org.save(update_fields=["verification", "verified_by", "verified_at", "rejection_reason"])
        audit_record(
            actor=actor,
            verb="accounts.organization.verified",
            target=org,
            organization=org,
            before=before,
            after=_org_snapshot(org),
        )
        transaction.on_commit(lambda: notifications.organization_verified(org.pk))
    return org


def organization_reject(*, actor, organization: Organization, reason: str) -> Organization:
    """Refuse verification with a reason the organization's manager can act on."""
    authorize(permissions.organization_reject, actor, organization, can_view=permissions.organization_view)
    if not (reason or "").strip():
        raise errors.ApplicationError(
            _("Give a reason so the organization knows what to fix."),
            errors={"reason": [_("This field is required.")]},
        )
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.is_verified:
            raise errors.InvalidState(_("This organization is already verified."))
        before = _org_snapshot(org)
        org.verification = Organization.Verification.REJECTED
        org.rejection_reason = reason.strip()
        org.save(update_fields=["verification", "rejection_reason"])
        audit_record(
            actor=actor,
            verb="accounts.organization.rejected",
            target=org,
            organization=org,
            before=before,
            after={**_org_snapshot(org), "reason": org.rejection_reason},
        )
    return org


def _check_role_for_kind(organization: Organization, role: str) -> None:
    allowed = Membership.ROLES_BY_KIND[Organization.Kind(organization.kind)]
    if role not in allowed:
        raise errors.ApplicationError(
            _("A %(kind)s has these roles: %(roles)s.")
            % {"kind": organization.get_kind_display(), "roles": ", ".join(allowed)},
            errors={"role": [_("Not a role of this kind of organization.")]},
        )


def membership_add(*, actor, organization: Organization, email: str, role: str) -> Membership:
    """Give a person a role in the organization. Someone without an account gets one with no
    password and an e-mail invitation to set it."""
    authorize(permissions.membership_add, actor, organization, can_view=permissions.membership_view)
    _check_role_for_kind(organization, role)
    email = (email or "").strip().lower()
    try:
        User._meta.get_field("email").run_validators(email)
        if not email:
            raise ValidationError(_("Enter an e-mail address."))
    except ValidationError as exc:
        raise errors.ApplicationError(
            _("Enter a valid e-mail address."), errors={"email": exc.messages}
        ) from exc
    with transaction.atomic():
        user = user_by_email(email)
        invited = user is None
        if invited:
            user = User.objects.create_user(email=email, password=None)
        if Membership.objects.filter(user=user, organization=organization, role=role).exists():
            raise errors.InvalidState(_("%(email)s already has this role.") % {"email": email})
        membership = _membership_insert(user=user, organization=organization, role=role)
        audit_record(
            actor=actor,
            verb="accounts.membership.added",
            target=membership,
            organization=organization,
            after={"email": email, "role": role, "invited": invited},
        )
        if invited:
            transaction.on_commit(lambda: notifications.member_invited(membership.pk))
    return membership


def _ensure_a_manager_remains(organization: Organization, leaving: Membership) -> None:
    if leaving.role != Role.MANAGER or organization.kind == Organization.Kind.OPERATOR:
        return
    others = Membership.objects.filter(organization=organization, role=Role.MANAGER).exclude(pk=leaving.pk)
    if not others.exists():
        raise errors.InvalidState(_("An organization needs at least one manager; appoint another first."))


def membership_change_role(*, actor, membership: Membership, role: str) -> Membership:
    organization = membership.organization
    authorize(permissions.membership_change_role, actor, organization, can_view=permissions.membership_view)
    _check_role_for_kind(organization, role)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role:
            return membership
        _ensure_a_manager_remains(organization, membership)
        if Membership.objects.filter(user=membership.user, organization=organization, role=role).exists():
            raise errors.InvalidState(_("This person already has that role."))
        before = {"role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        forget_roles(membership.user)
        forget_roles(actor)
        audit_record(
            actor=actor,
            verb="accounts.membership.role_changed",
            target=membership,
            organization=organization,
            before=before,
            after={"role": role},
        )
    return membership


def membership_remove(*, actor, membership: Membership) -> None:
    organization = membership.organization
    authorize(permissions.membership_remove, actor, organization, can_view=permissions.membership_view)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _ensure_a_manager_remains(organization, membership)
        user = membership.user
        audit_record(
            actor=actor,
            verb="accounts.membership.removed",
            target=membership,
            organization=organization,
            before={"email": user.email, "role": membership.role},
        )
        membership.delete()
        if not Membership.objects.filter(user=user, organization=organization).exists():
            user.groups.remove(organization.group)
        forget_roles(user)
        forget_roles(actor)

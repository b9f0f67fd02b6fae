"""Every write to accounts and organizations. Each function checks its rule in
accounts.permissions, changes state in one transaction and writes an audit event."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _

from accounts import notifications, permissions
from accounts.models import ApiToken, Invitation, Membership, Organization, User
from accounts.security import password_fingerprint, token_digest
from accounts.selectors import forget_roles, user_by_email
from accounts.validators import normalize_business_number, validate_business_number
from marketplace import errors
from marketplace.actors import is_system
from marketplace.audit import audit_record
from marketplace.authz import authorize

Role = Membership.Role


def _org_snapshot(org: Organization) -> dict:
    return {
        "verification": org.verification,
        "name": org.name,
        "kind": org.kind,
        "business_status": org.business_status,
    }


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


PHONE = re.compile(r"\+?[0-9][0-9 -]{6,20}[0-9]")
# 사업자등록증 as a scan or PDF: recognised by content, not by name.
CERTIFICATE_TYPES = {b"%PDF-": ".pdf", b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}


def _sniff(upload) -> bytes | None:
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    return next((magic for magic in CERTIFICATE_TYPES if head.startswith(magic)), None)


def _certificate_problem(upload) -> str:
    """Why `upload` cannot be a business registration certificate ('' when it can)."""
    limit = settings.CERTIFICATE_MAX_BYTES
    if upload.size > limit:
        return _("The certificate may be at most %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
    if _sniff(upload) is None:
        return _("Upload the certificate as a PDF, PNG or JPEG file.")
    return ""


def _signup_problems(
    *,
    email: str,
    password: str,
    name: str,
    agreed: tuple,
    applicant_phone: str,
    certificate,
    organization: dict,
) -> dict:
    """Every field error of a sign-up at once (none: {}), and under "__fields__" the organization's
    validated fields (None when they are not valid)."""
    field_errors: dict = {}
    try:
        validate_password(password, User(email=email, name=name))
    except ValidationError as exc:
        field_errors["password"] = list(exc.messages)
    # 이용약관 and 개인정보 수집·이용: two separate, required agreements (the law wants the
    # collection of personal data agreed to on its own).
    accept_terms, accept_privacy = agreed
    if accept_terms is not True:
        field_errors["accept_terms"] = [_("Agree to the terms of service to sign up.")]
    if accept_privacy is not True:
        field_errors["accept_privacy"] = [
            _("Agree to the collection and use of your personal data to sign up.")
        ]
    if certificate is not None and _certificate_problem(certificate):
        field_errors["certificate"] = [_certificate_problem(certificate)]
    if len(applicant_phone or "") > 30 or (applicant_phone and not PHONE.fullmatch(applicant_phone.strip())):
        field_errors["applicant_phone"] = [_("Write a phone number such as 031-123-4567.")]
    if organization.get("kind") == Organization.Kind.OPERATOR:
        field_errors["organization"] = [_("Operator organizations cannot sign up.")]
    org_fields = None
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
    return {**field_errors, "__fields__": org_fields}


def _signup_create(*, email: str, password: str, name: str, org_fields: dict, certificate) -> None:
    """Create the inactive user (with the versions consented to), the organization pending
    verification with its certificate, the user's manager membership; audit both; e-mail the
    confirmation link after commit."""
    with transaction.atomic():
        consent = {
            "terms_version": settings.TERMS_VERSION,
            "privacy_consent_version": settings.PRIVACY_POLICY_VERSION,
            "consented_at": timezone.now(),
        }
        user = User.objects.create_user(email=email, password=password, name=name, is_active=False, **consent)
        org = _organization_insert(fields=org_fields)
        if certificate is not None:
            certificate.seek(0)
            org.registration_certificate.save(
                f"{org.pk}-{uuid.uuid4().hex}{CERTIFICATE_TYPES[_sniff(certificate)]}", certificate, save=True
            )
        _membership_insert(user=user, organization=org, role=Role.MANAGER)
        audit_record(
            actor=user,
            verb="accounts.user.signed_up",
            target=user,
            organization=org,
            after={"terms": settings.TERMS_VERSION, "privacy_consent": settings.PRIVACY_POLICY_VERSION},
        )
        audit_record(
            actor=user,
            verb="accounts.organization.registered",
            target=org,
            organization=org,
            after=_org_snapshot(org),
        )
        transaction.on_commit(lambda: notifications.signup_confirmation(user.pk))


def user_signup(
    *,
    email: str,
    password: str,
    name: str = "",
    organization: dict,
    accept_terms: bool = False,
    accept_privacy: bool = False,
    applicant_position: str = "",
    applicant_phone: str = "",
    certificate=None,
) -> None:
    """Register a user and their organization, pending verification, with the user as its
    manager; the account works once its owner follows the link e-mailed to the address.

    The answer is the same whether or not the address already has an account (no enumeration):
    for a known address nothing is created and the e-mail tells its owner, who can log in or
    reset the password. Invalid values are reported either way, and nothing is created then."""
    authorize(permissions.user_signup, None)
    email = (email or "").strip().lower()
    field_errors = _signup_problems(
        email=email,
        password=password,
        name=name,
        agreed=(accept_terms, accept_privacy),
        applicant_phone=applicant_phone,
        certificate=certificate,
        organization=organization,
    )
    org_fields = field_errors.pop("__fields__")
    if field_errors:
        raise errors.ApplicationError(
            _("Sign-up could not be completed; see the fields."), errors=field_errors
        )
    existing = user_by_email(email)
    if existing is not None:
        existing_pk = existing.pk
        transaction.on_commit(lambda: notifications.signup_for_existing_account(existing_pk))
        return
    _signup_create(
        email=email,
        password=password,
        name=name,
        org_fields={
            **org_fields,
            "applicant_position": (applicant_position or "").strip()[:100],
            "applicant_phone": (applicant_phone or "").strip(),
        },
        certificate=certificate,
    )


def user_signup_confirm(*, uidb64: str, token: str) -> User:
    """Activate the account a sign-up created, from the link e-mailed to its address. The link
    works once: logging in afterwards invalidates it."""
    authorize(permissions.user_signup_confirm, None)
    invalid = errors.ApplicationError(
        _("This confirmation link is invalid or has already been used. Log in, or sign up again.")
    )
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not pk.isascii() or not pk.isdigit():
        raise invalid
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=int(pk)).first()
        if user is None or user.is_active or not default_token_generator.check_token(user, token):
            raise invalid
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(actor=user, verb="accounts.user.confirmed", target=user)
    return user


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


def organization_verify(
    *, actor, organization: Organization, business_status: str = Organization.BusinessStatus.ACTIVE
) -> Organization:
    """Mark an organization verified (who and when), with the business status the operator
    checked (국세청 휴·폐업 조회): only a business in operation is verified. Already verified: no
    change."""
    authorize(permissions.organization_verify, actor, organization, can_view=permissions.organization_view)
    if business_status != Organization.BusinessStatus.ACTIVE:
        message = _("Only a business in operation can be verified; reject it with the reason instead.")
        raise errors.ApplicationError(message, errors={"business_status": [message]})
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=organization.pk)
        if org.is_verified:
            return org
        before = _org_snapshot(org)
        org.business_status = business_status
        org.verification = Organization.Verification.VERIFIED
        org.verified_by = actor if getattr(actor, "pk", None) else None
        org.verified_at = timezone.now()
        org.rejection_reason = ""
        org.save(
            update_fields=[
                "verification",
                "verified_by",
                "verified_at",
                "rejection_reason",
                "business_status",
            ]
        )
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


def _validated_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        User._meta.get_field("email").run_validators(email)
        if not email:
            raise ValidationError(_("Enter an e-mail address."))
    except ValidationError as exc:
        raise errors.ApplicationError(
            _("Enter a valid e-mail address."), errors={"email": exc.messages}
        ) from exc
    return email


def membership_add(*, actor, organization: Organization, email: str, role: str) -> Membership:
    """Give an existing account a role at once, without an invitation: for the platform itself
    (demo seed, shell) only. People are invited with membership_invite."""
    authorize(permissions.membership_add, actor, organization, can_view=permissions.membership_view)
    _check_role_for_kind(organization, role)
    email = _validated_email(email)
    with transaction.atomic():
        user = user_by_email(email)
        if user is None:
            raise errors.NotFound(_("No account has this e-mail address."))
        if Membership.objects.filter(user=user, organization=organization, role=role).exists():
            raise errors.InvalidState(_("%(email)s already has this role.") % {"email": email})
        membership = _membership_insert(user=user, organization=organization, role=role)
        audit_record(
            actor=actor,
            verb="accounts.membership.added",
            target=membership,
            organization=organization,
            after={"email": email, "role": role},
        )
    return membership


def membership_invite(*, actor, organization: Organization, email: str, role: str) -> Invitation:
    """Invite an address to a role; the person becomes a member only by accepting
    (invitation_accept). Only verified organizations invite, a limited number a day.

    The inviter learns nothing about the address: the answer, the audit entry and the e-mail
    are the same whether or not it has an account. An address without one gets an account
    with no password, which the normal password reset can always set. Inviting again while an
    invitation is pending returns that invitation and sends nothing."""
    authorize(permissions.membership_invite, actor, organization, can_view=permissions.membership_view)
    if not organization.is_verified and not is_system(actor):
        raise errors.PermissionDenied(
            _("Your organization can invite people once an operator has verified it.")
        )
    _check_role_for_kind(organization, role)
    email = _validated_email(email)
    now = timezone.now()
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()  # serialise the count
        if Membership.objects.filter(
            user__email__iexact=email, organization=organization, role=role
        ).exists():
            raise errors.InvalidState(_("%(email)s already has this role.") % {"email": email})
        pending = Invitation.objects.filter(
            organization=organization, email=email, role=role, state=Invitation.State.PENDING
        ).first()
        if pending is not None and not pending.is_expired:
            return pending
        recent = Invitation.objects.filter(organization=organization, created_at__gte=now - timedelta(days=1))
        if recent.count() >= settings.INVITATIONS_PER_DAY:
            raise errors.Throttled(
                _("Your organization has sent %(count)s invitations today, the most allowed; try tomorrow.")
                % {"count": settings.INVITATIONS_PER_DAY}
            )
        if pending is not None:  # expired: it makes way for the new one
            pending.state = Invitation.State.REVOKED
            pending.responded_at = now
            pending.save(update_fields=["state", "responded_at"])
        if user_by_email(email) is None:
            User.objects.create_user(email=email, password=None)
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            invited_by=actor if getattr(actor, "pk", None) else None,
            expires_at=now + timedelta(days=settings.INVITATION_DAYS),
        )
        audit_record(
            actor=actor,
            verb="accounts.membership.invited",
            target=invitation,
            organization=organization,
            after={"email": email, "role": role},
        )
        transaction.on_commit(lambda: notifications.member_invited(invitation.pk))
    return invitation


def _respond(*, actor, invitation: Invitation, accept: bool) -> Invitation:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
        )
        target = Invitation.State.ACCEPTED if accept else Invitation.State.DECLINED
        if invitation.state == target:
            return invitation
        if invitation.state != Invitation.State.PENDING:
            raise errors.InvalidState(
                _("This invitation is %(state)s; ask the organization for a new one.")
                % {"state": invitation.get_state_display().lower()}
            )
        if invitation.is_expired:
            raise errors.InvalidState(_("This invitation has expired; ask the organization for a new one."))
        organization = invitation.organization
        invitation.state = target
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        if (
            accept
            and not Membership.objects.filter(
                user=actor, organization=organization, role=invitation.role
            ).exists()
        ):
            _membership_insert(user=actor, organization=organization, role=invitation.role)
        audit_record(
            actor=actor,
            verb="accounts.invitation.accepted" if accept else "accounts.invitation.declined",
            target=invitation,
            organization=organization,
            after={"email": invitation.email, "role": invitation.role},
        )
    return invitation


def invitation_accept(*, actor, invitation: Invitation) -> Invitation:
    """The invitee takes the role (a Membership appears). Accepting twice changes nothing."""
    authorize(permissions.invitation_accept, actor, invitation, can_view=permissions.invitation_view)
    return _respond(actor=actor, invitation=invitation, accept=True)


def invitation_decline(*, actor, invitation: Invitation) -> Invitation:
    authorize(permissions.invitation_decline, actor, invitation, can_view=permissions.invitation_view)
    return _respond(actor=actor, invitation=invitation, accept=False)


def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    """The organization withdraws a pending invitation."""
    authorize(permissions.invitation_revoke, actor, invitation, can_view=permissions.invitation_view)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state == Invitation.State.REVOKED:
            return invitation
        if invitation.state != Invitation.State.PENDING:
            raise errors.InvalidState(_("Only a pending invitation can be withdrawn."))
        invitation.state = Invitation.State.REVOKED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["state", "responded_at"])
        audit_record(
            actor=actor,
            verb="accounts.invitation.revoked",
            target=invitation,
            organization=invitation.organization,
            after={"email": invitation.email, "role": invitation.role},
        )
    return invitation


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


# --- API tokens ---------------------------------------------------------------------------------


def api_token_create(*, actor, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`, valid for API_TOKEN_DAYS; returns it and its key (shown once)."""
    authorize(permissions.api_token_create, actor, user)
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user,
        name=(name or "").strip()[:100],
        digest=token_digest(key),
        prefix=key[:8],
        password_fingerprint=password_fingerprint(user),
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_DAYS),
    )
    # Not audited, like a login (django-axes records those); revocations are.
    return token, key


def api_token_revoke(*, actor, token: ApiToken) -> ApiToken:
    """The owner revokes one token. Revoking twice changes nothing."""
    authorize(permissions.api_token_revoke, actor, token, can_view=permissions.api_token_revoke)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.revoked_reason = "revoked"
        token.save(update_fields=["revoked_at", "revoked_reason"])
        audit_record(actor=actor, verb="accounts.api_token.revoked", target=token)
    return token


def api_tokens_revoke_all(*, actor, user: User, reason: str) -> int:
    """Revoke every live token of `user` (on a password change or reset); returns how many."""
    authorize(permissions.api_tokens_revoke_all, actor, user)
    with transaction.atomic():
        count = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason[:32]
        )
        if count:
            audit_record(
                actor=actor,
                verb="accounts.api_token.revoked_all",
                target=user,
                after={"reason": reason, "count": count},
            )
    return count

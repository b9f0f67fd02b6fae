from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import Group, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.validators import validate_business_number


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with an e-mail address; belongs to organizations through Membership."""

    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # What the person agreed to at sign-up (이용약관, 개인정보 수집·이용): the versions and when.
    terms_version = models.CharField(_("terms of service agreed to"), max_length=40, blank=True)
    privacy_consent_version = models.CharField(_("privacy consent given to"), max_length=40, blank=True)
    consented_at = models.DateTimeField(_("consent given at"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email


class Organization(models.Model):
    class Kind(models.TextChoices):
        CENTER = "center", _("Data center")
        BUYER = "buyer", _("Buyer")
        OPERATOR = "operator", _("Platform operator")

    class BuyerCategory(models.TextChoices):
        SME = "sme", _("Small or medium enterprise")
        LARGE = "large", _("Large company")
        PUBLIC = "public", _("Public agency")
        RESEARCH = "research", _("Research institution")
        SOLE = "sole_proprietor", _("Sole proprietor")

    class Verification(models.TextChoices):
        PENDING = "pending", _("Pending verification")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name (Korean)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    business_number = models.CharField(
        _("business registration number"),
        max_length=10,
        unique=True,
        validators=[validate_business_number],
        help_text=_("사업자등록번호, 10 digits"),
    )
    buyer_category = models.CharField(
        _("buyer category"), max_length=32, choices=BuyerCategory.choices, blank=True
    )
    verification = models.CharField(
        _("verification"), max_length=16, choices=Verification.choices, default=Verification.PENDING
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    rejection_reason = models.TextField(_("rejection reason"), blank=True)

    class BusinessStatus(models.TextChoices):
        UNCHECKED = "unchecked", _("Not checked")
        ACTIVE = "active", _("In business")
        SUSPENDED = "suspended", _("Temporarily closed (휴업)")
        CLOSED = "closed", _("Closed down (폐업)")

    # What the applicant said at sign-up, and what the operator checked (국세청 휴·폐업 조회).
    applicant_position = models.CharField(_("applicant's position"), max_length=100, blank=True)
    applicant_phone = models.CharField(_("applicant's phone"), max_length=30, blank=True)
    # 사업자등록증 (PDF or image): private storage, never under a public URL; only the
    # organization's managers and operators read it, through `organization_certificate`.
    registration_certificate = models.FileField(
        _("business registration certificate"), upload_to="private/certificates/", blank=True
    )
    business_status = models.CharField(
        _("business status"), max_length=16, choices=BusinessStatus.choices, default=BusinessStatus.UNCHECKED
    )
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="organization", editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="org_buyer_category_only_for_buyers",
                condition=(Q(kind="buyer") & ~Q(buyer_category=""))
                | (~Q(kind="buyer") & Q(buyer_category="")),
            ),
            models.CheckConstraint(
                name="org_verified_has_when",
                condition=~Q(verification="verified") | Q(verified_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verification == self.Verification.VERIFIED


class Membership(models.Model):
    """A user's role in an organization. A user may hold several roles in one organization
    (one row each) and belong to several organizations."""

    class Role(models.TextChoices):
        MANAGER = "manager", _("Manager")
        CURATOR = "curator", _("Curator")
        REVIEWER = "reviewer", _("Reviewer")
        ANALYST = "analyst", _("Analyst")
        OPERATOR = "operator", _("Operator")

    ROLES_BY_KIND = {
        Organization.Kind.CENTER: (Role.MANAGER, Role.CURATOR, Role.REVIEWER),
        Organization.Kind.BUYER: (Role.MANAGER, Role.ANALYST),
        Organization.Kind.OPERATOR: (Role.OPERATOR,),
    }

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization__name", "user__email", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.organization} ({self.get_role_display()})"


class Invitation(models.Model):
    """An offer of a role in an organization, addressed to an e-mail address. Nobody becomes a
    member without accepting: the Membership row is created only then."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        REVOKED = "revoked", _("Revoked")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=16, choices=Membership.Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email", "role"],
                condition=Q(state="pending"),
                name="invitation_one_pending_per_role",
            ),
        ]
        indexes = [models.Index(fields=["email", "state"], name="invitation_email_state")]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.get_role_display()})"

    @property
    def is_expired(self) -> bool:
        return self.state == self.State.PENDING and self.expires_at <= timezone.now()


class ApiToken(models.Model):
    """An API credential with an expiry. Only a digest of the key is stored: the key is shown
    once, when it is made. A token stops working when it expires, is revoked by its owner, or
    the owner's password changes (`password_fingerprint` no longer matches)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    password_fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("why revoked"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

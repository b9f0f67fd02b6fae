from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketplace.jobs import Job
from marketplace.money import VAT_RATE, vat_krw  # noqa: F401 - invoices read them here

# --- Access requests ------------------------------------------------------------------------


class AccessRequest(models.Model):
    """A buyer organization's request for an offer, moving through review to a license.

    Never deleted: rejected, withdrawn and lapsed requests stay readable with their history
    (RequestEvent) and messages (RequestMessage). Only services change `state`."""

    class State(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        CENTER_REVIEW = "center_review", _("In center review")
        OPERATOR_REVIEW = "operator_review", _("In operator review")
        AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
        LICENSED = "licensed", _("Licensed")
        CHANGES_REQUESTED = "changes_requested", _("Changes requested")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LAPSED = "lapsed", _("Lapsed")

    class PurposeCategory(models.TextChoices):
        STATISTICS = "statistics", _("Statistics")
        RESEARCH = "research", _("Research")
        COMMERCIAL = "commercial", _("Commercial analysis")
        PUBLIC_INTEREST = "public_interest", _("Public interest")

    # Not yet ended: at most one per buyer organization and offer (a database constraint).
    OPEN_STATES = (
        State.SUBMITTED,
        State.CENTER_REVIEW,
        State.OPERATOR_REVIEW,
        State.AWAITING_PAYMENT,
        State.CHANGES_REQUESTED,
    )
    # Waiting for a reviewer: these lapse after REQUEST_REVIEW_DEADLINE_DAYS.
    REVIEW_STATES = (State.SUBMITTED, State.CENTER_REVIEW, State.OPERATOR_REVIEW)

    offer = models.ForeignKey(
        "catalog.Offer", verbose_name=_("offer"), on_delete=models.PROTECT, related_name="access_requests"
    )
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("buyer organization"),
        on_delete=models.PROTECT,
        related_name="access_requests",
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requester"), on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.SUBMITTED)
    state_changed_at = models.DateTimeField(_("state changed at"), db_index=True)
    scope = models.JSONField(_("scope (as approved so far)"), default=dict)
    requested_scope = models.JSONField(_("scope as requested"), default=dict)
    # The offer's privacy policy and terms at the last approval: what the center edits later does
    # not change an approved request (catalog.selectors.offer_snapshot).
    offer_snapshot = models.JSONField(_("offer as approved"), default=dict, blank=True)
    purpose = models.TextField(_("purpose"))
    purpose_category = models.CharField(_("purpose category"), max_length=20, choices=PurposeCategory.choices)
    terms = models.ForeignKey(
        "catalog.LicenseTerms", verbose_name=_("accepted terms"), on_delete=models.PROTECT, related_name="+"
    )
    terms_sha256 = models.CharField(_("accepted terms SHA-256"), max_length=64)
    terms_accepted_at = models.DateTimeField(_("terms accepted at"))
    renewal_of = models.ForeignKey(
        "transactions.License",
        verbose_name=_("renews license"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal_requests",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "offer"],
                condition=Q(
                    state__in=[
                        "submitted",
                        "center_review",
                        "operator_review",
                        "awaiting_payment",
                        "changes_requested",
                    ]
                ),
                name="access_request_one_open_per_org_offer",
            ),
        ]
        indexes = [models.Index(fields=["state", "state_changed_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.organization} → {self.offer}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class RequestEvent(models.Model):
    """One step in a request's history: who moved it from which state to which, when and why.
    Append-only."""

    class Action(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        QUEUED = "queued", _("Sent to review")
        APPROVED = "approved", _("Approved")
        RETURNED = "returned", _("Returned for changes")
        UPDATED = "updated", _("Edited")
        RESUBMITTED = "resubmitted", _("Resubmitted")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LAPSED = "lapsed", _("Lapsed")
        INVOICED = "invoiced", _("Invoice issued")
        PAID = "paid", _("Paid")
        INVOICE_VOIDED = "invoice_voided", _("Invoice voided")

    access_request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    from_state = models.CharField(_("from"), max_length=20, blank=True)
    to_state = models.CharField(_("to"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(_("actor"), max_length=254)
    actor_organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note or reason"), blank=True)
    scope_diff = models.JSONField(_("scope narrowed"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        ordering = ["access_request", "created_at", "id"]

    def __str__(self) -> str:
        return f"#{self.access_request_id} {self.from_state or '-'} → {self.to_state} ({self.action})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("Request events are append-only.")
        super().save(*args, **kwargs)


class RequestMessage(models.Model):
    """A message between the buyer, the center and operators about one request. Kept forever."""

    access_request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("on behalf of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    class Meta:
        verbose_name = _("request message")
        verbose_name_plural = _("request messages")
        ordering = ["access_request", "created_at", "id"]

    def __str__(self) -> str:
        return f"#{self.access_request_id} {self.author}: {self.body[:40]}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("Messages are never edited.")
        super().save(*args, **kwargs)


# --- Invoices -------------------------------------------------------------------------------


class InvoiceSequence(models.Model):
    """The last invoice number issued in a year; locked while the next is taken, so numbers
    are sequential without gaps (a rolled-back issue rolls the counter back too)."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("invoice number sequence")
        verbose_name_plural = _("invoice number sequences")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Invoice(models.Model):
    class State(models.TextChoices):
        ISSUED = "issued", _("Issued")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")

    number = models.CharField(_("number"), max_length=20, unique=True)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("sequence"))
    access_request = models.OneToOneField(
        AccessRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="invoice"
    )
    organization = models.ForeignKey(
        "accounts.Organization",
        verbose_name=_("billed to"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    supply_krw = models.PositiveBigIntegerField(_("supply amount (KRW)"))
    vat_krw = models.PositiveBigIntegerField(_("VAT (KRW)"))
    total_krw = models.PositiveBigIntegerField(_("total (KRW)"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.ISSUED)
    provider = models.CharField(_("payment method"), max_length=32, default="bank_transfer")
    issued_at = models.DateTimeField(_("issued at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("payment recorded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    paid_reference = models.CharField(_("payment reference"), max_length=200, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, null=True, blank=True, unique=True
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    void_reason = models.TextField(_("reason for voiding"), blank=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoice_unique_sequence"),
            models.CheckConstraint(
                name="invoice_total_is_supply_plus_vat",
                condition=Q(total_krw=models.F("supply_krw") + models.F("vat_krw")),
            ),
            models.CheckConstraint(
                name="invoice_paid_has_when", condition=~Q(state="paid") | Q(paid_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.number


# --- Licenses -------------------------------------------------------------------------------


class License(models.Model):
    """What a buyer organization may receive: a snapshot taken at issue, so later edits to the
    offer, its terms or the request do not change it."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    access_request = models.OneToOneField(
        AccessRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="license"
    )
    organization = models.ForeignKey(
        "accounts.Organization", verbose_name=_("licensee"), on_delete=models.PROTECT, related_name="licenses"
    )
    offer = models.ForeignKey(
        "catalog.Offer", verbose_name=_("offer"), on_delete=models.PROTECT, related_name="licenses"
    )
    dataset = models.ForeignKey(
        "catalog.Dataset", verbose_name=_("dataset"), on_delete=models.PROTECT, related_name="licenses"
    )
    scope = models.JSONField(_("licensed scope"))
    offer_snapshot = models.JSONField(_("offer at issue"))
    terms_text = models.TextField(_("terms"))
    terms_sha256 = models.CharField(_("terms SHA-256"), max_length=64)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), db_index=True)
    download_quota = models.PositiveIntegerField(_("download quota"))
    downloads_used = models.PositiveIntegerField(_("downloads used"), default=0)
    deliver_updates = models.BooleanField(_("new versions delivered"))
    # The key of the keyed hash that pseudonymizes identifiers for this license only lives
    # encrypted in `LicenseKey` (transactions.keystore), apart from the data.
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.ACTIVE)
    revoked_reason = models.TextField(_("reason for revocation"), blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    expired_at = models.DateTimeField(_("expired at"), null=True, blank=True)
    reminder_sent_at = models.DateTimeField(_("renewal reminder sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("license")
        verbose_name_plural = _("licenses")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="license_window_order", condition=Q(valid_until__gt=models.F("valid_from"))
            ),
            models.CheckConstraint(
                name="license_quota_respected", condition=Q(downloads_used__lte=models.F("download_quota"))
            ),
            models.CheckConstraint(
                name="license_revoked_has_reason", condition=~Q(state="revoked") | ~Q(revoked_reason="")
            ),
        ]
        indexes = [models.Index(fields=["state", "valid_until"])]

    def __str__(self) -> str:
        return f"License #{self.pk} {self.organization} — {self.offer}"


def license_is_usable(license: License, at=None) -> bool:
    """Downloads are allowed: active, inside the validity window, quota left."""
    at = at or timezone.now()
    return (
        license.state == License.State.ACTIVE
        and license.valid_from <= at < license.valid_until
        and license.downloads_used < license.download_quota
    )


def license_is_active_now(license: License, at=None) -> bool:
    """A file may be built for it: active and inside its window (the quota counts downloads,
    not builds)."""
    at = at or timezone.now()
    return license.state == License.State.ACTIVE and license.valid_from <= at < license.valid_until


class LicenseKey(models.Model):
    """A license's HMAC key, encrypted (envelope encryption, transactions.keystore): the key
    under a per-license data key, the data key wrapped under the key-encryption key named by
    `kek_id`. No foreign key, so the key store can be a database of its own."""

    license_id = models.BigIntegerField(unique=True)
    kek_id = models.CharField(max_length=64, db_index=True)
    wrapped_dek = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("license key (encrypted)")
        verbose_name_plural = _("license keys (encrypted)")

    def __str__(self) -> str:
        return f"key of license #{self.license_id} (KEK {self.kek_id})"


class DownloadEvent(models.Model):
    """One download under a license: who, which extract, how much, from where."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="downloads")
    extract_id = models.BigIntegerField(_("extract"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    bytes = models.BigIntegerField(_("bytes"), default=0)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("download")
        verbose_name_plural = _("downloads")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} license #{self.license_id}"


# --- Notifications --------------------------------------------------------------------------


class Notification(models.Model):
    """Something a person must act on or know about, shown in the app (unread count) and
    e-mailed once (`emailed_at`)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    verb = models.CharField(_("event"), max_length=40)
    params = models.JSONField(default=dict, blank=True)
    title = models.CharField(_("title"), max_length=255)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=255, blank=True)
    access_request = models.ForeignKey(
        AccessRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    license = models.ForeignKey(License, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.title}"


# --- Extracts ---------------------------------------------------------------------------------


class Extract(Job):
    """One delivered file: a license's scope of one dataset version in one format, built by a
    worker (a job, `marketplace.jobs`). The recipe (query, parameters, source hash, engine
    version) rebuilds it byte for byte; it stays after the file is purged."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    QUEUED, RUNNING, SUCCEEDED, FAILED = Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED
    DONE = (Status.EXPIRED,)
    SETTINGS_PREFIX = "EXTRACT"
    GAVE_UP = _("The file could not be built after %(n)s attempts.")

    class Format(models.TextChoices):
        CSV = "csv", _("CSV (UTF-8)")
        CSV_BOM = "csv_bom", _("CSV for Excel (UTF-8 with BOM)")
        PARQUET = "parquet", _("Parquet")
        JSONL = "jsonl", _("JSON Lines")
        XLSX = "xlsx", _("Excel (XLSX)")

    license = models.ForeignKey(
        License, verbose_name=_("license"), on_delete=models.PROTECT, related_name="extracts"
    )
    version = models.ForeignKey(
        "catalog.DatasetVersion",
        verbose_name=_("dataset version"),
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Header(models.TextChoices):
        TITLES = "titles", _("Column titles (Korean)")
        NAMES = "names", _("Column names")

    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    header = models.CharField(_("header row"), max_length=8, choices=Header.choices, default=Header.NAMES)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    row_count = models.BigIntegerField(_("rows"), null=True, blank=True)
    bytes = models.BigIntegerField(_("bytes"), null=True, blank=True)
    sha256 = models.CharField(_("data file SHA-256"), max_length=64, blank=True)
    bundle_bytes = models.BigIntegerField(_("bundle bytes"), null=True, blank=True)
    bundle_sha256 = models.CharField(_("bundle SHA-256"), max_length=64, blank=True)
    file = models.CharField(_("stored bundle"), max_length=300, blank=True)
    file_name = models.CharField(_("download name"), max_length=255, blank=True)
    recipe = models.JSONField(_("recipe"), default=dict, blank=True)
    recipe_sha256 = models.CharField(_("recipe SHA-256"), max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    purged_at = models.DateTimeField(_("file purged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("extract")
        verbose_name_plural = _("extracts")
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "version", "format", "header"], name="extract_one_per_format_header"
            ),
            models.CheckConstraint(
                name="extract_progress_0_100", condition=Q(progress__gte=0, progress__lte=100)
            ),
            models.CheckConstraint(
                name="extract_succeeded_has_file",
                condition=~Q(status="succeeded") | (~Q(file="") & ~Q(bundle_sha256="")),
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"Extract #{self.pk} ({self.get_format_display()}) of license #{self.license_id}"

    @classmethod
    def job_lock(cls, pk: int):
        return (
            cls.objects.select_for_update(of=("self",))
            .select_related("license__organization", "license__dataset__center", "version")
            .get(pk=pk)
        )


class DisclosureRelease(models.Model):
    """The disclosure ledger: one aggregate table of one dataset version that a buyer
    organization holds (through a license, for the version it was issued on or an extract built
    from). A new request is checked against every table the organization holds of the same
    version (`transactions.ledger`), so that no combination isolates a small group."""

    organization = models.ForeignKey(
        "accounts.Organization", verbose_name=_("organization"), on_delete=models.CASCADE, related_name="+"
    )
    dataset = models.ForeignKey(
        "catalog.Dataset", verbose_name=_("dataset"), on_delete=models.CASCADE, related_name="+"
    )
    version = models.ForeignKey(
        "catalog.DatasetVersion", verbose_name=_("version"), on_delete=models.CASCADE, related_name="+"
    )
    license = models.ForeignKey(
        License, verbose_name=_("license"), on_delete=models.CASCADE, related_name="releases"
    )
    policy = models.JSONField(_("offer policy"))
    scope = models.JSONField(_("scope"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("disclosure ledger entry")
        verbose_name_plural = _("disclosure ledger")
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["license", "version"], name="release_one_per_license_version")
        ]
        indexes = [models.Index(fields=["organization", "version"])]

    def __str__(self) -> str:
        return f"Release of license #{self.license_id} on version #{self.version_id}"

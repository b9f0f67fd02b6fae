from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.policy import OfferPolicy
from catalog.vocabularies import Theme, UpdateFrequency
from marketplace.jobs import Job


class Sensitivity(models.TextChoices):
    PUBLIC = "public", _("Public")
    QUASI_IDENTIFIER = "quasi_identifier", _("Quasi-identifier")
    IDENTIFIER = "identifier", _("Identifier")
    EXCLUDED = "excluded", _("Excluded")


class PeriodUnit(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class Dataset(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    center = models.ForeignKey(
        "accounts.Organization", verbose_name=_("center"), on_delete=models.PROTECT, related_name="datasets"
    )
    slug = models.SlugField(_("slug"), max_length=120, unique=True, allow_unicode=True)
    title = models.CharField(_("title (Korean)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    summary = models.CharField(_("summary (Korean)"), max_length=500, blank=True)
    summary_en = models.CharField(_("summary (English)"), max_length=500, blank=True)
    description = models.TextField(_("description (Korean, Markdown)"), blank=True)
    description_en = models.TextField(_("description (English, Markdown)"), blank=True)
    theme = models.CharField(_("theme"), max_length=32, choices=Theme.choices, default=Theme.OTHER)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    regions = models.JSONField(_("spatial coverage (시·군 codes)"), default=list, blank=True)
    temporal_start = models.DateField(_("coverage from"), null=True, blank=True)
    temporal_end = models.DateField(_("coverage until"), null=True, blank=True)
    update_frequency = models.CharField(
        _("update frequency"),
        max_length=16,
        choices=UpdateFrequency.choices,
        default=UpdateFrequency.IRREGULAR,
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    deliver_updates = models.BooleanField(_("licensees receive new versions"), default=True)

    class Subjects(models.TextChoices):
        PERSONS = "persons", _("People (personal data)")
        BUSINESSES = "businesses", _("Businesses and institutions (no personal data)")

    # Whom the records describe. The re-identification threshold of record-level offers guards
    # people; a register of businesses (names, addresses, industries, as public registers show
    # them) is not held to it. Only an operator declares a dataset to be about businesses.
    subjects = models.CharField(
        _("data subjects"), max_length=16, choices=Subjects.choices, default=Subjects.PERSONS
    )
    # Partitioned storage (issue 16): with a period column, a version is a manifest of Hive-style
    # Parquet files, one per period (and region, when set), shared between versions.
    period_field = models.CharField(
        _("period column (partitions the data)"),
        max_length=255,
        blank=True,
        help_text=_(
            "A date column. When set, each version is stored as one file per period and can be appended to."
        ),
    )
    period_unit = models.CharField(
        _("partition period"), max_length=8, choices=PeriodUnit.choices, default=PeriodUnit.MONTH
    )
    partition_region_field = models.CharField(
        _("region column (partitions the data)"), max_length=255, blank=True
    )
    current_version = models.OneToOneField(
        "catalog.DatasetVersion",
        verbose_name=_("published version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="current_of",
    )
    featured = models.BooleanField(_("featured"), default=False)
    # Titles, summaries, keywords and the center's name in one column: what search matches
    # (trigram-indexed on PostgreSQL so Korean substrings are found fast).
    search_text = models.TextField(editable=False, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    published_at = models.DateTimeField(_("first published at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["status", "theme"]), models.Index(fields=["center", "status"])]
        constraints = [
            models.CheckConstraint(
                name="dataset_published_has_version",
                condition=~Q(status="published") | Q(current_version__isnull=False),
            ),
            models.CheckConstraint(
                name="dataset_temporal_order",
                condition=Q(temporal_start__isnull=True)
                | Q(temporal_end__isnull=True)
                | Q(temporal_start__lte=models.F("temporal_end")),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DatasetRegion(models.Model):
    """One 시·군 a dataset covers: a row per code so region filters and facets are plain joins."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="region_rows")
    code = models.CharField(max_length=5, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "code"], name="dataset_region_unique")]

    def __str__(self) -> str:
        return self.code


class UploadMode(models.TextChoices):
    REPLACE = "replace", _("Replace")
    APPEND = "append", _("Append")


def version_upload_to(instance: DatasetVersion, filename: str) -> str:
    # The stored name never comes from the client (path traversal, NUL, odd characters):
    # the original name is kept in a field for display only.
    return f"datasets/{instance.dataset_id}/uploads/{instance.storage_token}.bin"


def translated_error(error: str, detail: dict | None) -> str:
    """A job's error in the reader's language, from its English template and values."""
    from django.utils.translation import gettext

    template = (detail or {}).get("template")
    if not template:
        return gettext(error) if error else ""
    try:
        return gettext(template) % (detail.get("params") or {})
    except (KeyError, TypeError, ValueError):
        return error


class DatasetVersion(Job):
    """One uploaded release of a dataset; its ingestion is a job (`marketplace.jobs`)."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        INGESTING = "ingesting", _("Ingesting")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        PUBLISHED = "published", _("Published")

    QUEUED, RUNNING, SUCCEEDED, FAILED = Status.UPLOADED, Status.INGESTING, Status.READY, Status.FAILED
    DONE = (Status.PUBLISHED,)
    SETTINGS_PREFIX = "INGEST"
    # A version's message is redelivered only when its worker died (acks_late).
    RESTART_RUNNING = True
    GAVE_UP = _("Ingestion did not finish after %(n)s attempts. Try uploading again.")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    storage_token = models.CharField(max_length=32, editable=False)
    source = models.FileField(_("uploaded file"), upload_to=version_upload_to, max_length=300)
    original_filename = models.CharField(_("file name"), max_length=255)
    source_bytes = models.BigIntegerField(_("uploaded size"), default=0)
    source_sha256 = models.CharField(_("uploaded file SHA-256"), max_length=64, blank=True)
    file_kind = models.CharField(_("file type"), max_length=16, blank=True)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    dialect = models.JSONField(_("CSV dialect"), default=dict, blank=True)
    parquet = models.CharField(_("Parquet location"), max_length=300, blank=True)
    parquet_bytes = models.BigIntegerField(_("Parquet size"), default=0)
    parquet_sha256 = models.CharField(_("Parquet SHA-256"), max_length=64, blank=True)
    # The cell-key noise's seed (catalog.privacy): carried from the dataset's current version to
    # every new one, so that a cell whose subjects did not change keeps its noise in every version
    # (a buyer who receives each month's rebuilt table cannot average the noise away). A new
    # dataset draws a secret keyed one (privacy.KEYED_NOISE: record keys any engine computes);
    # versions from before it was carried keep their own (their Parquet SHA-256), so nothing
    # already released changes. Never shown.
    noise_seed = models.CharField(max_length=64, blank=True, editable=False)
    row_count = models.BigIntegerField(_("rows"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.UPLOADED)
    attempts = models.PositiveSmallIntegerField(_("ingestion attempts"), default=0)
    error_row = models.BigIntegerField(_("error row"), null=True, blank=True)
    error_column = models.CharField(_("error column"), max_length=255, blank=True)
    # The ingestion error as an English template and its values, so each reader gets it in
    # their own language (`error` keeps the English text).
    error_detail = models.JSONField(_("error detail"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    # The job's times, in the columns they had before jobs shared one model.
    started_at = models.DateTimeField(
        _("ingestion started"), null=True, blank=True, db_column="ingest_started_at"
    )
    finished_at = models.DateTimeField(
        _("ingestion finished"), null=True, blank=True, db_column="ingest_finished_at"
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Partitioned versions: the files they are made of (empty for a single-file version, whose
    # `parquet` is the file itself; for a partitioned one `parquet` names its manifest).
    mode = models.CharField(
        _("upload mode"), max_length=8, choices=UploadMode.choices, default=UploadMode.REPLACE
    )
    replace_periods = models.BooleanField(_("replace overlapping periods"), default=False)
    base_version = models.ForeignKey(
        "self",
        verbose_name=_("appended to"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    parts = models.ManyToManyField("catalog.DatasetPart", related_name="versions", blank=True)

    class Meta:
        verbose_name = _("dataset version")
        verbose_name_plural = _("dataset versions")
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_unique_number"),
            models.CheckConstraint(
                name="version_progress_0_100", condition=Q(progress__gte=0, progress__lte=100)
            ),
            models.CheckConstraint(
                name="version_published_is_complete",
                condition=~Q(status__in=["ready", "published"]) | Q(row_count__isnull=False) & ~Q(parquet=""),
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"], name="catalog_dat_status_f289ad_idx")]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    @classmethod
    def job_lock(cls, pk: int):
        return cls.objects.select_for_update(of=("self",)).select_related("dataset__center").get(pk=pk)

    def job_claimed_fields(self) -> list[str]:
        self.error_row, self.error_column = None, ""
        return ["error_row", "error_column"]

    @property
    def error_text(self) -> str:
        """The failure in the reader's language."""
        text = translated_error(self.error, self.error_detail)
        # An imported file's error names the file (a join's error names it in its text).
        file = (self.error_detail or {}).get("file")
        return f"{file}: {text}" if file and file not in text else text

    @property
    def is_current(self) -> bool:
        return self.dataset.current_version_id == self.pk

    @property
    def cell_key_seed(self) -> str:
        """The seed every route protecting this version's aggregates uses (`noise_seed`; a
        version made outside the services has none and uses its content's hash or its id)."""
        return self.noise_seed or self.parquet_sha256 or f"version:{self.pk}"


class VersionSource(Job):
    """One file of a version imported from object storage (`source_uris`). Each is ingested by
    its own task, in parallel; the last to finish queues the step that joins them into the
    version (a chord counted in PostgreSQL: the broker keeps no results). `result` holds what
    the join needs: the file's columns, rows, encoding, profile and partition files."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Ingesting")
        DONE = "done", _("Ingested")
        FAILED = "failed", _("Failed")

    QUEUED, RUNNING, SUCCEEDED, FAILED = Status.QUEUED, Status.RUNNING, Status.DONE, Status.FAILED
    SETTINGS_PREFIX = "INGEST"
    GAVE_UP = _("Ingesting this file did not finish after %(n)s attempts.")

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="sources")
    position = models.PositiveIntegerField(_("position"))
    uri = models.CharField(_("source URI"), max_length=1100)
    key = models.CharField(_("object key"), max_length=1024)
    etag = models.CharField(_("ETag"), max_length=200)
    bytes = models.BigIntegerField(_("size"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error_detail = models.JSONField(_("error detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("imported file")
        verbose_name_plural = _("imported files")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="source_unique_position"),
            models.CheckConstraint(
                name="source_progress_0_100", condition=Q(progress__gte=0, progress__lte=100)
            ),
        ]

    def __str__(self) -> str:
        return self.uri

    @property
    def name(self) -> str:
        """The file's name, without its folders."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def error_text(self) -> str:
        return translated_error(self.error, self.error_detail)


class ResumableUpload(models.Model):
    """A file arriving in pieces over the tus protocol (catalog/tus.py), for a version of one
    dataset: beyond the single-request upload limit, and resumable after a dropped connection.
    The bytes received so far are a file on the server's disk; its size is the upload's
    offset. Once complete it becomes a version (`upload` on the versions endpoint); an upload
    left untouched past `expires_at` is removed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.BigIntegerField(_("size"))
    filename = models.CharField(_("file name"), max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("resumable upload")
        verbose_name_plural = _("resumable uploads")
        constraints = [models.CheckConstraint(name="resumable_length_positive", condition=Q(length__gt=0))]

    def __str__(self) -> str:
        return f"{self.filename} ({self.length:,} B)"

    @property
    def path(self) -> Path:
        return Path(settings.RESUMABLE_UPLOAD_DIR) / f"{self.pk}.part"

    @property
    def offset(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


class DatasetPart(models.Model):
    """One Parquet file of a partitioned dataset: one period (and region) of one upload. Files
    are never rewritten; versions share them (copy on write), so a new month adds files and
    links the rest."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="parts")
    path = models.CharField(_("storage name"), max_length=400, unique=True)
    period = models.CharField(_("period"), max_length=32, blank=True)
    region = models.CharField(_("region"), max_length=255, blank=True)
    rows = models.BigIntegerField(_("rows"))
    bytes = models.BigIntegerField(_("bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    date_min = models.DateField(_("first date"), null=True, blank=True)
    date_max = models.DateField(_("last date"), null=True, blank=True)
    region_min = models.CharField(_("lowest region"), max_length=255, null=True, blank=True)
    region_max = models.CharField(_("highest region"), max_length=255, null=True, blank=True)
    created_by_version = models.ForeignKey(
        DatasetVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="new_parts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("partition file")
        verbose_name_plural = _("partition files")
        ordering = ["dataset", "path"]
        indexes = [models.Index(fields=["dataset", "period"])]
        constraints = [
            models.CheckConstraint(name="part_rows_bytes_positive", condition=Q(rows__gte=0, bytes__gte=0))
        ]

    def __str__(self) -> str:
        return self.path


class Field(models.Model):
    class Type(models.TextChoices):
        STRING = "string", _("Text")
        INTEGER = "integer", _("Integer")
        NUMBER = "number", _("Number")
        BOOLEAN = "boolean", _("Boolean")
        DATE = "date", _("Date")
        DATETIME = "datetime", _("Date and time")

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="fields")
    position = models.PositiveIntegerField(_("position"))
    name = models.CharField(_("column name"), max_length=255)
    title = models.CharField(_("title"), max_length=255, blank=True)
    description = models.TextField(_("description"), blank=True)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    duckdb_type = models.CharField(max_length=64, blank=True)
    sensitivity = models.CharField(
        _("sensitivity"), max_length=20, choices=Sensitivity.choices, default=Sensitivity.PUBLIC
    )
    suggested_sensitivity = models.CharField(
        _("suggested sensitivity"), max_length=20, choices=Sensitivity.choices, default=Sensitivity.PUBLIC
    )
    profile = models.JSONField(_("profile"), default=dict, blank=True)

    class Meta:
        verbose_name = _("field")
        verbose_name_plural = _("fields")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="field_unique_name"),
            models.UniqueConstraint(fields=["version", "position"], name="field_unique_position"),
        ]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """What can be licensed from a dataset, and on which terms."""

    class Kind(models.TextChoices):
        RECORDS = "records", _("Record-level")
        AGGREGATE = "aggregate", _("Aggregate")

    class Approval(models.TextChoices):
        AUTOMATIC = "automatic", _("Automatic")
        CENTER = "center", _("Center review")
        CENTER_OPERATOR = "center_operator", _("Center, then operator review")

    class Granularity(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")
        QUARTER = "quarter", _("Quarter")
        YEAR = "year", _("Year")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="offers")
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    fields = models.JSONField(_("fields a buyer may choose"), default=list)
    region_field = models.CharField(_("region filter field"), max_length=255, blank=True)
    date_field = models.CharField(_("date filter field"), max_length=255, blank=True)
    dimensions = models.JSONField(_("aggregate dimensions"), default=list, blank=True)
    measures = models.JSONField(_("aggregate measures"), default=list, blank=True)
    subject_field = models.CharField(_("subject field (counted for k)"), max_length=255, blank=True)
    dominance_field = models.CharField(_("dominance field (e.g. merchant)"), max_length=255, blank=True)
    k = models.PositiveIntegerField(_("minimum group size k"), default=5, validators=[MinValueValidator(3)])
    p_percent = models.PositiveSmallIntegerField(
        _("p% rule (percent)"),
        default=10,
        validators=[MinValueValidator(5), MaxValueValidator(50)],
        help_text=_(
            "A cell is suppressed when its other contributors add up to less than p% of the largest."
        ),
    )
    extremes_allowed = models.BooleanField(
        _("allow minimum and maximum values"),
        default=False,
        help_text=_("Minimum and maximum measures publish a single record's value."),
    )
    dominance = models.DecimalField(
        _("dominance share"),
        max_digits=4,
        decimal_places=3,
        default="0.850",
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    date_granularity = models.CharField(
        _("finest date granularity"), max_length=16, choices=Granularity.choices, default=Granularity.MONTH
    )
    quasi_identifiers_allowed = models.BooleanField(_("deliver quasi-identifiers"), default=False)
    # catalog.treatments.RecordTreatments as JSON; {} = no treatment.
    treatments = models.JSONField(_("record treatments"), default=dict, blank=True)
    # The last risk report (catalog.risk.RiskReport as JSON) over the offer's planned output.
    risk_report = models.JSONField(_("risk report"), null=True, blank=True)
    risk_computed_at = models.DateTimeField(_("risk computed at"), null=True, blank=True)
    risk_version = models.ForeignKey(
        "catalog.DatasetVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    risk_passes = models.BooleanField(_("risk under threshold"), null=True, blank=True)
    # A measurement a worker owes (large versions, see catalog.services.risk_measurement):
    # its token (a later one supersedes it), since when, and whether the offer opens if it passes.
    risk_token = models.UUIDField(null=True, blank=True, editable=False)
    risk_measuring_since = models.DateTimeField(_("risk being measured since"), null=True, blank=True)
    open_when_measured = models.BooleanField(_("open for requests once measured"), default=False)
    risk_progress = models.PositiveSmallIntegerField(
        _("risk measurement progress (%)"), null=True, blank=True
    )
    # Written with each step of progress: a measurement silent for long is taken for lost.
    risk_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last measurement failed in DuckDB (out of memory or disk, a damaged file): when.
    risk_failed_at = models.DateTimeField(_("risk measurement failed at"), null=True, blank=True)
    approval = models.CharField(
        _("approval"), max_length=20, choices=Approval.choices, default=Approval.CENTER
    )
    buyer_categories = models.JSONField(_("eligible buyer categories"), default=list, blank=True)
    price_krw = models.PositiveBigIntegerField(_("price (KRW, before VAT)"), default=0)
    duration_days = models.PositiveIntegerField(_("license duration (days)"), default=365)
    download_quota = models.PositiveIntegerField(_("download quota"), default=10)
    deliver_updates = models.BooleanField(_("deliver new versions"), default=True)
    current_terms = models.ForeignKey(
        "catalog.LicenseTerms", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("open for requests"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["dataset", "price_krw", "id"]
        constraints = [
            models.CheckConstraint(name="offer_k_at_least_3", condition=Q(k__gte=3)),
            models.CheckConstraint(
                name="offer_p_percent_bounds", condition=Q(p_percent__gte=5, p_percent__lte=50)
            ),
            models.CheckConstraint(
                name="offer_dominance_share", condition=Q(dominance__gte=0, dominance__lte=1)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} — {self.name}"

    @property
    def is_free(self) -> bool:
        return self.price_krw == 0

    @property
    def policy(self) -> OfferPolicy:
        """The offer's privacy policy as the planner reads it."""
        return OfferPolicy.from_offer(self)

    @property
    def risk_status(self) -> str:
        """ "measuring" while a worker owes the risk report, "measured" once there is one,
        "failed" when the last measurement failed on the data, else "not_measured" (aggregates,
        no data)."""
        if self.risk_token:
            return "measuring"
        if self.risk_report:
            return "measured"
        return "failed" if self.risk_failed_at else "not_measured"


class LicenseTerms(models.Model):
    """One version of an offer's license text. Never edited: new terms are a new row, so
    licenses already issued keep the text they were granted under."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="terms_versions")
    version = models.PositiveIntegerField()
    text = models.TextField(_("terms"))
    sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("license terms")
        verbose_name_plural = _("license terms")
        ordering = ["offer", "-version"]
        constraints = [models.UniqueConstraint(fields=["offer", "version"], name="terms_unique_version")]

    def __str__(self) -> str:
        return f"{self.offer} terms v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("License terms are immutable; create a new version.")
        self.sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        super().save(*args, **kwargs)


class DatasetView(models.Model):
    """One view of a dataset page (provider analytics); no personal data kept."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="views")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    viewed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["dataset", "viewed_at"])]

    def __str__(self) -> str:
        return f"{self.dataset_id} @ {self.viewed_at:%Y-%m-%d %H:%M}"


class RiskThresholdSetting(models.Model):
    """The operator's ceiling for record-level offers (one row; defaults from
    `catalog.risk.RiskThreshold` while there is none)."""

    min_k = models.PositiveIntegerField(_("minimum k-anonymity"), default=5)
    max_sample_uniqueness = models.FloatField(
        _("maximum sample uniqueness"), default=0.01, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    max_unicity = models.FloatField(
        _("maximum trajectory unicity"), default=0.10, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    max_linkage = models.FloatField(
        _("maximum cross-license linkage"),
        default=0.05,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("risk threshold")
        verbose_name_plural = _("risk thresholds")

    def __str__(self) -> str:
        return f"k>={self.min_k}, uniques<={self.max_sample_uniqueness}, unicity<={self.max_unicity}"

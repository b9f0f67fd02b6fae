"""Open statistics releases and the map they are drawn on.

A `Release` is what a center publishes once: which dataset, which dimensions and measures,
under which privacy rules, with a method note. Each computation of it from one published
version of the dataset is an `Edition` (the release's version), whose cells are materialized
as `Cell` rows: pages and the API read them, never the data files. A release follows its
dataset: every newly published version gives a new edition (a Celery job).

`BoundarySet` and `RegionShape` hold the 시·군 boundaries an operator imported
(`manage.py import_boundaries`), already projected and simplified to SVG paths."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def _english() -> bool:
    return (get_language() or "ko").startswith("en")


class Feature(models.TextChoices):
    """Which view of the insight pages a release feeds (at most one live release each)."""

    SPEND_REGION = "spend_region", _("Spending by city or county")
    SPEND_MONTH = "spend_month", _("Monthly spending in Gyeonggi")
    SPEND_INDUSTRY = "spend_industry", _("Spending by industry")
    SPEND_AGE_SEX = "spend_age_sex", _("Spending by age band and sex")
    SPEND_WEEKDAY_HOUR = "spend_weekday_hour", _("Spending by weekday and hour")
    SPEND_REGION_MONTH = "spend_region_month", _("Monthly spending by city or county")
    SPEND_REGION_INDUSTRY = "spend_region_industry", _("Spending by city or county and industry")
    SPEND_REGION_AGE_SEX = "spend_region_age_sex", _("Spending by city or county, age band and sex")
    SPEND_REGION_WEEKDAY = "spend_region_weekday", _("Spending by city or county and weekday")
    SPEND_REGION_HOUR = "spend_region_hour", _("Spending by city or county and hour")
    SPEND_INDUSTRY_MONTH = "spend_industry_month", _("Monthly spending by industry")
    SPEND_REGION_INDUSTRY_MONTH = (
        "spend_region_industry_month",
        _("Monthly spending by city or county and industry"),
    )
    SPEND_REGION_INDUSTRY_WEEKDAY = (
        "spend_region_industry_weekday",
        _("Spending by city or county, industry and weekday"),
    )
    SPEND_REGION_INDUSTRY_HOUR = (
        "spend_region_industry_hour",
        _("Spending by city or county, industry and hour"),
    )
    JOBS_REGION = "jobs_region", _("Job postings and offered wages by city or county")
    OFFICIAL_CURRENCY_USE = (
        "official_currency_use",
        _("Local-currency cards issued and used by city or county (official statistics)"),
    )
    COMPANIES_INDUSTRY_SIZE = "companies_industry_size", _("Companies by industry and size")


class Release(models.Model):
    class Status(models.TextChoices):
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    class Source(models.TextChoices):
        COMPUTED = "computed", _("Computed by Jangteo's privacy engine")
        OFFICIAL = "official", _("Official statistics, as published")

    slug = models.SlugField(_("identifier"), max_length=80, unique=True)
    # Computed releases come from the privacy engine over a dataset's records; official ones are
    # figures a public body has already published (aggregates), loaded by an operator as they are.
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.COMPUTED)
    attribution = models.CharField(_("attribution"), max_length=300, blank=True)
    dataset = models.ForeignKey(
        "catalog.Dataset",
        on_delete=models.CASCADE,
        related_name="insight_releases",
        verbose_name=_("dataset"),
    )
    feature = models.CharField(_("shown as"), max_length=40, choices=Feature.choices, blank=True)
    title = models.CharField(_("title"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    method = models.TextField(_("method note"), blank=True)
    method_en = models.TextField(_("method note (English)"), blank=True)
    # [{"name": "month", "field": "approved_at", "transform": "month"}, …]
    dimensions = models.JSONField(_("dimensions"), default=list)
    # [{"field": "amount", "agg": "sum"}, …]; every release also counts records
    measures = models.JSONField(_("measures"), default=list)
    subject_field = models.CharField(_("subject field"), max_length=255, blank=True)
    dominance_field = models.CharField(_("dominance field"), max_length=255, blank=True)
    date_field = models.CharField(_("date field"), max_length=255, blank=True)
    k = models.PositiveSmallIntegerField(_("minimum distinct subjects per cell"), default=5)
    p_percent = models.PositiveSmallIntegerField(_("p% rule"), default=10)
    dominance = models.DecimalField(
        _("largest contributor's share"), max_digits=4, decimal_places=3, default=0.85
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    current = models.ForeignKey(
        "insights.Edition", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("open statistics release")
        verbose_name_plural = _("open statistics releases")
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["feature"],
                condition=Q(status="published") & ~Q(feature=""),
                name="insights_release_one_live_per_feature",
            ),
            # the privacy engine's bounds (catalog.policy): no value can switch a rule off
            models.CheckConstraint(condition=Q(k__gte=3), name="insights_release_k_at_least_3"),
            models.CheckConstraint(
                condition=Q(p_percent__gte=5) & Q(p_percent__lte=50), name="insights_release_p_percent"
            ),
            models.CheckConstraint(
                condition=Q(dominance__gte=0.5) & Q(dominance__lte=0.95),
                name="insights_release_dominance_share",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def label(self) -> str:
        return self.title_en if _english() and self.title_en else self.title

    @property
    def method_label(self) -> str:
        return self.method_en if _english() and self.method_en else self.method

    @property
    def dimension_names(self) -> list[str]:
        return [d["name"] for d in self.dimensions]

    @property
    def measure_names(self) -> list[str]:
        return ["records", *(f"{m['agg']}_{m['field']}" for m in self.measures)]


class Edition(models.Model):
    """One computation of a release from one dataset version (the release's version number)."""

    class Status(models.TextChoices):
        BUILDING = "building", _("Building")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="editions")
    number = models.PositiveIntegerField(_("version"))
    source_version = models.ForeignKey(
        "catalog.DatasetVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("dataset version"),
    )
    # What the edition was computed under (definition and rules), to tell a repeat from a change.
    definition = models.JSONField(default=dict)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.BUILDING)
    error = models.TextField(_("error"), blank=True)
    engine = models.CharField(_("privacy engine"), max_length=80, blank=True)
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    # [{"name", "role": "dimension"|"measure", "type"}]
    columns = models.JSONField(default=list)
    cell_count = models.PositiveIntegerField(default=0)
    suppressed_count = models.PositiveIntegerField(default=0)
    noisy_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["release", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["release", "number"], name="insights_edition_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.release.slug} v{self.number}"

    @property
    def period(self) -> str:
        """ISO 8601 interval of the data's dates (`2024-01-01/2024-12-31`), '' when unknown."""
        if self.period_start and self.period_end:
            return f"{self.period_start.isoformat()}/{self.period_end.isoformat()}"
        return ""


class Cell(models.Model):
    """One released cell: dimension values, measure values (None when suppressed) and flags."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="cells")
    position = models.PositiveIntegerField()
    dims = models.JSONField(default=dict)
    values = models.JSONField(null=True, blank=True)
    suppressed = models.BooleanField(default=False)
    noisy = models.BooleanField(default=False)

    class Meta:
        ordering = ["edition", "position"]
        indexes = [models.Index(fields=["edition", "position"], name="insights_cell_order")]

    def __str__(self) -> str:
        return f"{self.edition_id}#{self.position}"

    def row(self, measures: list[str]) -> dict:
        values = self.values or {}
        return {**self.dims, **{m: values.get(m) for m in measures}, "suppressed": self.suppressed}


class BoundarySet(models.Model):
    """One import of 시·군 boundaries; the newest is drawn."""

    source = models.CharField(_("source file"), max_length=255)
    attribution = models.CharField(_("attribution"), max_length=500)
    view_box = models.CharField(max_length=64)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.source} ({self.imported_at:%Y-%m-%d})" if self.imported_at else self.source


class RegionShape(models.Model):
    boundary_set = models.ForeignKey(BoundarySet, on_delete=models.CASCADE, related_name="shapes")
    code = models.CharField(max_length=5)
    name = models.CharField(max_length=50)
    name_en = models.CharField(max_length=50, blank=True)
    path = models.TextField()  # SVG path data in the set's view box
    label_x = models.FloatField(default=0)
    label_y = models.FloatField(default=0)
    neighbours = models.JSONField(default=list)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["boundary_set", "code"], name="insights_shape_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

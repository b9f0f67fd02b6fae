"""Controlled vocabularies shipped as data: Gyeonggi-do's 31 시·군 and dataset themes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_en: str
    population: int

    @property
    def label(self) -> str:
        return self.name_en if (get_language() or "ko").startswith("en") else self.name


@cache
def gyeonggi_regions() -> tuple[Region, ...]:
    with open(DATA / "gyeonggi_regions.json", encoding="utf-8") as f:
        return tuple(Region(**row) for row in json.load(f))


@cache
def regions_by_code() -> dict[str, Region]:
    return {r.code: r for r in gyeonggi_regions()}


class Theme(models.TextChoices):
    LOCAL_CURRENCY = "local_currency", _("Local currency & spending")
    BUSINESS = "business", _("Companies")
    JOBS = "jobs", _("Jobs")
    COMMERCIAL_DISTRICT = "commercial_district", _("Commercial districts")
    POPULATION = "population", _("Population")
    FINANCE = "finance", _("Finance")
    REAL_ESTATE = "real_estate", _("Real estate")
    OTHER = "other", _("Other")


class UpdateFrequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")
    IRREGULAR = "irregular", _("Irregular")


@dataclass(frozen=True)
class ColumnSuggestion:
    title: str
    description: str


@cache
def _column_titles() -> dict[str, ColumnSuggestion]:
    with open(DATA / "column_titles.json", encoding="utf-8") as f:
        rows = json.load(f)
    return {
        key: ColumnSuggestion(row.get("title", ""), row.get("description", ""))
        for key, row in rows.items()
        if not key.startswith("_")
    }


def column_suggestion(name: str) -> ColumnSuggestion | None:
    """The project dictionary's Korean title and description for a column named `name`
    (case-blind; spaces and hyphens read as underscores), or None."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _column_titles().get(key)

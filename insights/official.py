"""Official open statistics: figures a public body has already published (e.g. on the province's
data portal), loaded as insight releases as they are (`manage.py import_open_statistics`).

The file goes through the catalog's own ingestion (CP949, BOM, Excel-mangled months…) into a
dataset of the publishing organization; a release of it, marked official with its attribution,
groups its figures by 시·군 (names such as 수원시 or 수원시 권선구 become 5-digit codes; a name
that is not one of the 31 is refused, listed) and month. Importing again uploads a new version of
the same dataset, and the release gets a new edition: the rows are replaced, the history kept.
A file that is not the layout's table is refused before anything is published."""

from __future__ import annotations

from pathlib import Path

from django.core.files import File

from accounts.models import Organization
from catalog import privacy
from catalog import services as catalog
from catalog.models import Dataset
from catalog.vocabularies import gyeonggi_regions
from insights import engine, services
from insights.models import Feature, Release
from marketplace import errors
from marketplace.actors import SYSTEM

REGION = {"transform": "region_code", "name": "sigungu_code"}
MONTH = {"transform": "month", "name": "month"}

# The official tables Jangteo knows how to read: the data.gg.go.kr layouts.
LAYOUTS = {
    "issuance": {
        "dataset": {
            "title": "경기지역화폐 발행·이용 현황 (공표 통계)",
            "title_en": "Gyeonggi local currency issued and used (official statistics)",
            "summary": "시·군별 월별 카드 발행 수량, 충전액, 사용액과 지류 상품권 판매액",
            "theme": "local_currency",
            "keywords": ["지역화폐", "공표 통계", "발행", "사용액"],
            "update_frequency": "monthly",
        },
        "release": {
            "slug": "official-currency-use",
            "feature": Feature.OFFICIAL_CURRENCY_USE,
            "title": "시·군별 지역화폐 발행·이용 (공표 통계)",
            "title_en": "Local currency issued and used by city or county (official statistics)",
            "dimensions": [{**REGION, "field": "시군명"}, {**MONTH, "field": "기준년월"}],
            "measures": [
                {"field": "월별카드발행수량(건)", "agg": "sum"},
                {"field": "월별카드충전액(천원)", "agg": "sum"},
                {"field": "월별카드사용액(천원)", "agg": "sum"},
                {"field": "월별지류상품권판매액(천원)", "agg": "sum"},
            ],
            "date_field": "기준년월",
        },
    },
    "spend": {
        "dataset": {
            "title": "경기지역화폐 시·군 업종별 결제 (공표 통계)",
            "title_en": "Gyeonggi local-currency spending by city and industry (official statistics)",
            "summary": "시·군구 × 성별 × 가맹점 업종별 월 결제 금액",
            "theme": "local_currency",
            "keywords": ["지역화폐", "공표 통계", "업종", "결제"],
            "update_frequency": "monthly",
        },
        "release": {
            "slug": "official-spend-region-industry",
            "feature": "",
            "title": "시·군 × 업종별 지역화폐 결제 (공표 통계)",
            "title_en": "Local-currency spending by city or county and industry (official statistics)",
            "dimensions": [
                {**REGION, "field": "시군구명"},
                {**MONTH, "field": "년월"},
                {"name": "industry", "field": "가맹점업종명"},
            ],
            "measures": [{"field": "총결제금액", "agg": "sum"}],
            "date_field": "년월",
        },
    },
}
METHOD = (
    "공공기관이 공표한 통계를 그대로 옮겼습니다(장터의 개인정보 보호 엔진이 계산한 값이 아닙니다). "
    "시·군구 단위의 값은 시·군으로 더했습니다. 출처: {attribution}",
    "Official statistics as published by a public body (not computed by Jangteo's privacy engine); "
    "figures by 구 are added up to their city. Source: {attribution}",
)
DEFAULT_ATTRIBUTION = "경기도 경기데이터드림(data.gg.go.kr), 공공누리 제1유형"


def import_table(
    path: Path, spec: dict, organization: Organization, attribution: str, *, log=print
) -> Release:
    """Ingest `path` as a new version of the layout's dataset and (re)build its release."""
    definition = spec["release"]
    release = Release.objects.filter(slug=definition["slug"]).select_related("dataset").first()
    dataset = (
        release.dataset
        if release
        else Dataset.objects.filter(center=organization, title=spec["dataset"]["title"]).first()
    )
    if dataset is None:
        dataset = catalog.dataset_create(
            actor=SYSTEM,
            center=organization,
            regions=[r.code for r in gyeonggi_regions()],
            **spec["dataset"],
        )
        log(f"  dataset {dataset.slug} created")
    elif dataset.center_id != organization.pk:
        raise errors.ApplicationError(f"{dataset.slug} belongs to another organization.")
    log(f"  reading {path.name}…")
    with open(path, "rb") as f:
        version = catalog.version_upload(actor=SYSTEM, dataset=dataset, file=File(f, name=path.name))
    version.refresh_from_db()
    if version.status != "ready":  # ingested on commit by an eager task, or here
        version = catalog.version_ingest(actor=SYSTEM, version_id=version.pk)
    if version.status != "ready":
        raise errors.ApplicationError(f"{path.name} could not be read: {version.error}")
    log(f"  {version.row_count:,} rows ingested (version {version.number})")
    schema = [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    problems = engine.official_problems(schema=schema, definition=spec["release"])
    if problems:  # not this layout: the published version and its release stay as they were
        message = "; ".join(problems)
        catalog.version_fail(actor=SYSTEM, version_id=version.pk, message=message)
        raise errors.ApplicationError(f"{path.name} is not the {spec['dataset']['title']} table: {message}")
    catalog.version_publish(actor=SYSTEM, version=version)
    dataset.refresh_from_db()
    if release is None:
        method, method_en = (text.format(attribution=attribution) for text in METHOD)
        release = services.release_publish(
            actor=SYSTEM,
            dataset=dataset,
            subject_field="",
            method=method,
            method_en=method_en,
            source=Release.Source.OFFICIAL,
            attribution=attribution,
            **definition,
        )
    services.release_refresh(actor=SYSTEM, release=release)  # a no-op when the worker built it
    release.refresh_from_db()
    if release.current is None or release.current.source_version_id != version.pk:
        failed = release.editions.order_by("-number").first()
        raise errors.ApplicationError(f"the release was not rebuilt: {failed.error if failed else ''}")
    log(f"  release {release.slug}: {release.current.cell_count:,} rows (edition {release.current.number})")
    return release

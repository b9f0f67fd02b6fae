"""Open statistics for the demo economy: the releases the insight pages show, published from the
demo's card payments, job postings and company registry through the normal services, and the
시·군 boundaries when the shared geo folder sits beside the project (else the tile grid)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from catalog.models import Dataset
from insights import services
from insights.models import Feature
from marketplace import errors
from marketplace.actors import SYSTEM

GEO_FILE = Path(settings.BASE_DIR).parent / "shared" / "data" / "geo" / "gyeonggi_sigungu_2018.geojson"
GEO_ATTRIBUTION = "출처: 통계청 통계지리정보서비스(SGIS), 센서스용 행정구역경계(2018)"
# Official local-currency statistics (data.gg.go.kr layout), imported when beside the project.
OFFICIAL_FILE = GEO_FILE.parent.parent / "real-kr" / "gg_local_currency_issuance_usage_monthly_cp949.csv"

REGION = {"name": "sigungu_code", "field": "sigungu_code"}
MONTH = {"name": "month", "field": "approved_at", "transform": "month"}
INDUSTRY = {"name": "industry", "field": "industry"}
AGE = {"name": "age_band", "field": "age_band"}
SEX = {"name": "sex", "field": "sex"}
WEEKDAY = {"name": "weekday", "field": "approved_at", "transform": "weekday"}
HOUR = {"name": "hour", "field": "approved_at", "transform": "hour"}
AMOUNT = [{"field": "amount", "agg": "sum"}]

# (feature, Korean title, English title, dimensions)
CARD_RELEASES = (
    (Feature.SPEND_REGION, "시·군별 지역화폐 결제", "Local-currency spending by city or county", [REGION]),
    (
        Feature.SPEND_MONTH,
        "경기도 월별 지역화폐 결제",
        "Monthly local-currency spending in Gyeonggi",
        [MONTH],
    ),
    (Feature.SPEND_INDUSTRY, "업종별 지역화폐 결제", "Local-currency spending by industry", [INDUSTRY]),
    (
        Feature.SPEND_AGE_SEX,
        "연령대·성별 지역화폐 결제",
        "Local-currency spending by age band and sex",
        [AGE, SEX],
    ),
    (
        Feature.SPEND_WEEKDAY_HOUR,
        "요일·시간대별 지역화폐 결제",
        "Local-currency payments by weekday and hour",
        [WEEKDAY, HOUR],
    ),
    (
        Feature.SPEND_REGION_MONTH,
        "시·군 × 월 지역화폐 결제",
        "Local-currency spending by city or county and month",
        [REGION, MONTH],
    ),
    (
        Feature.SPEND_REGION_AGE_SEX,
        "시·군 × 연령대·성별 지역화폐 결제",
        "Local-currency spending by city or county, age band and sex",
        [REGION, AGE, SEX],
    ),
    (
        Feature.SPEND_REGION_WEEKDAY,
        "시·군 × 요일 지역화폐 결제",
        "Local-currency payments by city or county and weekday",
        [REGION, WEEKDAY],
    ),
    (
        Feature.SPEND_REGION_HOUR,
        "시·군 × 시간대 지역화폐 결제",
        "Local-currency payments by city or county and hour",
        [REGION, HOUR],
    ),
    (
        Feature.SPEND_INDUSTRY_MONTH,
        "업종 × 월 지역화폐 결제",
        "Local-currency spending by industry and month",
        [INDUSTRY, MONTH],
    ),
    (
        Feature.SPEND_REGION_INDUSTRY_MONTH,
        "시·군 × 업종 × 월 지역화폐 결제",
        "Local-currency spending by city or county, industry and month",
        [REGION, INDUSTRY, MONTH],
    ),
    (
        Feature.SPEND_REGION_INDUSTRY_WEEKDAY,
        "시·군 × 업종 × 요일 지역화폐 결제",
        "Local-currency payments by city or county, industry and weekday",
        [REGION, INDUSTRY, WEEKDAY],
    ),
    (
        Feature.SPEND_REGION_INDUSTRY_HOUR,
        "시·군 × 업종 × 시간대 지역화폐 결제",
        "Local-currency payments by city or county, industry and hour",
        [REGION, INDUSTRY, HOUR],
    ),
    # Coarser than the three above: published after them, so that where a cell of it would be
    # given back by them, it is this table that is refused (the "compare my business" views
    # need the finer ones).
    (
        Feature.SPEND_REGION_INDUSTRY,
        "시·군 × 업종 지역화폐 결제",
        "Local-currency spending by city or county and industry",
        [REGION, INDUSTRY],
    ),
)


def method_note(
    *, what: str, what_en: str, subjects: str, subjects_en: str, k: int, dominance: float
) -> tuple[str, str]:
    share = round(dominance * 100)
    return (
        f"{what}을(를) 집계했습니다. 서로 다른 {subjects}이(가) {k}개 미만인 칸과 한 곳이 합계의 {share}%를 "
        "넘게 차지하는 칸은 공개하지 않습니다(·). "
        "공개 통계는 원본 데이터의 새 버전이 게시될 때마다 다시 계산됩니다.",
        f"Aggregated from {what_en}. Cells with fewer than {k} distinct {subjects_en}, or where one "
        f"contributor holds more than {share}% of the total, are withheld (·). Recomputed whenever a new "
        "version of the source dataset is published.",
    )


def _card_release(feature, title, title_en, dimensions) -> dict:
    return {
        "feature": feature,
        "title": title,
        "title_en": title_en,
        "dimensions": dimensions,
        "measures": AMOUNT,
        "subject_field": "card_id",
        "dominance_field": "merchant_id",
        "date_field": "approved_at",
        "note": method_note(
            what="경기지역화폐 카드 결제 내역(가명처리)",
            what_en="Gyeonggi local-currency card payments (pseudonymised)",
            subjects="카드",
            subjects_en="cards",
            k=5,
            dominance=0.85,
        ),
    }


JOB_RELEASE = {
    "feature": Feature.JOBS_REGION,
    "title": "시·군별 구인 공고와 제시 임금",
    "title_en": "Job postings and offered monthly wages by city or county",
    "dimensions": [REGION],
    "measures": [{"field": "monthly_wage", "agg": "avg"}],
    "subject_field": "business_number",
    "dominance_field": "business_number",
    "date_field": "posted_on",
    "note": method_note(
        what="경기도 구인 공고",
        what_en="Gyeonggi job postings",
        subjects="기업",
        subjects_en="companies",
        k=5,
        dominance=0.85,
    ),
}
COMPANY_RELEASE = {
    "feature": Feature.COMPANIES_INDUSTRY_SIZE,
    "title": "산업·규모별 기업 수",
    "title_en": "Companies by industry and size",
    "dimensions": [
        {"name": "section", "field": "ksic_code", "transform": "ksic_section"},
        {"name": "size", "field": "employees", "transform": "company_size"},
    ],
    "measures": [],
    "subject_field": "business_number",
    "dominance_field": "",
    "date_field": "",
    "note": method_note(
        what="경기도 기업 현황",
        what_en="the Gyeonggi company registry",
        subjects="기업",
        subjects_en="companies",
        k=5,
        dominance=0.85,
    ),
}


def seed_releases(
    *, cards: Dataset, jobs: Dataset | None = None, companies: Dataset | None = None, log=print
) -> int:
    """Publish the demo's releases (their cells are computed at once: the seed runs tasks
    eagerly) and import the boundaries when the shared file is present. Returns the count."""
    specs = [(cards, _card_release(*release)) for release in CARD_RELEASES]
    specs += [
        (dataset, spec) for dataset, spec in ((jobs, JOB_RELEASE), (companies, COMPANY_RELEASE)) if dataset
    ]
    count = sum(_publish(log=log, dataset=dataset, **spec) for dataset, spec in specs)
    if OFFICIAL_FILE.exists():
        from insights import official

        official.import_table(
            OFFICIAL_FILE, official.LAYOUTS["issuance"], cards.center, official.DEFAULT_ATTRIBUTION, log=log
        )
        count += 1
    log(f"  open statistics: {count} releases")
    if GEO_FILE.exists():
        import json

        with open(GEO_FILE, encoding="utf-8") as f:
            services.boundaries_import(
                actor=SYSTEM, geojson=json.load(f), source=GEO_FILE.name, attribution=GEO_ATTRIBUTION
            )
        log(f"  map: boundaries imported from {GEO_FILE}")
    else:
        log("  map: no boundary file beside the project; the insight pages draw the tile grid")
    return count


def _publish(
    *,
    dataset,
    feature,
    title,
    title_en,
    dimensions,
    measures,
    subject_field,
    dominance_field,
    date_field,
    note,
    log=print,
) -> int:
    """Publish one release; 1 when published, 0 when refused beside what is already out."""
    try:
        release = services.release_publish(
            actor=SYSTEM,
            dataset=dataset,
            slug=feature.value.replace("_", "-"),
            feature=feature.value,
            title=title,
            title_en=title_en,
            method=note[0],
            method_en=note[1],
            dimensions=dimensions,
            measures=measures,
            subject_field=subject_field,
            dominance_field=dominance_field,
            date_field=date_field,
            k=5,
            dominance="0.85",
        )
    except errors.ApplicationError as exc:
        # Open tables are held by everyone: one that would give back a cell another suppresses
        # is refused (insights.crosscheck), and the demo goes on without it.
        log(f"  open statistics: {feature.value} not published: {' '.join(exc.errors.get('dimensions', []))}")
        return 0
    services.release_refresh(actor=SYSTEM, release=release)  # a no-op when the task built it
    return 1

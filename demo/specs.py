"""The demo economy as data: each dataset a center publishes (its catalog entry, the file the
generator writes for it, the sensitivity of its fields) and the offers made on it. `demo.seed`
reads these; change the demo here, not in code."""

from __future__ import annotations

from datetime import date

# Stands for "every 시·군 in the region list" in a dataset's `regions`.
ALL_REGIONS = "all"

TERMS = (
    "1. 이 데이터는 신청서에 적은 목적으로만 이용합니다.\n"
    "2. 개인이나 개별 가맹점을 다시 식별하려고 시도하지 않습니다.\n"
    "3. 제3자에게 원자료를 제공하지 않으며, 이용 기간이 끝나면 파일을 삭제합니다."
)

CARD_PAYMENTS = {
    "center": "currency",
    "file": "card_transactions.parquet",
    "dataset": {
        "title": "경기지역화폐 카드 결제 내역",
        "title_en": "Gyeonggi local currency card payments",
        "summary": "경기도 31개 시·군의 지역화폐 카드 결제 건별 내역(가명처리)",
        "summary_en": "Card payments with Gyeonggi local currency, per transaction (pseudonymized)",
        "description": "지역화폐 가맹점에서 결제된 건별 내역입니다. 카드번호와 가맹점번호는 "
        "이용 허가별 키로 **가명처리**되어 제공됩니다.\n\n- 기간: 2024년 1월 ~ 12월\n- 단위: 원",
        "theme": "local_currency",
        "keywords": ["지역화폐", "카드", "소비", "상권"],
        "regions": ALL_REGIONS,
        "update_frequency": "monthly",
        "temporal_start": date(2024, 1, 1),
        "temporal_end": date(2024, 12, 31),
    },
    "sensitivities": {
        "transaction_id": "identifier",
        "card_id": "identifier",
        "merchant_id": "identifier",
        "age_band": "quasi_identifier",
        "sex": "quasi_identifier",
        "dong": "quasi_identifier",
    },
    "offers": {
        "monthly": {
            "name": "시·군 × 업종 × 연령대 월별 집계",
            "name_en": "Monthly aggregate by city, industry and age band",
            "kind": "aggregate",
            "dimensions": ["sigungu_name", "industry", "age_band", "approved_at"],
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card_id",
            "dominance_field": "merchant_id",
            "k": 5,
            "dominance": "0.85",
            "date_granularity": "month",
            "region_field": "sigungu_name",
            "date_field": "approved_at",
            "approval": "automatic",
            "price_krw": 0,
            "duration_days": 365,
            "download_quota": 20,
        },
        "records": {
            "name": "가명처리 건별 결제 내역",
            "name_en": "Pseudonymized payment records",
            "kind": "records",
            "fields": [
                "approved_at",
                "sigungu_code",
                "sigungu_name",
                "industry",
                "card_id",
                "amount",
                "age_band",
                "sex",
                "channel",
            ],
            "quasi_identifiers_allowed": True,
            "region_field": "sigungu_code",
            "date_field": "approved_at",
            # No merchant pseudonym (with region × industry it names the merchants alone in
            # theirs); the treatments calibrated in docs/privacy.md ("Record-level offers").
            "subject_field": "card_id",
            "treatments": {
                "time_unit": "week",
                "amount_fields": ["amount"],
                "amount_round": 10_000,
                "amount_top": 50_000,
                "suppress_k": 5,
                "suppress_first": ["age_band", "sex", "channel"],
                "trajectory_k": 5,
                "pseudonym_period": "week",
                "sample_percent": 50,
            },
            "approval": "center_operator",
            "buyer_categories": ["sme", "large", "research", "public"],
            "price_krw": 1_000_000,
            "duration_days": 180,
            "download_quota": 5,
        },
        "dong": {
            "name": "행정동 × 업종 분기 집계",
            "kind": "aggregate",
            "dimensions": ["sigungu_name", "dong", "industry", "approved_at"],
            "measures": [{"field": "amount", "agg": "sum"}],
            "subject_field": "card_id",
            "dominance_field": "merchant_id",
            "k": 10,
            "date_granularity": "quarter",
            "region_field": "sigungu_name",
            "date_field": "approved_at",
            "approval": "center",
            "price_krw": 300_000,
        },
    },
}

MERCHANTS = {
    "subjects": "businesses",
    "center": "currency",
    "file": "merchants.parquet",
    "dataset": {
        "title": "경기지역화폐 가맹점 현황",
        "title_en": "Gyeonggi local currency merchants",
        "summary": "지역화폐 가맹점의 업종·위치(좌표는 소수 셋째 자리까지)",
        "theme": "commercial_district",
        "keywords": ["가맹점", "상권", "지역화폐"],
        "update_frequency": "monthly",
        "regions": ALL_REGIONS,
    },
    "sensitivities": {"merchant_id": "identifier", "road_address": "excluded"},
    "offers": {
        "merchants": {
            "name": "가맹점 목록",
            "kind": "records",
            "fields": [
                "merchant_id",
                "merchant_name",
                "industry",
                "latitude",
                "longitude",
                "sigungu_code",
                "sigungu_name",
            ],
            "region_field": "sigungu_code",
            "approval": "center",
            "price_krw": 0,
        },
    },
}

COMPANIES = {
    "subjects": "businesses",
    "center": "company",
    "file": "companies.parquet",
    "dataset": {
        "title": "경기도 기업 현황",
        "title_en": "Gyeonggi company registry",
        "theme": "business",
        "summary": "사업자등록번호, 업종(KSIC), 종업원 수, 매출 규모, 설립일",
        "keywords": ["기업", "사업자"],
        "update_frequency": "quarterly",
        "regions": ALL_REGIONS,
    },
    "sensitivities": {"business_number": "identifier"},
    "offers": {
        "companies": {
            "name": "기업 목록(사업자번호 가명처리)",
            "kind": "records",
            "fields": [
                "business_number",
                "company_name",
                "ksic_code",
                "employees",
                "revenue_band",
                "founded",
                "sigungu_code",
                "sigungu_name",
            ],
            "region_field": "sigungu_code",
            "approval": "automatic",
            "price_krw": 0,
            "buyer_categories": [],
        },
    },
}

JOB_POSTINGS = {
    "subjects": "businesses",
    "center": "jobs",
    "file": "jobs.parquet",
    "dataset": {
        "title": "경기도 구인 공고",
        "title_en": "Gyeonggi job postings",
        "theme": "jobs",
        "summary": "기업별 구인 공고: 직종, 월 임금, 게시·마감일",
        "keywords": ["일자리", "임금", "구인"],
        "update_frequency": "weekly",
        "regions": ALL_REGIONS,
    },
    "sensitivities": {"business_number": "identifier"},
    "offers": {
        "jobs": {
            "name": "시·군 × 직종 월별 임금 집계",
            "kind": "aggregate",
            "dimensions": ["sigungu_name", "occupation", "posted_on"],
            "measures": [{"field": "monthly_wage", "agg": "avg"}],
            "subject_field": "business_number",
            "k": 3,
            "date_granularity": "month",
            "region_field": "sigungu_name",
            "date_field": "posted_on",
            "approval": "automatic",
            "price_krw": 0,
        },
    },
}

# In publishing order.
DATASETS = [CARD_PAYMENTS, MERCHANTS, COMPANIES, JOB_POSTINGS]

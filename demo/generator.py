"""Synthetic Gyeonggi regional economy: card transactions, merchants, companies, job postings.

A Django-free library for the demo seeder and for benchmarks. Each public ``generate_*`` function
writes ONE zstd Parquet file with a single DuckDB ``COPY (SELECT ...) TO ...`` (after a tiny helper
file of row blocks, see ``_run_copy``). Every row is computed in SQL; nothing is generated row by row
in Python and no dataset is ever held in Python memory (DESIGN.md, performance rules). Python only
builds small tables (31 regions, ~20 industries, per-day calendar weights) written into the SQL.

Determinism. Randomness comes from hashing (row number, seed, column name) into a uniform in (0, 1)
(``_uniform``); never from ``random()``, whose sequence depends on the thread schedule. Every
attribute of a merchant, card or company is a pure function of its index, recomputed where needed
(no joins whose build side the optimizer could swap), and rows are written in block order
(``preserve_insertion_order``). For a given DuckDB version the same arguments give a byte-identical
file, whatever the thread count.

Consistency between files (same ``seed``):

* ``generate_card_transactions(merchants=M)`` and ``generate_merchants(merchants=M)`` describe the
  same merchants: every transaction's ``merchant_id`` is in the directory with the same
  ``sigungu_code``, ``sigungu_name``, ``industry`` and ``dong``. The seeder must pass the SAME
  ``merchants`` to both (the default for transactions is ``default_merchants(rows)``).
* ``generate_job_postings(companies=C)`` picks employers from ``generate_companies(companies=C)``
  (same ``business_number``, ``company_name``, 시·군); again the seeder must pass the same
  ``companies`` to both (default ``default_companies(rows)``).

Realism, in short: every transaction's 시·군 is drawn by population (``catalog/data/
gyeonggi_regions.json``); merchants belong to one 시·군, 읍·면·동 and industry each and are
Zipf-popular inside their 시·군; cards are Zipf-active, mostly spend in their home 시·군 and carry
their holder's age band and sex; time follows a calendar (month factors with a December peak,
weekday factors, public holidays, the week before 설날/추석) and an hour profile with lunch and
evening peaks (another on weekends and holidays), and rows come out in time order, so
``transaction_id`` increases with ``approved_at``; amounts are log-logistic per industry and
merchant price level, rounded to 10 or 100 won. Job postings come mostly from big employers.
"""

# ruff: noqa: S608 - the SQL text here is built from numbers computed in this module and from
# literals escaped by _q(); no caller-supplied text reaches it (paths are quoted with _q too).

from __future__ import annotations

import calendar
import hashlib
import json
import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from marketplace import duckdb as jangteo_duckdb

__all__ = [
    "INDUSTRIES",
    "business_number_check_digit_sql",
    "card_transactions_query",
    "default_cards",
    "default_companies",
    "default_merchants",
    "generate_card_transactions",
    "generate_companies",
    "generate_job_postings",
    "generate_merchants",
    "load_regions",
]

Progress = Callable[[int], object]

REGIONS_FILE = Path(__file__).resolve().parent.parent / "catalog" / "data" / "gyeonggi_regions.json"

# Approximate centre (city hall), spread (km) and a few real 읍·면·동 of each 시·군 (space-separated),
# keyed by code; names and populations come from REGIONS_FILE.
# fmt: off
_GEOGRAPHY: dict[str, tuple[float, float, float, str]] = {
    "41110": (37.263, 127.029, 5.0, (
        "행궁동 인계동 매탄1동 영통1동 광교1동 권선1동 세류1동 정자1동 파장동 우만1동 지동 율천동"
    )),
    "41130": (37.420, 127.127, 5.0, (
        "분당동 수내1동 정자1동 서현1동 야탑1동 판교동 신흥1동 태평1동 수진1동 중앙동 금광1동 "
        "단대동"
    )),
    "41150": (37.738, 127.034, 3.5, (
        "의정부1동 호원1동 장암동 신곡1동 송산1동 자금동 가능동 녹양동"
    )),
    "41170": (37.394, 126.957, 3.5, (
        "안양1동 석수1동 박달1동 비산1동 평촌동 범계동 호계1동 귀인동 부흥동 평안동"
    )),
    "41190": (37.503, 126.766, 3.5, (
        "심곡동 원미1동 중동 상동 신중동 소사본동 범안동 오정동 성곡동 역곡1동"
    )),
    "41210": (37.479, 126.865, 2.5, (
        "광명1동 철산1동 하안1동 소하1동 일직동 학온동"
    )),
    "41220": (36.992, 127.113, 8.0, (
        "팽성읍 안중읍 포승읍 청북읍 비전1동 세교동 송탄동 서정동 지산동 고덕동 신평동"
    )),
    "41250": (37.904, 127.061, 3.0, (
        "생연1동 중앙동 보산동 불현동 송내동 상패동"
    )),
    "41270": (37.322, 126.831, 6.0, (
        "고잔동 와동 선부1동 초지동 호수동 사동 본오1동 일동 이동 월피동 성포동"
    )),
    "41280": (37.658, 126.832, 7.0, (
        "주엽1동 대화동 일산1동 백석1동 마두1동 장항1동 행신1동 화정1동 능곡동 관산동 고양동"
    )),
    "41290": (37.429, 126.988, 2.0, (
        "중앙동 갈현동 별양동 부림동 과천동 문원동"
    )),
    "41310": (37.594, 127.130, 2.5, (
        "갈매동 동구동 인창동 교문1동 수택1동"
    )),
    "41360": (37.636, 127.216, 9.0, (
        "와부읍 진접읍 화도읍 진건읍 오남읍 퇴계원읍 별내동 다산1동 호평동 평내동 금곡동"
    )),
    "41370": (37.150, 127.077, 2.5, (
        "중앙동 대원동 남촌동 신장동 세마동 초평동"
    )),
    "41390": (37.380, 126.803, 5.0, (
        "대야동 신천동 정왕1동 배곧1동 은행동 목감동 능곡동 월곶동"
    )),
    "41410": (37.362, 126.935, 2.5, (
        "군포1동 산본1동 금정동 재궁동 수리동 대야동"
    )),
    "41430": (37.345, 126.968, 3.0, (
        "고천동 부곡동 오전동 내손1동 청계동"
    )),
    "41450": (37.539, 127.215, 4.0, (
        "천현동 신장1동 덕풍1동 풍산동 미사1동 위례동 감일동"
    )),
    "41460": (37.241, 127.178, 10.0, (
        "포곡읍 모현읍 백암면 역북동 동백1동 구성동 보정동 죽전1동 수지동 상현1동 성복동 신갈동"
    )),
    "41480": (37.760, 126.780, 10.0, (
        "문산읍 조리읍 법원읍 파주읍 금촌1동 교하동 운정1동 탄현면"
    )),
    "41500": (37.272, 127.435, 9.0, (
        "장호원읍 부발읍 창전동 중리동 증포동 관고동 마장면"
    )),
    "41550": (37.008, 127.280, 10.0, (
        "공도읍 안성1동 대덕면 미양면 보개면"
    )),
    "41570": (37.615, 126.716, 7.0, (
        "통진읍 고촌읍 양촌읍 김포본동 장기동 사우동 풍무동 구래동 운양동"
    )),
    "41590": (37.200, 126.831, 12.0, (
        "봉담읍 향남읍 남양읍 우정읍 동탄1동 진안동 병점1동 반월동 새솔동"
    )),
    "41610": (37.429, 127.255, 8.0, (
        "오포읍 초월읍 곤지암읍 경안동 송정동 광남1동 퇴촌면"
    )),
    "41630": (37.785, 127.046, 7.0, (
        "백석읍 회천1동 옥정1동 양주1동 광적면 은현면"
    )),
    "41650": (37.895, 127.200, 11.0, (
        "소흘읍 포천동 선단동 군내면 가산면 일동면"
    )),
    "41670": (37.298, 127.637, 10.0, (
        "가남읍 여흥동 중앙동 오학동 점동면"
    )),
    "41800": (38.096, 127.075, 10.0, (
        "연천읍 전곡읍 청산면 백학면 미산면"
    )),
    "41820": (37.831, 127.510, 10.0, (
        "가평읍 청평면 설악면 상면 조종면"
    )),
    "41830": (37.492, 127.488, 12.0, (
        "양평읍 강상면 용문면 양서면 옥천면 서종면"
    )),
}
# fmt: on

# Gyeonggi's bounding box: coordinates are clamped into it.
_LAT_RANGE = (36.9, 38.3)
_LON_RANGE = (126.4, 127.9)


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_en: str
    population: int
    lat: float
    lon: float
    spread_km: float
    dongs: tuple[str, ...]  # 읍·면·동 names


@cache
def load_regions() -> tuple[Region, ...]:
    """The 31 시·군 of Gyeonggi from ``catalog/data/gyeonggi_regions.json``, with geography."""
    rows = json.loads(REGIONS_FILE.read_text(encoding="utf-8"))
    regions = []
    for row in rows:
        code = str(row["code"])
        if code not in _GEOGRAPHY:
            raise ValueError(f"{REGIONS_FILE.name}: region {code} has no centre/동 list in demo_data")
        lat, lon, spread, dongs = _GEOGRAPHY[code]
        regions.append(
            Region(
                code,
                row["name"],
                row["name_en"],
                int(row["population"]),
                lat,
                lon,
                spread,
                tuple(dongs.split()),
            )
        )
    return tuple(regions)


@dataclass(frozen=True)
class Industry:
    name: str
    ksic: str
    weight: float  # share of merchants
    median: int  # typical amount, won
    sigma: float  # spread of log(amount)
    unit: int  # amounts are rounded to this many won
    words: tuple[str, ...]  # the second word of a shop name


# fmt: off
INDUSTRIES: tuple[Industry, ...] = tuple(
    Industry(name, ksic, weight, median, sigma, unit, tuple(words.split()))
    for name, ksic, weight, median, sigma, unit, words in (
        ("한식 음식점", "56111", 17, 12_000, 0.50, 100, "식당 한식당 국밥 밥상 칼국수 순대국"),
        ("중식 음식점", "56121", 4, 18_000, 0.45, 100, "반점 중화요리 짬뽕"),
        ("치킨 전문점", "56193", 4, 21_000, 0.35, 100, "치킨 통닭"),
        ("분식", "56194", 4, 7_000, 0.50, 100, "분식 김밥 떡볶이"),
        ("카페", "56221", 10, 5_000, 0.50, 100, "카페 커피 로스터리"),
        ("제과점", "56191", 3, 8_000, 0.55, 100, "베이커리 제과 빵집"),
        ("편의점", "47122", 7, 6_000, 0.75, 10, "편의점 24시편의점"),
        ("슈퍼마켓", "47121", 7, 18_000, 0.80, 10, "마트 슈퍼 식자재마트"),
        ("정육점", "47212", 2, 30_000, 0.60, 100, "정육점 축산 한우"),
        ("약국", "47811", 4, 9_000, 0.70, 100, "약국"),
        ("의원", "86201", 5, 15_000, 0.60, 100, "내과의원 소아청소년과의원 정형외과의원 이비인후과의원"),
        ("학원", "85501", 5, 150_000, 0.45, 100, "수학학원 영어학원 피아노학원 태권도 미술학원"),
        ("미용실", "96112", 5, 22_000, 0.60, 100, "헤어 미용실 헤어살롱"),
        ("주유소", "47711", 2, 50_000, 0.45, 10, "주유소 셀프주유소"),
        ("의류", "47419", 4, 45_000, 0.70, 100, "패션 의류 옷가게"),
        ("서점", "47611", 1, 16_000, 0.60, 100, "서점 문고"),
        ("안경점", "47783", 1, 90_000, 0.60, 100, "안경 안경원"),
        ("철물점", "47521", 1, 15_000, 0.90, 100, "철물 철물점"),
        ("세탁소", "96911", 2, 9_000, 0.60, 100, "세탁소 크리닝"),
        ("꽃집", "47859", 1, 30_000, 0.55, 100, "꽃집 플라워"),
    )
)

_SHOP_ADJECTIVES = (
    "행복", "정다운", "우리", "새봄", "하나", "푸른", "소문난", "원조", "참", "다온", "한빛",
    "미소", "청춘", "햇살", "동네", "골목", "중앙", "오늘", "바른", "늘봄", "도담", "초록", "으뜸",
    "좋은날", "나들", "별빛", "온누리", "다정", "시골", "새싹", "명품", "대박", "해오름",
    "은행나무",
)
_ROADS = (
    "중앙로", "시청로", "문화로", "평화로", "역전로", "시장로", "공원로", "학교로", "번영로",
    "희망로", "청년로", "동부대로", "서부로", "남부로", "북부로", "경수대로", "새마을로", "산업로",
    "충효로",
)
_AGE_BANDS = (
    ("20대", 0.16), ("30대", 0.22), ("40대", 0.25), ("50대", 0.20), ("60대", 0.11), ("70대 이상", 0.06),
)
# fmt: on
_SEXES = (("F", 0.53), ("M", 0.47))
_CHANNELS = (("card", 0.70), ("mobile", 0.25), ("paper", 0.05))

# Calendar weights (transactions).
_MONTH_FACTOR = (1.00, 0.93, 0.98, 0.99, 1.04, 0.99, 1.01, 1.02, 1.03, 1.01, 0.98, 1.12)
_WEEKDAY_FACTOR = (0.93, 0.96, 0.97, 1.00, 1.12, 1.15, 0.95)  # Monday first
_HOLIDAY_FACTOR = 0.85
_PRE_HOLIDAY_FACTOR = 1.20  # the five days before 설날 and 추석
_WEEKDAY_HOURS = (
    0.6, 0.3, 0.2, 0.12, 0.1, 0.2, 0.6, 1.5, 2.5, 2.8, 3.2, 4.8,
    7.0, 6.0, 4.2, 4.0, 4.3, 5.2, 6.8, 6.9, 5.5, 4.0, 2.5, 1.3,
)  # fmt: skip
_WEEKEND_HOURS = (
    0.9, 0.5, 0.3, 0.15, 0.1, 0.15, 0.3, 0.7, 1.4, 2.3, 3.6, 5.0,
    6.2, 6.4, 6.0, 5.6, 5.4, 5.6, 6.3, 6.0, 4.8, 3.5, 2.2, 1.4,
)  # fmt: skip
_SOLAR_HOLIDAYS = ((1, 1), (3, 1), (5, 5), (6, 6), (8, 15), (10, 3), (10, 9), (12, 25))
# 설날 and 추석 (three days each) for the years the demo is likely to cover.
_LUNAR_HOLIDAYS = (
    date(2023, 1, 21), date(2023, 9, 28), date(2024, 2, 9), date(2024, 9, 16),
    date(2025, 1, 28), date(2025, 10, 5), date(2026, 2, 16), date(2026, 9, 24),
    date(2027, 2, 6), date(2027, 9, 14),
)  # fmt: skip

# Zipf exponents inside a 시·군 (for many merchants the top q of them get ~ q ** (1 - s) of the rows).
_MERCHANT_ZIPF = 0.8  # top 1% of a 시·군's merchants take ~40% of its transactions
_CARD_ZIPF = 0.5  # top 1% of cards make ~10% of the transactions
_CARD_HOME_SHARE = 0.85  # share of a card's spending in its home 시·군

# Companies.
_COMPANY_AS_OF = date(2023, 12, 31)  # companies are founded on or before this day
_TAX_OFFICES = (
    "124", "135", "129", "144", "123", "138", "130", "127", "128", "134", "125", "143", "142", "126",
    "132", "140", "141", "137", "131", "133", "139", "145", "146", "147",
    "011", "024", "058",  # a few numbers with a leading zero: they must survive CSV/Excel round trips
)  # fmt: skip
_KIND_CODES = (10, 11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 81, 85, 86, 87, 88)
_CORPORATE_KIND = 81  # kind codes from here on are corporations: '(주)...'
_COMPANY_STEMS = (
    "한빛", "대한", "세진", "동양", "경기", "미래", "신성", "태성", "우진", "삼원", "성진", "대성", "한국",
    "영진", "제일", "동아", "서해", "광명", "새한", "진흥", "선진", "화성", "수원", "유니", "에이스",
    "케이", "그린", "스마트", "글로벌", "다온",
)  # fmt: skip


@dataclass(frozen=True)
class Sector:
    ksic: str
    label: str
    weight: float
    suffixes: tuple[str, ...]


_SECTORS: tuple[Sector, ...] = (
    Sector("10799", "기타 식품 제조업", 3, ("식품", "푸드")),
    Sector("22299", "기타 플라스틱 제품 제조업", 3, ("화학", "플라스틱", "폴리머")),
    Sector("25999", "기타 금속 가공제품 제조업", 5, ("금속", "메탈", "정밀")),
    Sector("26299", "기타 전자부품 제조업", 4, ("전자", "일렉트로닉스", "테크")),
    Sector("29199", "기타 일반목적용 기계 제조업", 5, ("기계", "엔지니어링", "산업")),
    Sector("41112", "아파트 건설업", 3, ("건설", "종합건설")),
    Sector("42411", "실내 건축 공사업", 4, ("인테리어", "건축")),
    Sector("46102", "상품 중개업", 6, ("상사", "무역", "물산")),
    Sector("47190", "기타 종합 소매업", 9, ("유통", "마트", "상회")),
    Sector("49301", "일반 화물자동차 운송업", 5, ("물류", "운수", "로지스")),
    Sector("56111", "한식 일반 음식점업", 12, ("식당", "푸드", "가든")),
    Sector("62010", "컴퓨터 프로그래밍 서비스업", 5, ("소프트", "시스템", "데이터", "랩스")),
    Sector("68112", "비주거용 건물 임대업", 4, ("개발", "에셋", "부동산")),
    Sector("70113", "의학 및 약학 연구개발업", 2, ("바이오", "메디칼", "헬스케어")),
    Sector("71531", "광고 대행업", 2, ("애드", "커뮤니케이션", "기획")),
    Sector("85501", "일반 교과 학원", 6, ("학원", "에듀", "교육")),
    Sector("86201", "일반 의원", 3, ("의원", "메디")),
    Sector("96112", "두발 미용업", 6, ("헤어", "뷰티")),
)
_EMPLOYEES_PARETO_ALPHA = 1.1
_REVENUE_PER_EMPLOYEE = 120_000_000  # median, won

# Job postings.
_OCCUPATIONS = (
    ("생산 단순 종사원", 2_500_000, 14), ("기계 조작원", 2_900_000, 6), ("용접원", 3_300_000, 3),
    ("지게차 운전원", 3_000_000, 4), ("화물차 운전원", 3_400_000, 4), ("택배원", 3_200_000, 3),
    ("경리 사무원", 2_600_000, 7), ("사무 보조원", 2_300_000, 6), ("영업원", 3_000_000, 5),
    ("매장 판매원", 2_300_000, 7), ("조리사", 2_800_000, 6), ("주방 보조원", 2_200_000, 5),
    ("요양보호사", 2_300_000, 8), ("간호조무사", 2_500_000, 4), ("사회복지사", 2_700_000, 3),
    ("보육교사", 2_400_000, 3), ("소프트웨어 개발자", 4_200_000, 4), ("품질관리원", 3_100_000, 3),
    ("전기 기술자", 3_500_000, 2), ("건축 기술자", 3_700_000, 2), ("물류 관리원", 2_800_000, 3),
    ("경비원", 2_200_000, 4), ("청소원", 2_100_000, 4), ("미용사", 2_400_000, 2),
    ("디자이너", 3_000_000, 2), ("마케팅 전문가", 3_600_000, 2), ("학원 강사", 2_800_000, 3),
)  # fmt: skip
_EMPLOYMENT_TYPES = (("정규직", 0.60), ("계약직", 0.25), ("시간제", 0.15))
MINIMUM_MONTHLY_WAGE = 2_100_000  # full-time floor (2025 minimum wage × 209 h, rounded up)
_PART_TIME_SHARE_OF_WAGE = 0.5
_POSTING_MONTH_FACTOR = (1.10, 1.05, 1.15, 1.05, 1.00, 0.95, 0.95, 0.90, 1.05, 1.00, 0.95, 0.85)
_POSTING_WEEKDAY_FACTOR = (1.25, 1.10, 1.05, 1.00, 0.95, 0.15, 0.08)
_POSTING_OPEN_ENDED_SHARE = 0.04  # 상시채용: no closing date

_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)  # business registration number check digit
_INV_2_53 = 2.0**-53
_PROGRESS_POLL_SECONDS = 0.1


# ---------------------------------------------------------------------------------------------------
# Defaults the seeder must share between files


def default_merchants(rows: int) -> int:
    """Merchants behind ``rows`` card transactions (pass the same number to generate_merchants)."""
    return max(100, rows // 200)


def default_cards(rows: int) -> int:
    return max(100, rows // 50)


def default_companies(rows: int) -> int:
    """Companies behind ``rows`` job postings (pass the same number to generate_companies)."""
    return max(100, rows // 4)


# ---------------------------------------------------------------------------------------------------
# SQL building blocks. Only numbers computed here and escaped literals reach the SQL text.
#
# Cost notes (measured, DuckDB 2.0): a constant list is rebuilt for every 2048-row vector, so lists
# stay small (at most a few hundred items); per-entity attributes are recomputed per row from the
# entity index instead of looked up. Strings of at most 12 bytes are stored inline, so ids are
# 'T' || (10^10 + n) rather than lpad(...). Low-cardinality text is built as ENUM values: Parquet
# gets them as plain dictionary-encoded strings without a hash per row.


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _enum(domain: Sequence[str]) -> str:
    return "ENUM(" + ", ".join(_q(v) for v in domain) + ")"


def _list(values: Sequence, enum: Sequence[str] | None = None) -> str:
    """A SQL list literal: text (as ENUM when ``enum`` is its domain), BIGINT or DOUBLE."""
    values = list(values)
    if values and isinstance(values[0], str):
        typ = _enum(enum) if enum is not None else "VARCHAR"
        return f"([{', '.join(_q(v) for v in values)}]::{typ}[])"
    if all(isinstance(v, int) for v in values):
        return f"([{', '.join(str(v) for v in values)}]::BIGINT[])"
    return f"([{', '.join(repr(float(v)) for v in values)}]::DOUBLE[])"


def _enum_list(values: Sequence[str]) -> str:
    return _list(values, sorted(set(values)))


def _salt(seed: int, name: str) -> int:
    """A 64-bit constant for one (seed, column) pair."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


def _uniform(index: str, seed: int, name: str) -> str:
    """A uniform in (0, 1) from the row index, the seed and a column name: the same value every run.

    ``hash(hash(i) XOR salt)``: DuckDB's one-argument integer hash is a 64-bit finaliser with full
    avalanche. (Its multi-argument ``hash(i, seed, salt)`` combines too weakly: values for two salts
    correlate strongly and rows 0 and 1 collide.)"""
    return f"(((hash(xor(hash({index}), {_salt(seed, name)}::UBIGINT)) >> 11)::DOUBLE + 0.5) * {2.0**-53!r})"


def _normal(u1: str, u2: str, *, second: bool = False) -> str:
    """A standard normal from two uniforms (Box-Muller); ``second`` gives the other, independent one
    of the pair."""
    return f"(sqrt(-2.0 * ln({u1})) * {'sin' if second else 'cos'}({2 * math.pi!r} * {u2}))"


def _alias_tables(weights: Sequence[float]) -> tuple[list[float], list[int]]:
    """Vose's alias tables: pick column k uniformly, keep it with prob[k], else take alias[k]."""
    n = len(weights)
    total = float(sum(weights))
    scaled = [w * n / total for w in weights]
    prob, alias = [1.0] * n, list(range(n))
    small = [i for i, s in enumerate(scaled) if s < 1.0]
    large = [i for i, s in enumerate(scaled) if s >= 1.0]
    while small and large:
        s, big = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], big
        scaled[big] -= 1.0 - scaled[s]
        (small if scaled[big] < 1.0 else large).append(big)
    return prob, alias


def _alias_pick(u: str, weights: Sequence[float]) -> str:
    """SQL for a 0-based index drawn with ``weights`` from the uniform column ``u`` (alias method:
    O(1) per row, for longer weight lists)."""
    prob, alias = _alias_tables(weights)
    n = len(weights)
    k = f"least(floor({u} * {n})::BIGINT, {n - 1})"
    return f"CASE WHEN {u} * {n} - {k} < {_list(prob)}[{k} + 1] THEN {k} ELSE {_list(alias)}[{k} + 1] END"


def _cdf_pick(u: str, weights: Sequence[float]) -> str:
    """SQL for a 0-based index drawn with ``weights`` by inverse CDF: monotone in ``u``, so a
    stratified ``u`` gives every weight its exact share."""
    total = float(sum(weights))
    parts, cum = [], 0.0
    for k, weight in enumerate(weights[:-1]):
        cum += weight / total
        parts.append(f"WHEN {u} < {cum!r} THEN {k}")
    return f"(CASE {' '.join(parts)} ELSE {len(weights) - 1} END)"


def _label_pick(u: str, choices: Sequence[tuple[str, float]]) -> str:
    labels = [label for label, _ in choices]
    return f"{_list(labels, labels)}[{_cdf_pick(u, [w for _, w in choices])} + 1]"


def _zipf_a(n: int, s: float) -> float:
    return (n + 1.0) ** (1.0 - s) - 1.0


def _zipf_base(u: str, a: str) -> str:
    """SQL for the base of ``_zipf_rank`` (compute it in an inner query): ``a`` is ``_zipf_a(n, s)``."""
    return f"(1.0 + {u} * {a})"


def _zipf_rank(base: str, n: str, s: float) -> str:
    """SQL for a 0-based rank in [0, n) with P(rank k) ~ (k + 1) ** -s, from the column ``base`` of
    ``_zipf_base``: the inverse CDF of a power law on [1, n + 1) applied to a uniform. An integer
    exponent 1 / (1 - s) becomes multiplications (pow() is the slow part)."""
    e = 1.0 / (1.0 - s)
    x = " * ".join([base] * round(e)) if abs(e - round(e)) < 1e-9 and round(e) <= 6 else f"pow({base}, {e!r})"
    return f"least(greatest(floor({x})::BIGINT - 1, 0), {n} - 1)"


def _coprime_multiplier(n: int, fraction: float) -> int:
    """An integer near ``n * fraction`` coprime with n, so ``(i * a + b) % n`` permutes [0, n)."""
    a = max(1, int(n * fraction))
    while math.gcd(a, n) != 1:
        a += 1
    return a


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` into parts proportional to ``weights``, each at least 1 (largest remainder)."""
    rest = total - len(weights)
    if rest < 0:
        raise ValueError(f"need at least {len(weights)}, got {total}")
    wsum = sum(weights)
    exact = [rest * w / wsum for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: rest - sum(parts)]:
        parts[i] += 1
    return [p + 1 for p in parts]


def _id_sql(prefix: str, number: str, count: int, digits: int) -> str:
    """'M10000001'-style ids: prefix, then 10**digits + number + 1 (fixed width, sorts like the
    number; at most 12 bytes when digits <= 10 so DuckDB keeps them inline)."""
    digits = max(digits, len(str(count)))
    return f"('{prefix}' || ({10**digits} + {number} + 1)::VARCHAR)"


def business_number_check_digit_sql(first_nine: str) -> str:
    """SQL for the check digit of a 사업자등록번호 whose first nine digits are the integer expression
    ``first_nine`` (0..999999999; leading zeros are zero digits). Same arithmetic as
    ``accounts.validators.business_number_check_digit``: weights 1,3,7,1,3,7,1,3,5, plus
    floor(d9 * 5 / 10), check = (10 - sum % 10) % 10."""
    terms = [f"(({first_nine}) // {10 ** (8 - k)} % 10) * {w}" for k, w in enumerate(_WEIGHTS)]
    terms.append(f"(({first_nine}) % 10) * 5 // 10")
    return f"((10 - ({' + '.join(terms)}) % 10) % 10)"


# ---------------------------------------------------------------------------------------------------
# Calendar. Time slots (parts of an hour, or of a day) get row blocks in proportion to their weight;
# a row's time is its place inside its block. Time is thus monotone in the row number (ids increase
# with time), per-slot counts are exact, and no per-row search is needed.


def _add_months(start: date, months: int) -> date:
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _holidays(first: date, last: date) -> tuple[set[date], set[date]]:
    """Public holidays in [first, last] and the five days before 설날/추석."""
    holidays: set[date] = set()
    for year in range(first.year, last.year + 1):
        holidays.update(date(year, m, d) for m, d in _SOLAR_HOLIDAYS)
    pre: set[date] = set()
    for eve in _LUNAR_HOLIDAYS:
        holidays.update(eve + timedelta(days=k) for k in range(3))
        pre.update(eve - timedelta(days=k) for k in range(1, 6))
    return holidays, pre - holidays


def _transaction_days(start: date, months: int) -> tuple[list[int], list[int]]:
    """Per day of the window: a volume factor (per mille) and its hour profile (0 weekday, 1 weekend or
    holiday)."""
    end = _add_months(start, months)
    holidays, pre = _holidays(start, end)
    weights, kinds = [], []
    for k in range((end - start).days):
        day = start + timedelta(days=k)
        month = _MONTH_FACTOR[day.month - 1]
        if day in holidays:
            factor = month * _HOLIDAY_FACTOR
        else:
            factor = month * _WEEKDAY_FACTOR[day.weekday()] * (_PRE_HOLIDAY_FACTOR if day in pre else 1.0)
        weights.append(round(factor * 1000))
        kinds.append(1 if day.weekday() >= 5 or day in holidays else 0)
    return weights, kinds


def _posting_days(start: date, months: int) -> list[int]:
    """Per day of the window: the posting volume factor (per mille)."""
    end = _add_months(start, months)
    holidays, _ = _holidays(start, end)
    weights = []
    for k in range((end - start).days):
        day = start + timedelta(days=k)
        factor = _POSTING_MONTH_FACTOR[day.month - 1] * _POSTING_WEEKDAY_FACTOR[day.weekday()]
        weights.append(round(factor * (0.1 if day in holidays else 1.0) * 1000))
    return weights


def _epoch_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400_000_000


_BLOCKS_PER_GROUP = 2048  # rows per row group of the helper file: DuckDB's smallest Parquet row group
_MIN_GROUPS = 32  # helper row groups to aim for: units of parallel work and of progress


def _count_blocks_sql(rows: int) -> str:
    """Blocks [lo, hi) covering 0..rows-1 in order (t0 unused)."""
    blocks = _MIN_GROUPS * _BLOCKS_PER_GROUP
    per = max(1, -(-rows // blocks))
    return (
        f"SELECT least(k * {per}, {rows}) AS lo, least((k + 1) * {per}, {rows}) AS hi, 0::BIGINT AS t0 "
        f"FROM range({blocks}) t(k)"
    )


def _time_blocks_sql(rows: int, start: date, slot_us: int, slots: int, weight_sql: str, total: int) -> str:
    """Blocks [lo, hi) of rows, one per time slot of ``slot_us`` microseconds from ``start``, sized in
    proportion to the slot's integer weight ``weight_sql`` (a SQL expression of the slot number s whose
    sum over all slots is ``total``): block boundaries are the rounded cumulative shares, in integer
    arithmetic only, so they are exact and the same on every run. A row's time is t0 plus its
    position inside the block."""
    return f"""
        SELECT lo::BIGINT AS lo, hi::BIGINT AS hi, {_epoch_us(start)} + s * {slot_us} AS t0
        FROM (
            SELECT s, ({2 * rows}::HUGEINT * (c - w) + {total}) // {2 * total} AS lo,
                ({2 * rows}::HUGEINT * c + {total}) // {2 * total} AS hi
            FROM (
                SELECT s, w, sum(w) OVER (ORDER BY s ROWS UNBOUNDED PRECEDING) AS c
                FROM (SELECT s, ({weight_sql})::BIGINT AS w FROM range({slots}) t(s))
            )
        )
        ORDER BY s
    """


def _subdivision(slots: int, slot_us: int) -> int:
    """Split each slot into this many equal parts (a power of two that divides slot_us) so there are
    enough blocks for _MIN_GROUPS row groups."""
    parts = 1
    while slots * parts < _MIN_GROUPS * _BLOCKS_PER_GROUP and slot_us % (parts * 2) == 0 and parts < 512:
        parts *= 2
    return parts


# ---------------------------------------------------------------------------------------------------
# Entities. Every attribute of a merchant, card or company is a pure SQL function of its index, so
# transactions and the directory compute the same values without a join.


@dataclass(frozen=True)
class _MerchantPlan:
    count: int
    sizes: list[int]  # merchants per region (population-apportioned, at least 1)
    starts: list[int]
    id_a: int
    id_b: int
    industry_a: int
    industry_b: int


def _merchant_plan(merchants: int, seed: int) -> _MerchantPlan:
    regions = load_regions()
    if merchants < len(regions):
        raise ValueError(f"merchants must be at least {len(regions)} (one per 시·군), got {merchants}")
    sizes = _apportion(merchants, [r.population for r in regions])
    return _MerchantPlan(
        count=merchants,
        sizes=sizes,
        starts=[sum(sizes[:r]) for r in range(len(regions))],
        id_a=_coprime_multiplier(merchants, 0.7548776662),
        id_b=_salt(seed, "merchant_id") % merchants,
        industry_a=_coprime_multiplier(merchants, 0.6180339887),
        industry_b=_salt(seed, "merchant_industry") % merchants,
    )


def _dong_tables() -> tuple[list[str], list[int], list[int]]:
    regions = load_regions()
    flat = [d for r in regions for d in r.dongs]
    counts = [len(r.dongs) for r in regions]
    return flat, [sum(counts[:r]) for r in range(len(regions))], counts


def _merchant_directory_sql(sql: str, regions) -> str:
    """The merchant rows of `sql` with the directory's columns: merchant_name, road_address,
    latitude and longitude."""
    lat_spread = _list([g.spread_km / 111.0 * 0.6 for g in regions])  # km -> degrees
    lon_spread = _list([g.spread_km / 88.0 * 0.6 for g in regions])
    words = [list(i.words) for i in INDUSTRIES]
    width = max(len(w) for w in words)
    flat_words = [w[k % len(w)] for w in words for k in range(width)]
    return f"""(
        SELECT *,
            CASE WHEN mu_name < 0.3 AND length(mu_stem) >= 2 THEN mu_stem
                 ELSE {_list(_SHOP_ADJECTIVES)}[floor(mu_adjective * {len(_SHOP_ADJECTIVES)})::BIGINT + 1] END
                || ' ' || {_list(flat_words)}[ind * {width} + floor(mu_word * {width})::BIGINT + 1]
                AS merchant_name,
            '경기도 ' || sigungu_name::VARCHAR || ' '
                || CASE WHEN mu_road < 0.4 AND length(mu_stem) >= 2 THEN mu_stem || '로'
                        ELSE {_list(_ROADS)}[floor(mu_road * {len(_ROADS)})::BIGINT + 1] END
                || CASE WHEN mu_gil < 0.35 THEN (1 + floor(mu_gil * 200))::BIGINT::VARCHAR || '번길'
                        ELSE '' END
                || ' ' || (1 + floor(pow(mu_number, 2) * 250))::BIGINT::VARCHAR AS road_address,
            round(greatest({_LAT_RANGE[0]}, least({_LAT_RANGE[1]}, {_list([g.lat for g in regions])}[r + 1]
                + {lat_spread}[r + 1] * {_normal("mu_lat", "mu_lon")})), 3)
                AS latitude,
            round(greatest({_LON_RANGE[0]}, least({_LON_RANGE[1]}, {_list([g.lon for g in regions])}[r + 1]
                + {lon_spread}[r + 1] * {_normal("mu_lat", "mu_lon", second=True)})), 3)
                AS longitude
        FROM (
            SELECT *, regexp_replace(dong::VARCHAR, '[0-9]*(동|읍|면)$', '') AS mu_stem,
                {_region_columns("r")}
            FROM {sql}
        )
    )"""


def _with_merchants(inner: str, plan: _MerchantPlan, seed: int, *, directory: bool = False) -> str:
    """``inner`` (columns m = merchant index, r = its region) with the merchant's columns added:
    merchant_id, industry (+ ind, its index), dong, mu (log of its typical amount) and, for the
    directory, merchant_name, road_address, latitude, longitude."""
    n = plan.count

    def u(name: str) -> str:
        return _uniform("m", seed, "merchant_" + name)

    regions = load_regions()
    flat, offsets, counts = _dong_tables()
    count = f"{_list(counts)}[r + 1]"
    names = [i.name for i in INDUSTRIES]
    extra = ""
    if directory:
        extra = ", " + ", ".join(
            f"{u(name)} AS mu_{name}"
            for name in ("name", "adjective", "word", "road", "gil", "number", "lat", "lon")
        )
    sql = f"""(
        SELECT *, {_id_sql("M", f"(m * {plan.id_a} + {plan.id_b}) % {n}", n, 7)} AS merchant_id,
            {_cdf_pick("mu_strat", [i.weight for i in INDUSTRIES])} AS ind,
            {_enum_list(flat)}[{_list(offsets)}[r + 1]
                + least(floor(mu_dong * mu_dong * {count})::BIGINT, {count} - 1) + 1]
                AS dong
        FROM (
            SELECT *, (((m * {plan.industry_a} + {plan.industry_b}) % {n})::DOUBLE + {u("industry")}) / {n}
                    AS mu_strat,
                {u("dong")} AS mu_dong, {u("price")} AS mu_price{extra}
            FROM {inner}
        )
    )"""
    sql = f"""(
        SELECT *, {_list(names, names)}[ind + 1] AS industry,
            {_list([math.log(i.median) for i in INDUSTRIES])}[ind + 1] + 0.5 * (mu_price - 0.5) AS mu
        FROM {sql}
    )"""
    return _merchant_directory_sql(sql, regions) if directory else sql


def _region_columns(r: str) -> str:
    regions = load_regions()
    codes, names = [g.code for g in regions], [g.name for g in regions]
    return (
        f"{_list(codes, codes)}[{r} + 1] AS sigungu_code, "
        f"{_list(names, sorted(names))}[{r} + 1] AS sigungu_name"
    )


def _with_cards(inner: str, cards: int, seed: int) -> str:
    """``inner`` (column c = card index) with card_id, age_band and sex: a card is one person."""
    a = _coprime_multiplier(cards, 0.5698402910)
    b = _salt(seed, "card_id") % cards
    return f"""(
        SELECT *, {_id_sql("C", f"(c * {a} + {b}) % {cards}", cards, 9)} AS card_id,
            {_label_pick("cu_age", _AGE_BANDS)} AS age_band, {_label_pick("cu_sex", _SEXES)} AS sex
        FROM (
            SELECT *, {_uniform("c", seed, "card_age")} AS cu_age, {_uniform("c", seed, "card_sex")} AS cu_sex
            FROM {inner}
        )
    )"""


@dataclass(frozen=True)
class _CompanyPlan:
    count: int
    rank_a: int  # size rank k = (c * rank_a + rank_b) % count; 0 is the biggest employer
    rank_b: int
    rank_a_inverse: int
    number_a: int  # slot = (c * number_a + number_b) % capacity -> tax office, kind, serial
    number_b: int
    capacity: int


def _company_plan(companies: int, seed: int) -> _CompanyPlan:
    kinds = len(_KIND_CODES)
    capacity = len(_TAX_OFFICES) * kinds * 10_000
    if not 1 <= companies <= capacity:
        raise ValueError(f"companies must be between 1 and {capacity}, got {companies}")
    rank_a = _coprime_multiplier(companies, 0.3819660113)
    return _CompanyPlan(
        count=companies,
        rank_a=rank_a,
        rank_b=_salt(seed, "company_rank") % companies,
        rank_a_inverse=pow(rank_a, -1, companies) if companies > 1 else 0,
        number_a=_coprime_multiplier(capacity, 0.4142135624),
        number_b=_salt(seed, "business_number") % capacity,
        capacity=capacity,
    )


def _with_companies(inner: str, plan: _CompanyPlan, seed: int) -> str:
    """``inner`` (columns c = company index, k = its size rank) with the company's columns added:
    business_number, company_name, ksic_code, employees, revenue_band, founded, sigungu_*."""
    n, kinds = plan.count, len(_KIND_CODES)

    def u(name: str) -> str:
        return _uniform("c", seed, "company_" + name)

    n9 = (
        f"({_list([int(o) for o in _TAX_OFFICES])}[co_slot // {kinds * 10_000} + 1] * 1000000"
        f" + {_list(list(_KIND_CODES))}[co_slot // 10000 % {kinds} + 1] * 10000 + co_slot % 10000)"
    )
    suffixes = [list(s.suffixes) for s in _SECTORS]
    width = max(len(s) for s in suffixes)
    flat_suffixes = [s[k % len(s)] for s in suffixes for k in range(width)]
    ksic = [s.ksic for s in _SECTORS]
    bands = ["1억 미만", "1~10억", "10~100억", "100억 이상"]
    regions = load_regions()
    return f"""(
        SELECT *,
            lpad(co_n9::VARCHAR, 9, '0') || {business_number_check_digit_sql("co_n9")}::VARCHAR
                AS business_number,
            CASE WHEN co_n9 // 10000 % 100 >= {_CORPORATE_KIND} THEN '(주)' ELSE '' END
                || {_list(_COMPANY_STEMS)}[floor(co_u_stem * {len(_COMPANY_STEMS)})::BIGINT + 1]
                || {_list(flat_suffixes)}[co_sector * {width} + floor(co_u_suffix * {width})::BIGINT + 1]
                AS company_name,
            {_list(ksic, sorted(set(ksic)))}[co_sector + 1] AS ksic_code,
            {_list(bands, bands)}[(CASE WHEN co_revenue < 1e8 THEN 0 WHEN co_revenue < 1e9 THEN 1
                WHEN co_revenue < 1e10 THEN 2 ELSE 3 END) + 1] AS revenue_band,
            DATE '{_COMPANY_AS_OF.isoformat()}'
                - floor(least(60.0, -ln(co_u_age) * (6.0 + 4.0 * ln(employees))) * 365.25)::INTEGER
                AS founded,
            {_region_columns("co_r")}
        FROM (
            SELECT *,
                employees
                    * exp({math.log(_REVENUE_PER_EMPLOYEE)!r} + 0.8 * {_normal("co_u_rev", "co_u_rev2")})
                    AS co_revenue
            FROM (
                SELECT *, {_alias_pick("co_u_region", [g.population for g in regions])} AS co_r,
                    {_alias_pick("co_u_sector", [s.weight for s in _SECTORS])} AS co_sector,
                    {n9} AS co_n9,
                    greatest(1, least(100000, floor(
                        pow({n}::DOUBLE / (k + co_u_size), {1 / _EMPLOYEES_PARETO_ALPHA!r})
                        * exp(0.3 * {_normal("co_u_noise", "co_u_noise2")}))))::INTEGER AS employees
                FROM (
                    SELECT *, (c * {plan.number_a} + {plan.number_b}) % {plan.capacity} AS co_slot,
                        {u("region")} AS co_u_region, {u("sector")} AS co_u_sector, {u("size")} AS co_u_size,
                        {u("noise")} AS co_u_noise, {u("noise2")} AS co_u_noise2, {u("revenue")} AS co_u_rev,
                        {u("revenue2")} AS co_u_rev2, {u("age")} AS co_u_age, {u("stem")} AS co_u_stem,
                        {u("suffix")} AS co_u_suffix
                    FROM {inner}
                )
            )
        )
    )"""


# ---------------------------------------------------------------------------------------------------
# Running one COPY with progress

# The row source. range() is a single-threaded source in DuckDB. Rows are numbered instead from a small
# helper Parquet file of blocks [lo, hi) (plus the block's start time t0), written first, with many
# row groups: DuckDB scans them in parallel and, with preserve_insertion_order, writes the output in
# block order. The bytes written do not depend on the thread count.


def _connection_setting(con, name: str):
    return con.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def _progress_settings(con) -> dict:
    """Set what the COPY needs (rows in block order: the same file every run, whatever the
    thread count; query_progress() reporting, nothing printed); returns the settings before."""
    names = ("preserve_insertion_order", "enable_progress_bar", "enable_progress_bar_print")
    saved = {name: _connection_setting(con, name) for name in names}
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return saved


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _reporter(progress: Progress) -> Callable[[float], None]:
    """DuckDB's progress (a share) as the increasing whole percents below 100 `progress` takes."""
    last = 0

    def report(fraction: float) -> None:
        nonlocal last
        pct = int(fraction * 100)
        if last < pct < 100:
            last = pct
            progress(pct)

    return report


def _run_copy(
    build_sql: Callable[[str], str], blocks_sql: str, out: Path, *, progress: Progress, con
) -> dict:
    """COPY ``build_sql(source)`` into ONE zstd Parquet file at ``out``, atomically (temp file, then
    rename), reporting DuckDB's query progress as increasing integers 0..100. ``blocks_sql`` gives
    ordered blocks (lo, hi, t0); ``source`` is a subquery of their rows: i = lo..hi-1 (the row number),
    lo, hi and t0.

    The COPY runs in a helper thread while this thread polls ``query_progress()`` and calls
    ``progress`` (callbacks run on the caller's thread). If ``progress`` raises, the query is
    interrupted, nothing is left behind and the error propagates."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    tmp = out.with_name(f".{out.name}.{token}.part")
    helper = out.with_name(f".{out.name}.{token}.rows.parquet")
    own = con is None
    if own:
        con = jangteo_duckdb.connect()
    saved: dict = {}
    try:
        saved = _progress_settings(con)
        progress(0)
        con.execute(
            f"COPY ({blocks_sql}) TO {_q(str(helper))} (FORMAT parquet, ROW_GROUP_SIZE {_BLOCKS_PER_GROUP})"
        )
        source = f"(SELECT unnest(range(lo, hi)) AS i, lo, hi, t0 FROM read_parquet({_q(str(helper))}))"
        # Our own temp file and rename: DuckDB need not write a tmp_ file of its own.
        sql = (
            f"COPY ({build_sql(source)}) TO {_q(str(tmp))} "
            "(FORMAT parquet, COMPRESSION zstd, USE_TMP_FILE false)"
        )
        # On a helper thread, DuckDB's progress polled here; a progress callback that raises
        # (or Ctrl-C) interrupts the COPY.
        ((rows,),) = jangteo_duckdb.execute_reporting(
            con, sql, [], _reporter(progress), poll_seconds=_PROGRESS_POLL_SECONDS
        )
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        helper.unlink(missing_ok=True)
        if own:
            con.close()
        else:
            for name, value in saved.items():
                con.execute(f"SET {name} = {'true' if value else 'false'}")
    summary = {"rows": int(rows), "bytes": out.stat().st_size, "sha256": _sha256(out)}
    progress(100)
    return summary


def _count(name: str, value: int, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _noop(pct: int) -> None:
    return None


# ---------------------------------------------------------------------------------------------------
# Public API


def generate_card_transactions(
    out: Path,
    *,
    rows: int,
    seed: int = 42,
    start: date = date(2024, 1, 1),
    months: int = 12,
    merchants: int | None = None,
    cards: int | None = None,
    progress: Progress = _noop,
    con=None,
) -> dict:
    """Local-currency card transactions in Gyeonggi: ``rows`` of them from ``start`` for ``months``
    months, in time order. ``merchants`` defaults to ``default_merchants(rows)`` and ``cards`` to
    ``default_cards(rows)``; pass the same ``merchants`` (and seed) to ``generate_merchants`` for the
    matching merchant directory. Returns ``{"rows", "bytes", "sha256"}``."""
    build, blocks = card_transactions_query(
        rows=rows, seed=seed, start=start, months=months, merchants=merchants, cards=cards
    )
    return _run_copy(build, blocks, out, progress=progress, con=con)


def _card_time_blocks(rows: int, start: date, months: int) -> tuple[str, int]:
    """The row-block query of the card payments (rows spread over days and hours by their
    weights) and the length of one time slot in microseconds."""
    day_weights, day_kinds = _transaction_days(start, months)
    days = len(day_weights)
    parts = _subdivision(days * 24, 3_600_000_000)
    slot_us = 3_600_000_000 // parts
    hour_weights = [round(w * 100) for w in _WEEKDAY_HOURS + _WEEKEND_HOURS]
    total = sum(dw * sum(hour_weights[k * 24 : k * 24 + 24]) * parts for dw, k in zip(day_weights, day_kinds))
    weight = (
        f"{_list(day_weights)}[s // {24 * parts} + 1]"
        f" * {_list(hour_weights)}[{_list(day_kinds)}[s // {24 * parts} + 1] * 24 + s // {parts} % 24 + 1]"
    )
    return _time_blocks_sql(rows, start, slot_us, days * 24 * parts, weight, total), slot_us


def _card_pick_sql(source: str, *, seed, slot_us, pops, plan, card_sizes, card_starts) -> str:
    """Each payment of `source`'s blocks with its time, region, merchant and card drawn."""

    def u(name: str) -> str:
        return _uniform("i", seed, "tx_" + name)

    merchant_a = _list([_zipf_a(size, _MERCHANT_ZIPF) for size in plan.sizes])
    card_a = _list([_zipf_a(size, _CARD_ZIPF) for size in card_sizes])
    merchant_rank = _zipf_rank("zm", f"{_list(plan.sizes)}[r + 1]", _MERCHANT_ZIPF)
    card_rank = _zipf_rank("zc", f"{_list(card_sizes)}[home + 1]", _CARD_ZIPF)
    home = f"CASE WHEN u_cr < {_CARD_HOME_SHARE!r} THEN r ELSE {_alias_pick('u_cr2', pops)} END"
    # A row's time: its place inside its block, spread evenly over the block's slot; cut to seconds.
    return f"""(
            SELECT *, {_list(card_starts)}[home + 1] + {card_rank} AS c
            FROM (
                SELECT *, {_list(plan.starts)}[r + 1] + {merchant_rank} AS m,
                    {_zipf_base("u_c", f"{card_a}[home + 1]")} AS zc
                FROM (
                    SELECT *, {home} AS home, {_zipf_base("u_m", f"{merchant_a}[r + 1]")} AS zm
                    FROM (
                        SELECT i,
                            make_timestamp(
                                (t0 + floor(((i - lo)::DOUBLE + u_time) * {slot_us} / (hi - lo))::BIGINT)
                                // 1000000 * 1000000
                            ) AS approved_at,
                            {_alias_pick("u_r", pops)} AS r, u_m, u_cr,
                            (u_cr - {_CARD_HOME_SHARE!r}) / {1 - _CARD_HOME_SHARE!r} AS u_cr2,
                            u_c, u_amount, u_ch
                        FROM (
                            SELECT i, lo, hi, t0, {u("time")} AS u_time, {u("region")} AS u_r,
                                {u("merchant")} AS u_m,
                                {u("card_region")} AS u_cr, {u("card")} AS u_c, {u("amount")} AS u_amount,
                                {u("channel")} AS u_ch
                            FROM {source}
                        )
                    )
                )
            )
        )"""


def card_transactions_query(
    *,
    rows: int,
    seed: int = 42,
    start: date = date(2024, 1, 1),
    months: int = 12,
    merchants: int | None = None,
    cards: int | None = None,
) -> tuple[Callable[[str], str], str]:
    """The SQL behind ``generate_card_transactions``: ``(build, blocks)``, where ``blocks`` is the
    query for the row-block helper file and ``build(source)`` the SELECT over its rows (see
    ``_run_copy``). For benchmarks that time the bare COPY."""
    rows, months, seed = _count("rows", rows), _count("months", months, 1), int(seed)
    merchants = default_merchants(rows) if merchants is None else _count("merchants", merchants)
    cards = default_cards(rows) if cards is None else _count("cards", cards)
    regions = load_regions()
    if cards < len(regions):
        raise ValueError(f"cards must be at least {len(regions)} (one per 시·군), got {cards}")
    plan = _merchant_plan(merchants, seed)
    pops = [g.population for g in regions]
    card_sizes = _apportion(cards, pops)
    card_starts = [sum(card_sizes[:r]) for r in range(len(regions))]
    blocks, slot_us = _card_time_blocks(rows, start, months)
    # Amounts are log-logistic (a log-normal look-alike that needs one uniform and one ln): the
    # logistic scale sigma * sqrt(3) / pi matches the industry's log-normal sigma; capped at 50x.
    spread = _list([i.sigma * math.sqrt(3) / math.pi for i in INDUSTRIES])
    cap = math.log(50)
    units = _list([i.unit for i in INDUSTRIES])

    def build(source: str) -> str:
        picked = _card_pick_sql(
            source,
            seed=seed,
            slot_us=slot_us,
            pops=pops,
            plan=plan,
            card_sizes=card_sizes,
            card_starts=card_starts,
        )
        entities = _with_cards(_with_merchants(picked, plan, seed), cards, seed)
        return f"""
            SELECT {_id_sql("T", "i", rows, 10)} AS transaction_id, approved_at, {_region_columns("r")},
                dong, merchant_id, industry, card_id,
                (greatest(1, round(exp(mu + least({cap!r}, greatest({-cap!r},
                    {spread}[ind + 1] * ln(u_amount / (1.0 - u_amount))))) / {units}[ind + 1]))
                    * {units}[ind + 1])::BIGINT AS amount,
                age_band, sex, {_label_pick("u_ch", _CHANNELS)} AS channel
            FROM {entities}
        """

    return build, blocks


def generate_merchants(
    out: Path, *, merchants: int, seed: int = 42, progress: Progress = _noop, con=None
) -> dict:
    """The merchant directory behind ``generate_card_transactions(merchants=..., seed=...)``, in
    ``merchant_id`` order. ``road_address`` is fake but address-like (mark it excluded);
    latitude/longitude scatter around the 시·군's centre, inside Gyeonggi."""
    merchants, seed = _count("merchants", merchants), int(seed)
    plan = _merchant_plan(merchants, seed)
    inverse = pow(plan.id_a, -1, merchants) if merchants > 1 else 0
    region = " + ".join(f"(m >= {s})::INTEGER" for s in plan.starts[1:])

    def build(source: str) -> str:
        # Row j is merchant_id number j: m is the inverse of the id permutation.
        ordered = f"""(
            SELECT *, {region} AS r
            FROM (SELECT (i + {merchants - plan.id_b}) * {inverse} % {merchants} AS m FROM {source})
        )"""
        return f"""
            SELECT merchant_id, merchant_name, industry, road_address, latitude, longitude,
                sigungu_code, sigungu_name, dong
            FROM {_with_merchants(ordered, plan, seed, directory=True)}
        """

    return _run_copy(build, _count_blocks_sql(merchants), out, progress=progress, con=con)


def generate_companies(
    out: Path, *, companies: int, seed: int = 42, progress: Progress = _noop, con=None
) -> dict:
    """Companies registered in Gyeonggi: valid 사업자등록번호 (some with a leading zero), KSIC code,
    heavy-tailed head count, revenue band, founding date, 시·군."""
    seed = int(seed)
    plan = _company_plan(_count("companies", companies, 1), seed)

    def build(source: str) -> str:
        inner = f"(SELECT i AS c, (i * {plan.rank_a} + {plan.rank_b}) % {plan.count} AS k FROM {source})"
        return f"""
            SELECT business_number, company_name, ksic_code, employees, revenue_band, founded,
                sigungu_code, sigungu_name
            FROM {_with_companies(inner, plan, seed)}
        """

    return _run_copy(build, _count_blocks_sql(plan.count), out, progress=progress, con=con)


def _job_posting_sql(source: str, *, rows: int, seed: int, plan, window_end: date) -> str:
    """The job postings drawn for `source`'s blocks (see generate_job_postings)."""
    occupations = [o[0] for o in _OCCUPATIONS]
    company_rank = _zipf_rank(_zipf_base("u_company", repr(_zipf_a(plan.count, 0.9))), str(plan.count), 0.9)
    types = [t for t, _ in _EMPLOYMENT_TYPES]

    def u(name: str) -> str:
        return _uniform("i", seed, "job_" + name)

    inner = f"""(
        SELECT *, (k + {plan.count - plan.rank_b}) * {plan.rank_a_inverse} % {plan.count} AS c
        FROM (
            SELECT i, make_timestamp(t0)::DATE AS posted_on,
                {company_rank} AS k,
                {_alias_pick("u_occ", [o[2] for o in _OCCUPATIONS])} AS occ,
                {_cdf_pick("u_type", [w for _, w in _EMPLOYMENT_TYPES])} AS etype,
                u_w1, u_w2, u_dur, u_open
            FROM (
                SELECT i, t0, {u("company")} AS u_company, {u("occupation")} AS u_occ,
                    {u("type")} AS u_type, {u("wage")} AS u_w1, {u("wage2")} AS u_w2,
                    {u("duration")} AS u_dur, {u("open")} AS u_open
                FROM {source}
            )
        )
    )"""
    posted = f"""(
        SELECT *,
            {_list([o[1] for o in _OCCUPATIONS])}[occ + 1]::DOUBLE * exp(0.2 * {_normal("u_w1", "u_w2")})
                * (1.0 + 0.04 * ln(employees))
                * CASE WHEN etype = 2 THEN {_PART_TIME_SHARE_OF_WAGE!r} ELSE 1.0 END AS wage,
            (7 + least(83, floor(-ln(u_dur) * 18)))::INTEGER AS duration
        FROM {_with_companies(inner, plan, seed)}
    )"""
    return f"""
        SELECT {_id_sql("J", "i", rows, 9)} AS posting_id, business_number, company_name,
            sigungu_code, sigungu_name,
            {_list(occupations, sorted(occupations))}[occ + 1] AS occupation,
            {_list(types, types)}[etype + 1] AS employment_type,
            CASE WHEN etype = 2 THEN round(wage, -4)
                 ELSE greatest({MINIMUM_MONTHLY_WAGE}, round(wage, -4)) END::BIGINT AS monthly_wage,
            posted_on,
            CASE WHEN u_open < {_POSTING_OPEN_ENDED_SHARE!r} THEN NULL
                 WHEN posted_on + duration >= DATE '{window_end.isoformat()}' THEN NULL
                 ELSE posted_on + duration END AS closed_on
        FROM {posted}
    """


def generate_job_postings(
    out: Path,
    *,
    rows: int,
    seed: int = 42,
    companies: int | None = None,
    start: date = date(2024, 1, 1),
    months: int = 12,
    progress: Progress = _noop,
    con=None,
) -> dict:
    """Job postings by the companies of ``generate_companies(companies=..., seed=...)`` (pass the same
    ``companies``; default ``default_companies(rows)``), posted in date order from ``start`` for
    ``months`` months; bigger employers post more. ``closed_on`` is NULL while a posting is open
    (open-ended, or closing after the window)."""
    rows, months, seed = _count("rows", rows), _count("months", months, 1), int(seed)
    companies = default_companies(rows) if companies is None else _count("companies", companies, 1)
    plan = _company_plan(companies, seed)
    day_weights = _posting_days(start, months)
    parts = _subdivision(len(day_weights), 86_400_000_000)
    blocks = _time_blocks_sql(
        rows,
        start,
        86_400_000_000 // parts,
        len(day_weights) * parts,
        f"{_list(day_weights)}[s // {parts} + 1]",
        sum(day_weights) * parts,
    )
    window_end = _add_months(start, months)

    def build(source: str) -> str:
        return _job_posting_sql(source, rows=rows, seed=seed, plan=plan, window_end=window_end)

    return _run_copy(build, blocks, out, progress=progress, con=con)

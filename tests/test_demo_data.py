"""The synthetic Gyeonggi economy (demo/generator.py): deterministic files, sane
distributions, and files that agree with each other (transactions ↔ merchant directory, job
postings ↔ companies). Small sizes: the whole module runs in a few seconds."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.validators import business_number_check_digit, is_valid_business_number
from demo import generator as demo_data
from marketplace import duckdb as jangteo_duckdb

ROWS = 200_000  # transactions for the distribution tests
MERCHANTS = demo_data.default_merchants(ROWS)
COMPANIES = 5_000
POSTINGS = 20_000
SEED = 42


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One generated set of files, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("demo_data")
    progress: list[int] = []
    paths = {
        "tx": root / "card_transactions.parquet",
        "merchants": root / "merchants.parquet",
        "companies": root / "companies.parquet",
        "postings": root / "job_postings.parquet",
    }
    summaries = {
        "tx": demo_data.generate_card_transactions(
            paths["tx"], rows=ROWS, seed=SEED, progress=progress.append
        ),
        "merchants": demo_data.generate_merchants(paths["merchants"], merchants=MERCHANTS, seed=SEED),
        "companies": demo_data.generate_companies(paths["companies"], companies=COMPANIES, seed=SEED),
        "postings": demo_data.generate_job_postings(
            paths["postings"], rows=POSTINGS, companies=COMPANIES, seed=SEED
        ),
    }
    return {"root": root, "paths": paths, "summaries": summaries, "progress": progress}


@pytest.fixture(scope="module")
def db(files):
    con = duckdb.connect()
    for name, path in files["paths"].items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    yield con
    con.close()


def one(con, sql, params=None):
    return con.execute(sql, params or []).fetchone()


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the business registration number check digit, in SQL --------------------------------------


def sql_check_digits(numbers: list[int]) -> list[int]:
    expr = demo_data.business_number_check_digit_sql("n")
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT {expr} FROM (SELECT unnest(?::BIGINT[]) AS n, generate_subscripts(?::BIGINT[], 1) AS k) ORDER BY k",
            [numbers, numbers],
        ).fetchall()
    return [r[0] for r in rows]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=999_999_999), min_size=1, max_size=200))
def test_check_digit_sql_matches_the_python_validator(numbers):
    expected = [business_number_check_digit(f"{n:09d}") for n in numbers]
    assert sql_check_digits(numbers) == expected


def test_check_digit_sql_matches_on_a_sweep_of_100k_numbers():
    expr = demo_data.business_number_check_digit_sql("n")
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT n, {expr} FROM range(0, 1000000000, 9973) t(n)").fetchall()
    assert len(rows) > 100_000
    assert all(check == business_number_check_digit(f"{n:09d}") for n, check in rows)


def test_check_digit_sql_matches_on_edge_cases():
    numbers = [0, 1, 9, 10, 99, 100_000_000, 123_456_789, 999_999_999, 101_820_001, 5, 55, 555_555_555]
    assert sql_check_digits(numbers) == [business_number_check_digit(f"{n:09d}") for n in numbers]


# --- files, summaries, determinism ---------------------------------------------------------------


def test_each_generator_writes_one_zstd_parquet_file_and_reports_it(files):
    root = files["root"]
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in files["paths"].values())
    for name, path in files["paths"].items():
        summary = files["summaries"][name]
        meta = pq.ParquetFile(path).metadata
        assert summary == {"rows": meta.num_rows, "bytes": path.stat().st_size, "sha256": sha256(path)}
        codecs = {
            meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(3)
        }
        assert codecs == {"ZSTD"}
    assert files["summaries"]["tx"]["rows"] == ROWS
    assert files["summaries"]["merchants"]["rows"] == MERCHANTS
    assert files["summaries"]["companies"]["rows"] == COMPANIES
    assert files["summaries"]["postings"]["rows"] == POSTINGS


def test_schemas(db):
    def columns(view):
        return {name: typ for name, typ, *_ in db.execute(f"DESCRIBE {view}").fetchall()}

    assert columns("tx") == {
        "transaction_id": "VARCHAR", "approved_at": "TIMESTAMP", "sigungu_code": "VARCHAR",
        "sigungu_name": "VARCHAR", "dong": "VARCHAR", "merchant_id": "VARCHAR", "industry": "VARCHAR",
        "card_id": "VARCHAR", "amount": "BIGINT", "age_band": "VARCHAR", "sex": "VARCHAR", "channel": "VARCHAR",
    }  # fmt: skip
    assert columns("merchants") == {
        "merchant_id": "VARCHAR", "merchant_name": "VARCHAR", "industry": "VARCHAR", "road_address": "VARCHAR",
        "latitude": "DOUBLE", "longitude": "DOUBLE", "sigungu_code": "VARCHAR", "sigungu_name": "VARCHAR",
        "dong": "VARCHAR",
    }  # fmt: skip
    assert columns("companies") == {
        "business_number": "VARCHAR", "company_name": "VARCHAR", "ksic_code": "VARCHAR", "employees": "INTEGER",
        "revenue_band": "VARCHAR", "founded": "DATE", "sigungu_code": "VARCHAR", "sigungu_name": "VARCHAR",
    }  # fmt: skip
    assert columns("postings") == {
        "posting_id": "VARCHAR", "business_number": "VARCHAR", "company_name": "VARCHAR",
        "sigungu_code": "VARCHAR", "sigungu_name": "VARCHAR", "occupation": "VARCHAR",
        "employment_type": "VARCHAR", "monthly_wage": "BIGINT", "posted_on": "DATE", "closed_on": "DATE",
    }  # fmt: skip


def test_same_seed_gives_the_same_bytes_whatever_the_thread_count(tmp_path):
    def tx(name, seed, threads):
        con = jangteo_duckdb.connect(threads=threads, temp_directory=tmp_path / "spill")
        try:
            return demo_data.generate_card_transactions(tmp_path / name, rows=60_000, seed=seed, con=con)[
                "sha256"
            ]
        finally:
            con.close()

    first = tx("a.parquet", 42, 2)
    assert tx("b.parquet", 42, 2) == first
    assert tx("c.parquet", 42, 1) == first
    assert tx("d.parquet", 7, 2) != first
    assert sha256(tmp_path / "a.parquet") == first


@pytest.mark.parametrize(
    ("generate", "kwargs"),
    [
        (demo_data.generate_merchants, {"merchants": 500}),
        (demo_data.generate_companies, {"companies": 2_000}),
        (demo_data.generate_job_postings, {"rows": 5_000, "companies": 500}),
    ],
)
def test_other_files_are_deterministic_too(tmp_path, generate, kwargs):
    a = generate(tmp_path / "a.parquet", seed=1, **kwargs)
    b = generate(tmp_path / "b.parquet", seed=1, **kwargs)
    c = generate(tmp_path / "c.parquet", seed=2, **kwargs)
    assert a == b
    assert c["sha256"] != a["sha256"]


def test_progress_is_increasing_from_0_to_100(files):
    progress = files["progress"]
    assert progress[0] == 0
    assert progress[-1] == 100
    assert all(isinstance(p, int) for p in progress)
    assert progress == sorted(set(progress))


def test_a_failing_progress_callback_stops_and_leaves_nothing(tmp_path):
    class Stop(Exception):
        pass

    def progress(pct):
        if pct > 0:
            raise Stop

    with pytest.raises(Stop):
        demo_data.generate_card_transactions(tmp_path / "tx.parquet", rows=2_000_000, progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_a_callers_connection_keeps_its_settings(tmp_path):
    con = jangteo_duckdb.connect(temp_directory=tmp_path / "spill")
    before = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('enable_progress_bar')"
    ).fetchone()
    demo_data.generate_companies(tmp_path / "c.parquet", companies=100, con=con)
    after = con.execute(
        "SELECT current_setting('preserve_insertion_order'), current_setting('enable_progress_bar')"
    ).fetchone()
    assert after == before
    assert one(con, f"SELECT count(*) FROM '{tmp_path / 'c.parquet'}'") == (100,)
    con.close()


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="merchants"):
        demo_data.generate_merchants(tmp_path / "m.parquet", merchants=10)
    with pytest.raises(ValueError, match="rows"):
        demo_data.generate_card_transactions(tmp_path / "t.parquet", rows=-1)
    with pytest.raises(ValueError, match="companies"):
        demo_data.generate_companies(tmp_path / "c.parquet", companies=0)
    assert list(tmp_path.iterdir()) == []


def test_zero_rows_gives_an_empty_file_with_the_schema(tmp_path):
    summary = demo_data.generate_card_transactions(tmp_path / "t.parquet", rows=0)
    assert summary["rows"] == 0
    assert "amount" in pq.ParquetFile(tmp_path / "t.parquet").schema_arrow.names


# --- card transactions: distributions ------------------------------------------------------------


def test_every_region_appears_in_proportion_to_its_population(db):
    regions = json.loads(demo_data.REGIONS_FILE.read_text(encoding="utf-8"))
    total_population = sum(r["population"] for r in regions)
    counts = dict(db.execute("SELECT sigungu_code, count(*) FROM tx GROUP BY 1").fetchall())
    names = dict(db.execute("SELECT DISTINCT sigungu_code, sigungu_name FROM tx").fetchall())
    assert set(counts) == {r["code"] for r in regions}
    for r in regions:
        expected = ROWS * r["population"] / total_population
        assert abs(counts[r["code"]] - expected) < 5 * math.sqrt(expected) + 0.02 * expected, r["name"]
        assert names[r["code"]] == r["name"]


def test_every_category_is_used(db):
    def values(column):
        return {v for (v,) in db.execute(f"SELECT DISTINCT {column} FROM tx").fetchall()}

    assert values("industry") == {i.name for i in demo_data.INDUSTRIES}
    assert values("age_band") == {"20대", "30대", "40대", "50대", "60대", "70대 이상"}
    assert values("sex") == {"F", "M"}
    assert values("channel") == {"card", "mobile", "paper"}
    card, mobile, paper = (
        one(db, "SELECT avg((channel = ?)::INT) FROM tx", [c])[0] for c in ("card", "mobile", "paper")
    )
    assert card == pytest.approx(0.70, abs=0.01)
    assert mobile == pytest.approx(0.25, abs=0.01)
    assert paper == pytest.approx(0.05, abs=0.005)
    assert all(v.endswith(("동", "읍", "면")) for v in values("dong"))


def test_amounts_are_positive_rounded_and_ordered_by_industry(db):
    assert one(db, "SELECT min(amount) > 0, bool_and(amount % 10 = 0) FROM tx") == (True, True)
    medians = dict(db.execute("SELECT industry, median(amount) FROM tx GROUP BY 1").fetchall())
    assert medians["주유소"] > medians["한식 음식점"] > medians["카페"]
    assert medians["학원"] > medians["주유소"]
    assert 3_000 < medians["카페"] < 8_000
    assert 8_000 < medians["한식 음식점"] < 18_000
    assert 30_000 < medians["주유소"] < 80_000
    units = {i.name: i.unit for i in demo_data.INDUSTRIES}
    rounded = db.execute("SELECT industry, bool_and(amount % 100 = 0) FROM tx GROUP BY 1").fetchall()
    assert all(ok for industry, ok in rounded if units[industry] == 100)


def test_time_follows_the_calendar_and_the_clock(db):
    hours = dict(db.execute("SELECT hour(approved_at), count(*) FROM tx GROUP BY 1").fetchall())
    assert hours[12] > 5 * hours[3]
    assert hours[19] > 5 * hours[4]
    assert min(hours[12], hours[18]) > hours[15] > hours[9]
    months = dict(
        db.execute(
            "SELECT month(approved_at), count(*) / count(DISTINCT approved_at::DATE) FROM tx GROUP BY 1"
        ).fetchall()
    )
    assert months[12] == max(months.values())
    assert months[2] < months[1]
    days = dict(db.execute("SELECT isodow(approved_at), count(*) FROM tx GROUP BY 1").fetchall())
    assert days[5] > days[1] and days[6] > days[7]
    # Weekends (and holidays) have another profile: a later morning.
    early = dict(
        db.execute(
            "SELECT isodow(approved_at) >= 6, avg((hour(approved_at) BETWEEN 7 AND 9)::INT) FROM tx GROUP BY 1"
        ).fetchall()
    )
    assert early[False] > 1.5 * early[True]


def test_rows_are_in_time_order_inside_the_window(db):
    first, last, ordered = one(
        db,
        """SELECT min(approved_at), max(approved_at), bool_and(approved_at <= next)
           FROM (SELECT approved_at, lead(approved_at) OVER (ORDER BY transaction_id) AS next FROM tx)""",
    )
    assert ordered
    assert datetime(2024, 1, 1) <= first < datetime(2024, 1, 2)
    assert datetime(2024, 12, 31) <= last < datetime(2025, 1, 1)
    assert one(db, "SELECT count(DISTINCT transaction_id) = count(*) FROM tx") == (True,)


def top_share(db, column, fraction):
    return one(
        db,
        f"""SELECT sum(n) FILTER (WHERE rank <= ceil(entities * {fraction})) / sum(n)
            FROM (SELECT n, row_number() OVER (ORDER BY n DESC) AS rank, count(*) OVER () AS entities
                  FROM (SELECT {column}, count(*) AS n FROM tx GROUP BY 1))""",
    )[0]


def test_merchants_and_cards_are_zipf_popular(db):
    # With every merchant (card) equally popular the top 1% would hold about 1% of the rows.
    assert top_share(db, "merchant_id", 0.01) > 0.04
    assert top_share(db, "merchant_id", 0.20) > 0.40
    assert top_share(db, "card_id", 0.01) > 0.03
    assert one(db, "SELECT count(DISTINCT merchant_id) FROM tx")[0] > 0.9 * MERCHANTS


def test_a_card_is_one_person(db):
    assert one(
        db, "SELECT max(n) FROM (SELECT count(DISTINCT (age_band, sex)) AS n FROM tx GROUP BY card_id)"
    ) == (1,)


# --- the merchant directory ----------------------------------------------------------------------


def test_every_merchant_in_the_transactions_is_in_the_directory_with_the_same_attributes(db):
    missing = one(
        db,
        """SELECT count(*) FROM (SELECT DISTINCT merchant_id, sigungu_code, sigungu_name, industry, dong FROM tx) t
           ANTI JOIN merchants m USING (merchant_id, sigungu_code, sigungu_name, industry, dong)""",
    )
    assert missing == (0,)
    assert one(
        db,
        "SELECT max(n) FROM (SELECT count(DISTINCT (sigungu_code, industry, dong)) n FROM tx GROUP BY merchant_id)",
    ) == (1,)


def test_the_directory_is_sorted_unique_and_plausible(db):
    ids = [m for (m,) in db.execute("SELECT merchant_id FROM merchants").fetchall()]
    assert ids == sorted(set(ids)) and len(ids) == MERCHANTS
    assert one(db, "SELECT count(DISTINCT sigungu_code), count(DISTINCT industry) FROM merchants") == (31, 20)
    lat, lon = one(
        db,
        "SELECT min(latitude) >= 36.9 AND max(latitude) <= 38.3, min(longitude) >= 126.4 AND max(longitude) <= 127.9 FROM merchants",
    )
    assert lat and lon
    assert one(
        db,
        "SELECT bool_and(round(latitude, 3) = latitude AND round(longitude, 3) = longitude) FROM merchants",
    ) == (True,)
    # Near their own city: within ~0.35 degrees of its centre.
    centres = {r.code: (r.lat, r.lon) for r in demo_data.load_regions()}
    for code, lat, lon in db.execute(
        "SELECT sigungu_code, avg(latitude), avg(longitude) FROM merchants GROUP BY 1"
    ).fetchall():
        assert abs(lat - centres[code][0]) < 0.35 and abs(lon - centres[code][1]) < 0.35, code
    bad = one(
        db,
        "SELECT count(*) FROM merchants WHERE NOT starts_with(road_address, '경기도 ' || sigungu_name || ' ') OR NOT regexp_matches(road_address, '로[0-9번길]* [0-9]+$')",
    )
    assert bad == (0,)
    assert one(
        db, "SELECT count(*) FROM merchants WHERE merchant_name NOT LIKE '% %' OR merchant_name LIKE '%1%'"
    ) == (0,)


# --- companies and job postings ------------------------------------------------------------------


def test_business_numbers_are_valid_unique_and_some_start_with_zero(db):
    numbers = [n for (n,) in db.execute("SELECT business_number FROM companies").fetchall()]
    assert all(is_valid_business_number(n) and len(n) == 10 for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert any(n.startswith("0") for n in numbers)


def test_companies_are_plausible(db):
    employees = [n for (n,) in db.execute("SELECT employees FROM companies").fetchall()]
    employees.sort()
    assert employees[0] >= 1 and employees[len(employees) // 2] <= 5 and employees[-1] >= 500  # heavy tail
    bands = {b for (b,) in db.execute("SELECT DISTINCT revenue_band FROM companies").fetchall()}
    assert bands == {"1억 미만", "1~10억", "10~100억", "100억 이상"}
    assert one(
        db, "SELECT min(founded) >= DATE '1960-01-01', max(founded) <= DATE '2023-12-31' FROM companies"
    ) == (True, True)
    assert one(
        db,
        "SELECT bool_and(regexp_matches(ksic_code, '^[0-9]{5}$')), count(DISTINCT sigungu_code) FROM companies",
    ) == (True, 31)


def test_job_postings_reference_existing_companies(db):
    assert one(
        db,
        """SELECT count(*) FROM postings p ANTI JOIN companies c
           USING (business_number, company_name, sigungu_code, sigungu_name)""",
    ) == (0,)
    # Bigger employers post more.
    big, small = one(
        db,
        """SELECT avg(employees) FILTER (WHERE n >= 5), avg(employees) FILTER (WHERE n = 1)
           FROM companies JOIN (SELECT business_number, count(*) n FROM postings GROUP BY 1) USING (business_number)""",
    )
    assert big > 3 * small


def test_job_postings_dates_and_wages(db):
    assert one(db, "SELECT count(*) FROM postings WHERE closed_on < posted_on") == (0,)
    assert one(db, "SELECT min(posted_on), max(posted_on) FROM postings")[0] >= date(2024, 1, 1)
    assert one(db, "SELECT max(posted_on) FROM postings")[0] <= date(2024, 12, 31)
    assert 0 < one(db, "SELECT avg((closed_on IS NULL)::INT) FROM postings")[0] < 0.2
    assert one(db, "SELECT min(monthly_wage) FROM postings WHERE employment_type <> '시간제'") == (2_100_000,)
    assert one(db, "SELECT bool_and(monthly_wage % 10000 = 0) FROM postings") == (True,)
    assert one(db, "SELECT count(DISTINCT occupation) FROM postings")[0] >= 20
    weekday = one(db, "SELECT avg((isodow(posted_on) <= 5)::INT) FROM postings")[0]
    assert weekday > 0.9
    assert one(
        db,
        "SELECT bool_and(posted_on <= next) FROM (SELECT posted_on, lead(posted_on) OVER (ORDER BY posting_id) next FROM postings)",
    ) == (True,)

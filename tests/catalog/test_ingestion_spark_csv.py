"""CSV files ingested on Spark through Spark Connect (issue 16): a large CSV of a partitioned
dataset is checked and decoded by the worker as before (CP949, BOM, gzip, line lengths), typed
by DuckDB from its first rows, and converted and cut into partition files by Spark; the version
holds what DuckDB's ingestion gives (columns, types, profiles, files and their rows). Where
Spark would not read a file exactly as DuckDB does (a quoted line break, a quote after a blank,
blank lines, a value outside the guessed type, a malformed record) DuckDB converts it, with its
own result or message. A real Spark Connect server (local[2]); files uploaded through the
services."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest
from django.core.files import File

from catalog import services, spark, spark_ingestion
from catalog.ingestion import IngestionError, ingest_file
from catalog.ingestion.detect import _LineLengths
from catalog.models import DatasetVersion
from marketplace.duckdb import connect
from tests.catalog.test_ingestion_spark import _all, _fields, _files
from tests.catalog.test_services_partitions import card_csv, ingest, table

pytestmark = pytest.mark.django_db

REAL_KR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-kr"
ON_SPARK = "is ingested on Spark"
FELL_BACK = "could not be converted on Spark as on DuckDB, so DuckDB converts it"

HEADER = "거래번호,승인일시,시군코드,금액,비율,확인,개설일,기준월,비고,코드"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def edge_rows(n: int = 240) -> list[str]:
    """Card payments whose columns hold every kind the ingestion types, with the values where
    two readers could part: every two-digit year of a month ("69-Jan" is 1969, "68-Jan" 2068),
    the widest integer, -0, 15 significant digits, booleans in any case, leap days, dates
    before 1582, times with and without seconds or fractions, text with spaces, leading zeros,
    formulas, and empty fields."""
    times = [
        "2024-{m:02d}-05",
        "2024-{m:02d}-05 10:00",
        "2024-{m:02d}-05T10:00:59.123456",
        "2024-{m:02d}-28 23:59:59.5",
    ]
    integers = ["-0", "0", "999999999999999999", "-1", "", "42"]
    numbers = ["0.1", "-0", "-0.0", "123456789012345", "1.5", "3", ""]
    booleans = ["true", "FALSE", "True", "", "false"]
    days = ["2024-02-29", "1000-01-01", "9999-12-31", "1970-01-01", "1582-10-04", ""]
    notes = ["  공백 ", "한글", "x'y", "", "=SUM(A1)", "#N/A", "a;b", "탭\t"]
    rows = []
    for i in range(n):
        when = times[i % 4].format(m=1 + i % 12) if i % 37 else ""
        region = ["41110", "41130", "41150", ""][i % 4]
        month = f"{i % 100:02d}-{MONTHS[i % 12]}"
        rows.append(
            ",".join([
                f"T{i:05d}", when, region, integers[i % 6], numbers[i % 7], booleans[i % 5], days[i % 6],
                month, notes[i % 8], f"0{i % 10}{i % 7}",
            ])
        )  # fmt: skip
    return rows


def _dataset(curator, center, title: str, period: str, region: str = "", unit: str = "month"):
    return services.dataset_create(
        actor=curator,
        center=center,
        title=title,
        theme="local_currency",
        period_field=period,
        period_unit=unit,
        partition_region_field=region,
    )


def _upload(curator, dataset, source: Path, capture) -> DatasetVersion:
    with capture(execute=True), open(source, "rb") as f:
        version = services.version_upload(
            actor=curator, dataset=dataset, file=File(f, name=source.name), filename=source.name
        )
    version.refresh_from_db()
    return version


@pytest.fixture
def both(curator, center, spark_remote, settings, django_capture_on_commit_callbacks, caplog):
    """`both(source, period=…, region=…, unit=…)`: `source` uploaded to a new dataset on
    DuckDB, then to another on Spark: both versions, with what Spark's ingestion logged."""

    def upload(source: Path, **partitioning):
        capture = django_capture_on_commit_callbacks
        settings.SPARK_REMOTE = ""
        on_duckdb = _upload(curator, _dataset(curator, center, "DuckDB", **partitioning), source, capture)
        settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="catalog.spark_ingestion"):
            on_spark = _upload(curator, _dataset(curator, center, "Spark", **partitioning), source, capture)
        return on_duckdb, on_spark, caplog.text

    return upload


def _alike_on_spark(on_duckdb, on_spark, logged: str) -> None:
    """Spark converted the file (DuckDB did not take over) into the version DuckDB made."""
    assert ON_SPARK in logged and FELL_BACK not in logged
    _same_versions(on_spark, on_duckdb)


def _same_versions(on_spark, on_duckdb) -> None:
    if on_duckdb.status == DatasetVersion.Status.FAILED:  # refused alike, with DuckDB's message
        assert (on_spark.status, on_spark.error) == (on_duckdb.status, on_duckdb.error)
        return
    assert on_spark.status == on_duckdb.status == DatasetVersion.Status.READY, (
        on_spark.error,
        on_duckdb.error,
    )
    assert on_spark.row_count == on_duckdb.row_count
    assert (on_spark.file_kind, on_spark.encoding, on_spark.dialect, on_spark.source_sha256) == (
        on_duckdb.file_kind, on_duckdb.encoding, on_duckdb.dialect, on_duckdb.source_sha256,
    )  # fmt: skip
    assert _fields(on_spark) == _fields(on_duckdb)  # names, types and profiles
    spark_files, duckdb_files = _files(on_spark), _files(on_duckdb)
    assert spark_files.keys() == duckdb_files.keys()
    for key, (recorded, rows) in spark_files.items():
        assert recorded == duckdb_files[key][0]  # rows, date and region ranges
        assert sorted(rows, key=repr) == sorted(duckdb_files[key][1], key=repr)


def test_a_large_cp949_csv_is_converted_on_spark_as_duckdb_converts_it(settings, tmp_path, both):
    source = tmp_path / "cards.csv"  # CP949, Windows line breaks, no line break after the last row
    source.write_bytes("\r\n".join([HEADER, *edge_rows(), ",,,,,,,,,"]).encode("cp949"))
    on_duckdb, on_spark, logged = both(source, period="승인일시", region="시군코드")
    _alike_on_spark(on_duckdb, on_spark, logged)
    types = dict(on_spark.fields.values_list("name", "type"))
    assert types == {
        "거래번호": "string", "승인일시": "datetime", "시군코드": "integer", "금액": "integer", "비율": "number",
        "확인": "boolean", "개설일": "date", "기준월": "date", "비고": "string", "코드": "string",
    }  # fmt: skip
    assert on_spark.row_count == 240 and on_spark.encoding == "cp949"  # the empty record is not a row
    for _key, (_recorded, rows) in _files(on_spark).items():
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # the upload's order in each file
    assert not list(Path(settings.WORK_DIR).glob("ingest-*"))


def test_every_two_digit_year_of_a_month_column_partitions_as_on_duckdb(tmp_path, both):
    """ "21-Feb" (Excel's month in Korean public data) is February 2021 on both engines, and
    "69-Jan" January 1969: the period column itself, partitioned by year."""
    source = tmp_path / "months.csv"
    source.write_text("\n".join([HEADER, *edge_rows(200)]) + "\n", encoding="utf-8-sig")
    on_duckdb, on_spark, logged = both(source, period="기준월", unit="year")
    _alike_on_spark(on_duckdb, on_spark, logged)
    years = sorted(p.period for p in on_spark.parts.all())
    assert years[0] == "1969" and years[-1] == "2068" and len(years) == 100


@pytest.mark.parametrize(
    ("filename", "period", "region"),
    [
        ("gg_local_currency_issuance_usage_monthly_cp949.csv", "기준년월", "시군명"),
        ("gwangju_sangsaeng_card_merchants_20240915_cp949.csv", "데이터기준일", ""),
        ("gg_local_currency_spend_sigungu_gender_industry_2019.csv", "년월", "시군구명"),  # UTF-8
        ("national_traditional_market_standard_cp949.csv", "데이터기준일자", "제공기관코드"),  # quoted fields
    ],
)
def test_real_korean_files_are_converted_on_spark_as_on_duckdb(filename, period, region, both):
    source = REAL_KR / filename
    if not source.exists():
        pytest.skip(f"{source} is not on this machine")
    on_duckdb, on_spark, logged = both(source, period=period, region=region)
    _alike_on_spark(on_duckdb, on_spark, logged)


def test_quoted_fields_are_converted_on_spark_as_on_duckdb(tmp_path, both):
    """Quoted fields within a line, as Korean public data has them (a number with a thousands
    separator, doubled quotes, a quoted empty field, spaces inside quotes or after the closing
    quote, a quoted header name, a quoted date and integer, which are typed once unquoted):
    DuckDB counts the records first, and Spark converts the file as DuckDB does."""
    quoted = {
        (0, "비고"): '"비고"', (10, "비고"): '"1,234"', (11, "비고"): '"그가 ""안녕"" 했다"', (12, "비고"): '""',
        (13, "비고"): '"  공백 "', (14, "개설일"): '"2024-02-29"', (15, "금액"): '"42"', (16, "비고"): '"뒤" ',
    }  # fmt: skip
    source = tmp_path / "quoted.csv"
    source.write_bytes(_cards(300, quoted).encode("cp949"))
    on_duckdb, on_spark, logged = both(source, period="승인일시", region="시군코드")
    _alike_on_spark(on_duckdb, on_spark, logged)
    types = dict(on_spark.fields.values_list("name", "type"))
    assert (types["개설일"], types["금액"], types["비고"]) == ("date", "integer", "string")


def _random_line(rng, delimiter: str, width: int) -> str:
    """A record of random fields: quoted ones (doubled quotes, delimiters and blanks inside,
    blanks around) and unquoted ones with quotes, blanks and delimiters anywhere."""

    def field() -> str:
        if rng.random() < 0.4:
            inner = "".join(rng.choice(["a", " ", '""', delimiter, "가"]) for _ in range(rng.randint(0, 4)))
            return " " * (rng.random() < 0.2) + '"' + inner + '"' + " " * (rng.random() < 0.2)
        return "".join(
            rng.choice(["a", "가", " ", '"', '"', delimiter, "\t", "'", "1"])
            for _ in range(rng.randint(0, 4))
        )

    return delimiter.join(field() for _ in range(rng.randint(width - 1, width + 1)))


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_spark_reads_every_line_duckdb_reads_as_duckdb_does_or_stops(
    delimiter, spark_remote, settings, tmp_path
):
    """Thousands of random lines with quotes, each one that DuckDB reads strictly: Spark reads
    it as DuckDB does, refuses it (a malformed record: the file goes to DuckDB), or reads a text
    value that starts with a quote, where Spark's typing stops (the file goes to DuckDB). Among
    the lines so stopped are lines Spark would read otherwise: the rule is needed."""
    import random

    from catalog.ingestion import convert

    rng, width, con = random.Random(16), 3, connect()
    names = [f"h{i}" for i in range(width)]
    dialect = {"delimiter": delimiter, "quote": '"', "escape": '"'}
    header = delimiter.join(names)
    read_by_duckdb = []
    try:
        for _ in range(4_000):
            line = _random_line(rng, delimiter, width)
            one = tmp_path / "one.csv"
            one.write_text(f"{header}\n{line}\n")
            try:
                rows = con.execute(f"SELECT * FROM {convert.csv_read(one, dialect, names)[1]}").fetchall()
            except duckdb.InvalidInputException:
                continue  # DuckDB refuses the file: its conversion says why
            if not line.strip():  # Spark skips a line of blanks: the count of records sends it to DuckDB
                continue
            read_by_duckdb.append((line, rows[0]))
    finally:
        con.close()
    path = tmp_path / "lines.csv"
    path.write_text(header + "\n" + "\n".join(line for line, _ in read_by_duckdb) + "\n")
    settings.SPARK_REMOTE = spark_remote
    session = spark.session()
    try:
        reader = session.read.schema(", ".join([*(f"c{i} STRING" for i in range(width)), "bad STRING"]))
        options = {**spark_ingestion._CSV_OPTIONS, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": "bad"}
        stops = " OR ".join(spark_ingestion._QUOTE_FIRST.replace("{c}", f"c{i}") for i in range(width))
        table = reader.options(**options, sep=delimiter).csv(f"file://{path}")
        read = [tuple(r) for r in table.selectExpr("*", f"coalesce({stops}, false) AS stops").collect()]
    finally:
        spark.stop(session)
    assert len(read_by_duckdb) > 1_000 and len(read) == len(read_by_duckdb)
    taken = [
        (line, ours, theirs[:width])
        for (line, ours), theirs in zip(read_by_duckdb, read)
        if theirs[width] is None and not theirs[-1]
    ]
    stopped = [
        (line, ours, theirs[:width])
        for (line, ours), theirs in zip(read_by_duckdb, read)
        if theirs[width] is None and theirs[-1]
    ]
    assert len(taken) > 400  # about 550
    assert [(line, ours, theirs) for line, ours, theirs in taken if ours != theirs] == []
    assert any(ours != theirs for _, ours, theirs in stopped)


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_other_delimiters_and_names_spark_must_quote(delimiter, tmp_path, both):
    """Tab-, semicolon- and bar-separated text, with column names Spark SQL must quote (a
    space, a dot, a backtick) and a blank one (named column_N, as DuckDB's conversion names it)."""
    text = card_csv([1, 2, 3], per_month=28).replace(",", delimiter)
    text = (
        text.replace("금액", "결제 금액.원", 1)
        .replace("카드번호", "카드`번호", 1)
        .replace("가맹점번호", "", 1)
    )
    source = tmp_path / "cards.txt"
    source.write_text(text)
    on_duckdb, on_spark, logged = both(source, period="거래일자", region="시군코드")
    _alike_on_spark(on_duckdb, on_spark, logged)
    assert on_spark.dialect["delimiter"] == delimiter
    assert {"결제 금액.원", "카드`번호", "column_5"} <= set(on_spark.fields.values_list("name", flat=True))


def test_a_csv_appended_on_spark_adds_its_months_to_the_published_table(
    curator, partitioned, spark_remote, settings, django_capture_on_commit_callbacks, caplog
):
    """March as a CSV file, appended through Spark to the published January–February: the
    published files are shared, the table is the three months uploaded at once, and the
    version (files, merged profile) is the one the same append makes on DuckDB."""
    capture = django_capture_on_commit_callbacks
    first = ingest(curator, partitioned, card_csv([1, 2]), capture)
    services.version_publish(actor=curator, version=first)
    march = card_csv([3], start=24)
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = spark_remote, 1
    with caplog.at_level(logging.INFO, logger="catalog.spark_ingestion"):
        on_spark = ingest(curator, partitioned, march, capture, mode="append")
    assert ON_SPARK in caplog.text and FELL_BACK not in caplog.text
    assert on_spark.status == DatasetVersion.Status.READY, on_spark.error
    assert sorted({p.period for p in on_spark.parts.all()}) == ["2024-01", "2024-02", "2024-03"]
    assert {p.path for p in first.parts.all()} <= {p.path for p in on_spark.parts.all()}
    settings.SPARK_REMOTE = ""
    on_duckdb = ingest(curator, partitioned, march, capture, mode="append")  # on the same base
    _same_versions(on_spark, on_duckdb)
    whole = ingest(curator, partitioned, card_csv([1, 2, 3]), capture)
    assert table(_all(on_spark)) == table(_all(whole))


def _cards(
    rows: int, changes: dict[tuple[int, str], str] | None = None, *, blank_after: int | None = None
) -> str:
    """`rows` of edge_rows as a CSV, with the value of column `name` in data row `i` (from 1)
    replaced for each (i, name) in `changes`, and a blank line after data row `blank_after`."""
    columns = HEADER.split(",")
    lines = [HEADER, *edge_rows(rows)]
    for (i, name), value in (changes or {}).items():
        fields = lines[i].split(",")
        fields[columns.index(name)] = value
        lines[i] = ",".join(fields)
    if blank_after is not None:
        lines.insert(blank_after + 1, "")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Row 11,000 is past the rows the types are guessed from: its amount is not an integer.
        (_cards(12_000, {(11_000, "금액"): "12원"}), FELL_BACK),
        # DuckDB reads an hour 24 as the next day's midnight; Spark's test takes hours 00–23.
        (_cards(300, {(150, "승인일시"): "2024-03-05 24:00:00"}), FELL_BACK),
        (_cards(300, blank_after=120), FELL_BACK),  # both skip it, Spark unseen: its count is short
        (_cards(300, {(40, "비고"): '"한글,\n따옴표"'}), "a quoted field holds a line break"),
        (_cards(300, {(40, "비고"): ' "한글"'}), FELL_BACK),  # DuckDB drops the space, Spark not
        # 금액 is empty in the rows the types are guessed from, and has one value further down.
        (
            _cards(10_200, {**{(i, "금액"): "" for i in range(1, 10_201)}, (10_150, "금액"): "7"}),
            "values past the first rows",
        ),
    ],
    ids=[
        "a later value outside the guessed type",
        "hour 24",
        "a blank line",
        "a line break in quotes",
        "a quote after a space",
        "a value in a column empty in the first rows",
    ],
)
def test_what_spark_would_read_otherwise_is_converted_by_duckdb(text, reason, tmp_path, both):
    """The version is the one DuckDB alone makes (the amount column as text where one value
    is "12원"; the hour 24 as the next day)."""
    source = tmp_path / "cards.csv"
    source.write_text(text)
    on_duckdb, on_spark, logged = both(source, period="승인일시", region="시군코드")
    assert reason in logged
    _same_versions(on_spark, on_duckdb)


def test_a_malformed_record_gets_duckdbs_message(tmp_path, both):
    """Spark stops at a record with a field too few, past the rows DuckDB typed the columns
    from; DuckDB then names the row, as it does alone."""
    source = tmp_path / "cards.csv"
    lines = _cards(11_000).splitlines()
    lines[10_500] = lines[10_500].rsplit(",", 1)[0]
    source.write_text("\n".join(lines) + "\n")
    on_duckdb, on_spark, logged = both(source, period="승인일시", region="시군코드")
    assert FELL_BACK in logged and "FAILED_READ_FILE" in logged
    assert on_spark.status == on_duckdb.status == DatasetVersion.Status.FAILED
    assert (
        on_spark.error == on_duckdb.error and "Row 10,500 has 9 fields; the header has 10." in on_spark.error
    )


def test_spark_reading_fewer_records_than_the_lines_is_not_taken(spark_remote, settings, tmp_path):
    """A line of spaces, which Spark skips and DuckDB refuses (here handed to Spark as if
    DuckDB's first rows had not shown it): Spark's count falls short of the lines, which stops
    the conversion on Spark (ingest_text then removes its files and lets DuckDB convert)."""
    settings.SPARK_REMOTE = spark_remote
    source = tmp_path / "spaces.csv"
    source.write_text("승인일시,시군코드\n2024-01-05,41110\n   \n2024-02-05,41130\n2024-03-05,41110\n")
    partitioning = {"period_column": "승인일시", "unit": "month", "region_column": "시군코드"}
    chosen = spark_ingestion.TextPlan(["승인일시", "시군코드"], ["date", "integer"], records=4)
    con = connect()
    try:
        with pytest.raises(spark.SparkStageError, match="Spark read 3 records below the header, which has 4"):
            ingest_file(
                source, tmp_path / "work", con=con,
                convert_text=lambda text, _: spark_ingestion._text_ingested(
                    con, text, tmp_path / "work" / "parts", chosen, partitioning, lambda f: None
                ),
            )  # fmt: skip
    finally:
        con.close()


def _plan(tmp_path, data: bytes, **partitioning):
    """spark_ingestion.text_plan of `data` as the ingestion prepares it (checked, UTF-8)."""
    partitioning = {"period_column": "승인일시", "unit": "month", "region_column": "시군코드", **partitioning}
    source = tmp_path / "plan.csv"
    source.write_bytes(data)
    con = connect()
    try:
        return ingest_file(
            source, tmp_path / "work", con=con,
            convert_text=lambda text, _: spark_ingestion.text_plan(con, text, partitioning),
        )  # fmt: skip
    finally:
        con.close()


def test_the_plan_reads_only_text_whose_records_are_its_lines(tmp_path):
    text = _cards(30)
    chosen = _plan(tmp_path, text.encode("cp949"))
    assert chosen.names == HEADER.split(",") and chosen.records == 30
    assert chosen.kinds == [
        "string", "datetime", "integer", "integer", "number", "boolean", "date", "month", "string", "string",
    ]  # fmt: skip
    assert _plan(tmp_path, text.replace("\n", "\r\n").encode()).records == 30
    quoted = _plan(tmp_path, text.replace(",한글,", ',"한, ""글""",').encode())
    assert quoted.records == 30 and quoted.quoted and not chosen.quoted
    assert _plan(tmp_path, text.replace(",한글,", ',"한\n글",').encode()).startswith("a quoted field holds")
    with pytest.raises(IngestionError, match="Row 2 has a quoted field that is not closed"):  # DuckDB's words
        _plan(tmp_path, text.replace(",한글,", ',"한"글,').encode())
    assert "carriage returns" in _plan(tmp_path, text.replace("한글", "한\r글").encode())
    empty = _cards(30, {(i, "금액"): "" for i in range(1, 31)})
    assert _plan(tmp_path, empty.encode()).kinds[3] is None  # typed by Spark's count of its values
    assert _plan(tmp_path, text.encode(), region_column="개설일").startswith(
        "the region column 개설일 is date"
    )
    assert _plan(tmp_path, text.encode(), period_column="비고").startswith("its partition columns do not fit")
    assert _plan(tmp_path, (HEADER + "\n").encode()) == "it holds no rows"


def test_the_text_pass_counts_line_breaks_and_quotes_across_chunks():
    """A "\r\n" cut between two chunks is one pair; uncounted unless asked for."""
    lines = _LineLengths(shape=True)
    for chunk in (b'a,"b"\r', b"\nc\r", b"d\n", b"e"):
        lines.feed(chunk)
    shape = lines.shape()
    assert (shape.line_feeds, shape.carriage_returns, shape.crlf, shape.double_quotes) == (2, 2, 1, 2)
    assert shape.lines == 3 and not shape.ends_with_line_feed
    assert _LineLengths().shape() is None

"""Records extracts on Spark through Spark Connect (issue 16): the same records plan, its scan,
bound filters, treatments (sample, cut times, rounded amounts, pseudonyms per period, local and
trajectory suppression) and HMAC pseudonyms run on Spark, give the same file as on DuckDB, byte
for byte, over the demo's card payments partitioned by month and 시·군. A real Spark Connect
server (local[2])."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import duckdb
import pytest

from catalog import privacy, selectors, spark
from catalog import services as catalog_services
from catalog.models import Offer
from catalog.policy import OfferPolicy
from tests import factories
from tests.services import free_port
from tests.transactions.factories import submit
from transactions.extracts import engine
from transactions.models import License

pytestmark = pytest.mark.django_db

FIELDS = [
    "transaction_id",
    "approved_at",
    "sigungu_code",
    "sigungu_name",
    "industry",
    "card_id",
    "amount",
    "age_band",
    "sex",
    "channel",
]
IDENTIFIERS = {"transaction_id", "card_id", "merchant_id"}
KEY = hashlib.sha256(b"a license key").digest()


@pytest.fixture
def cards(world, tmp_path, django_capture_on_commit_callbacks):
    """The demo's card payments (20,000 rows over 12 months), ingested as a version partitioned
    by month and 시·군, and an untreated records offer on it."""
    curator = world.center_curator
    version = factories.demo_cards_version(
        curator, world.center, tmp_path, django_capture_on_commit_callbacks, rows=20_000, seed=7
    )
    dataset = version.dataset
    changes = [{"name": n, "sensitivity": "identifier"} for n in IDENTIFIERS]
    changes += [{"name": n, "sensitivity": "quasi_identifier"} for n in ("age_band", "sex", "dong")]
    catalog_services.version_fields_update(actor=curator, version=version, changes=changes)
    catalog_services.version_publish(actor=curator, version=version)
    dataset.refresh_from_db()
    offer = factories.OfferFactory(
        dataset=dataset,
        fields=FIELDS,
        approval=Offer.Approval.AUTOMATIC,
        region_field="sigungu_code",
        date_field="approved_at",
        quasi_identifiers_allowed=True,
    )
    return version, offer


def recipe_for(
    version, offer, scope: dict, fmt: str = "csv", *, on_spark: bool = True, policy=None, schema=None
) -> engine.Recipe:
    """The license recipe for `scope` under KEY (`policy`: the offer's unless given), its scan on
    Spark when `on_spark`."""
    schema = schema or [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]
    policy = policy or offer.policy
    files = selectors.version_files(version, policy=policy, scope=scope)
    return engine.build_recipe(
        parquet=files,
        source_sha256=version.parquet_sha256,
        schema=schema,
        policy=policy,
        scope=scope,
        key=KEY,
        format=fmt,
        noise_seed=version.cell_key_seed,
        spark_files=files if on_spark else None,
    )


def built(
    version, offer, scope: dict, fmt: str, work: Path, spark_files=None, policy=None, schema=None
) -> tuple[bytes, int]:
    recipe = recipe_for(version, offer, scope, fmt, on_spark=bool(spark_files), policy=policy, schema=schema)
    if spark_files:
        assert recipe.setup[0]["engine"] == "spark" and "sha2(" in recipe.setup[0]["sql"]
        assert KEY.hex() not in str(recipe.to_dict())  # the recipe holds no key material
    out = work / f"{'spark' if spark_files else 'duckdb'}-{fmt}-{len(scope)}"
    result = engine.run_extract(recipe, out_path=out, work_dir=work, key=KEY)
    return out.read_bytes(), result.rows


@pytest.mark.parametrize(
    "scope",
    [
        {"fields": FIELDS},
        {"fields": FIELDS, "regions": ["41110", "41130"], "date_from": "2024-03-01", "date_to": "2024-05-31"},
        {"fields": FIELDS, "regions": ["41110"], "date_from": "2030-01-01", "date_to": "2030-01-31"},
    ],
    ids=["whole-table", "two-cities-three-months", "nothing-in-scope"],
)
@pytest.mark.parametrize("fmt", ["csv_bom", "parquet"])
def test_spark_and_duckdb_build_the_same_file(cards, scope, fmt, tmp_path, spark_remote, settings):
    settings.SPARK_REMOTE = spark_remote
    version, offer = cards
    on_duckdb, rows = built(version, offer, scope, fmt, tmp_path)
    on_spark, spark_rows = built(version, offer, scope, fmt, tmp_path, spark_files=True)
    assert rows == spark_rows
    if rows == 0:  # the same empty file: the header (CSV), the columns and their types (Parquet)
        assert on_spark == on_duckdb or fmt == "parquet"
    if fmt == "csv_bom" and rows:
        assert on_spark == on_duckdb  # every row, value, pseudonym and the order, byte for byte
        text = on_spark.decode("utf-8-sig").splitlines()
        card = text[1].split(",")[FIELDS.index("card_id")]
        assert len(card) == 64 and card == privacy.pseudonym(KEY, card_of(version, text[1]))
    elif fmt == "parquet":
        described = "DESCRIBE SELECT * FROM read_parquet(?)"
        a_types = duckdb.execute(described, [str(write(tmp_path / "a.parquet", on_duckdb))]).fetchall()
        b_types = duckdb.execute(described, [str(write(tmp_path / "b.parquet", on_spark))]).fetchall()
        assert [r[:2] for r in a_types] == [r[:2] for r in b_types]  # names and types
        read = "SELECT * FROM read_parquet(?)"
        a = duckdb.execute(read, [str(write(tmp_path / "a.parquet", on_duckdb))]).fetchall()
        b = duckdb.execute(read, [str(write(tmp_path / "b.parquet", on_spark))]).fetchall()
        assert a == b  # the same rows and values in the same order (types included)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def card_of(version, line: str) -> str:
    """The source card_id of an output line, found by its transaction's pseudonym."""
    transaction = line.split(",")[0].lstrip("\ufeff")
    files = selectors.version_files(version)
    for tid, card in duckdb.execute(
        "SELECT transaction_id, card_id FROM read_parquet(?, hive_partitioning = false)", [files]
    ).fetchall():
        if privacy.pseudonym(KEY, tid) == transaction:
            return card
    raise AssertionError("no source row")


def delivered_on_spark(world, offer, scope: dict, login, capture) -> tuple:
    """The buyer's license for `scope`, its extract (built on Spark) and the rows of the file
    the buyer downloads through the API."""
    with capture(execute=True):
        request = submit(world.buyer_analyst, offer, scope=scope)
    (extract,) = License.objects.get(access_request=request).extracts.all()
    assert extract.status == "succeeded", extract.error
    assert extract.recipe["setup"][0]["engine"] == "spark"
    client = login(world.buyer_analyst)
    url = client.post(f"/api/v1/extracts/{extract.pk}/download-link/").json()["url"]
    body = b"".join(client.get(url.removeprefix("http://testserver")).streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        name = next(n for n in z.namelist() if n.startswith("data."))
        return extract, list(csv.DictReader(io.StringIO(z.read(name).decode("utf-8-sig"))))


def test_a_license_extract_on_spark_holds_its_scope_and_no_raw_identifier(
    world, cards, spark_remote, settings, login, django_capture_on_commit_callbacks
):
    """As the buyer would try it: download the file through the API and look for any row
    outside the licensed 시·군 and month, a row of the scope missing, or a card number in clear."""
    settings.SPARK_REMOTE = spark_remote
    settings.SPARK_MIN_SCAN_BYTES = 0  # every scan is "large"
    version, offer = cards
    scope = {"fields": FIELDS, "regions": ["41110"], "date_from": "2024-02-01", "date_to": "2024-02-29"}
    extract, rows = delivered_on_spark(world, offer, scope, login, django_capture_on_commit_callbacks)
    source = duckdb.execute(
        "SELECT card_id, count(*) FILTER (WHERE sigungu_code = '41110' AND approved_at >= DATE '2024-02-01'"
        " AND approved_at < DATE '2024-03-01') OVER () FROM read_parquet(?, hive_partitioning = false)",
        [selectors.version_files(version)],
    ).fetchall()
    assert len(rows) == extract.row_count == source[0][1] > 0  # every row of the scope, no other
    assert {r["sigungu_code"] for r in rows} == {"41110"}
    assert {r["approved_at"][:7] for r in rows} == {"2024-02"}
    clear = {card for card, _n in source}
    assert all(len(r["card_id"]) == 64 and r["card_id"] not in clear for r in rows)


def test_a_treated_license_extract_on_spark_is_k_anonymous_and_sampled(
    world, cards, spark_remote, settings, login, django_capture_on_commit_callbacks
):
    """As the buyer would try it on a treated offer whose extract ran on Spark: count each
    combination of the delivered attributes in the file (none below k), look for a card number
    in clear, and check that the file is a sample of the scope, not all of it."""
    settings.SPARK_REMOTE = spark_remote
    settings.SPARK_MIN_SCAN_BYTES = 0
    version, offer = cards
    offer.treatments = {"sample_percent": 50, "suppress_k": 5}
    offer.save()
    fields = ["card_id", "sigungu_code", "age_band", "sex"]
    scope = {"fields": fields, "regions": ["41110", "41130"]}
    _extract, rows = delivered_on_spark(world, offer, scope, login, django_capture_on_commit_callbacks)
    groups = {}
    for r in rows:
        key = (r["sigungu_code"], r["age_band"], r["sex"])
        groups[key] = groups.get(key, 0) + 1
    assert rows and min(groups.values()) >= 5  # k-anonymous over what the file holds
    in_scope, clear = duckdb.execute(
        "SELECT count(DISTINCT (card_id, sigungu_code, age_band, sex))"
        " FILTER (WHERE sigungu_code IN ('41110', '41130')), list(DISTINCT card_id)"
        " FROM read_parquet(?, hive_partitioning = false)",
        [selectors.version_files(version)],
    ).fetchone()
    # A license's sample draws from the delivered values (OfferPolicy.sample_by), so identical
    # rows fall together: half of the scope's distinct rows, less what suppression removed.
    delivered = {tuple(r.values()) for r in rows}
    assert len(delivered) < 0.6 * in_scope
    assert {r["sigungu_code"] for r in rows} <= {"41110", "41130"}
    assert not {r["card_id"] for r in rows} & set(clear)


TWO_CITIES = {"regions": ["41110", "41130"], "date_from": "2024-03-01", "date_to": "2024-08-31"}


@pytest.mark.parametrize(
    ("treatments", "scope"),
    [
        ({"sample_percent": 30}, {"fields": FIELDS}),
        ({"sample_percent": 30, "sample_by": "values"}, {"fields": FIELDS, **TWO_CITIES}),
        (
            {"time_unit": "hour", "amount_fields": ["amount"], "amount_round": 1000, "amount_top": 50000},
            {"fields": FIELDS},
        ),
        ({"pseudonym_period": "month"}, {"fields": FIELDS, **TWO_CITIES}),
        (
            {"suppress_k": 5, "suppress_first": ["age_band"]},
            {"fields": ["card_id", "sigungu_code", "age_band", "sex"]},
        ),
        ({"trajectory_k": 2}, {"fields": ["card_id", "sigungu_code", "sex"]}),
        (
            {
                "sample_percent": 60,
                "time_unit": "week",
                "pseudonym_period": "week",
                "suppress_k": 3,
                "suppress_first": ["sex"],
                "trajectory_k": 2,
            },
            {"fields": ["card_id", "approved_at", "sigungu_code", "age_band", "sex"], **TWO_CITIES},
        ),
    ],
    ids=[
        "sample",
        "sample-by-values",
        "hour-amounts",
        "pseudonyms-per-month",
        "k-anonymity",
        "trajectories",
        "all",
    ],
)
def test_treated_offers_give_the_same_file_on_spark_and_duckdb(
    cards, treatments, scope, tmp_path, spark_remote, settings
):
    """Every treatment compiled for Spark gives DuckDB's file byte for byte: the same sample of
    rows (an HMAC of each row's place), the same cut times and rounded amounts, the same
    pseudonyms per period, the same cells and trajectories suppressed."""
    settings.SPARK_REMOTE = spark_remote
    version, offer = cards
    treatments = dict(treatments)
    sample_by = treatments.pop("sample_by", "position")  # a license's: values since then
    policy = OfferPolicy.from_snapshot(
        {
            **offer.policy.to_snapshot(),
            "subject_field": "card_id",
            "treatments": treatments,
            "sample_by": sample_by,
        }
    )
    on_duckdb, rows = built(version, offer, scope, "csv_bom", tmp_path, policy=policy)
    on_spark, spark_rows = built(version, offer, scope, "csv_bom", tmp_path, spark_files=True, policy=policy)
    assert spark_rows == rows > 0
    assert on_spark == on_duckdb  # every row, value, pseudonym, suppressed cell and the order
    untreated, all_rows = built(version, offer, scope, "csv_bom", tmp_path / "plain")
    _header, *lines = on_spark.decode("utf-8-sig").splitlines()
    if "sample_percent" in treatments:  # a sample, not every row
        assert rows < all_rows * (treatments["sample_percent"] + 15) / 100
    if "suppress_k" in treatments or "trajectory_k" in treatments:  # something was withheld
        assert on_spark != untreated and any("" in line.split(",") for line in lines)


MONTHLY = {
    "kind": "aggregate",
    "dimensions": ["sigungu_code", "approved_at"],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "date_granularity": "month",
    "k": 5,
    "extremes_allowed": True,
}


@pytest.mark.parametrize(
    "measures",
    [
        [
            {"field": "amount", "agg": "avg"},
            {"field": "amount", "agg": "max"},
            {"field": "amount", "agg": "sum"},
        ],
    ],
    ids=["avg-max-sum"],
)
def test_aggregates_give_the_same_file_on_spark_and_duckdb(cards, measures, tmp_path, spark_remote, settings):
    """Spark sums up every record into per-cell statistics (counts, distinct subjects and
    contributors, the cell key from HMAC record keys, exact sums, the largest contributions);
    DuckDB protects the table from them as it does from its own: the same cells suppressed,
    the same noise, byte for byte."""
    settings.SPARK_REMOTE = spark_remote
    version, offer = cards
    assert version.cell_key_seed.startswith(privacy.KEYED_NOISE)  # a dataset made now
    policy = OfferPolicy.from_snapshot({**offer.policy.to_snapshot(), **MONTHLY, "measures": measures})
    on_duckdb, rows = built(version, offer, {}, "csv_bom", tmp_path, policy=policy)
    on_spark, spark_rows = built(version, offer, {}, "csv_bom", tmp_path, spark_files=True, policy=policy)
    assert spark_rows == rows > 0
    assert on_spark == on_duckdb  # every cell, suppression and noisy value
    released = {
        tuple(line.split(",")[:2]): int(line.split(",")[2])
        for line in on_spark.decode("utf-8-sig").splitlines()[1:]
    }
    exact = duckdb.execute(
        "SELECT sigungu_code, CAST(date_trunc('month', approved_at) AS DATE)::VARCHAR, count(*)"
        " FROM read_parquet(?, hive_partitioning = false) GROUP BY ALL",
        [selectors.version_files(version)],
    ).fetchall()
    exact = {(code, month): n for code, month, n in exact}
    assert released.keys() < exact.keys()  # some cells withheld (k, dominance, secondary)
    assert any(released[c] != exact[c] for c in released)  # counts carry noise


def test_an_aggregate_without_subjects_gives_the_same_file_on_spark_and_duckdb(
    cards, tmp_path, spark_remote, settings
):
    """Data without identifiers: every record is its own subject, keyed by its place (file,
    row), which Spark and DuckDB number alike."""
    settings.SPARK_REMOTE = spark_remote
    version, offer = cards
    schema = [
        privacy.Column(f.name, f.type, "excluded" if f.name in IDENTIFIERS else f.sensitivity)
        for f in version.fields.all()
    ]
    policy = OfferPolicy.from_snapshot(
        {
            **offer.policy.to_snapshot(),
            **MONTHLY,
            "subject_field": "",
            "dominance_field": "",
            "measures": [{"field": "amount", "agg": "sum"}],
        }
    )
    on_duckdb, rows = built(version, offer, {}, "csv_bom", tmp_path, policy=policy, schema=schema)
    on_spark, spark_rows = built(
        version, offer, {}, "csv_bom", tmp_path, spark_files=True, policy=policy, schema=schema
    )
    assert spark_rows == rows > 0 and on_spark == on_duckdb


def test_an_aggregate_license_on_spark_withholds_small_cells(
    world, cards, spark_remote, settings, login, django_capture_on_commit_callbacks
):
    """As the buyer would try it: an aggregate license built on Spark, downloaded through the
    API; every released cell holds at least k cards in the source, and no released count is a
    cell of fewer."""
    settings.SPARK_REMOTE = spark_remote
    settings.SPARK_MIN_SCAN_BYTES = 0
    version, offer = cards
    for name, value in {**MONTHLY, "measures": [{"field": "amount", "agg": "sum"}]}.items():
        setattr(offer, name, value)
    offer.fields = MONTHLY["dimensions"]
    offer.save()
    scope = {"regions": ["41110", "41130"]}
    _extract, rows = delivered_on_spark(world, offer, scope, login, django_capture_on_commit_callbacks)
    cards_per_cell = dict(
        (
            ((code, month), n)
            for code, month, n in duckdb.execute(
                "SELECT sigungu_code, CAST(date_trunc('month', approved_at) AS DATE)::VARCHAR, count(DISTINCT card_id)"
                " FROM read_parquet(?, hive_partitioning = false) GROUP BY ALL",
                [selectors.version_files(version)],
            ).fetchall()
        )
    )
    assert rows and {r["sigungu_code"] for r in rows} <= {"41110", "41130"}
    assert all(cards_per_cell[(r["sigungu_code"], r["approved_at"])] >= 5 for r in rows)


def test_what_compiles_for_spark(cards, settings):
    version, offer = cards
    columns = {f.name: privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()}
    policy = offer.policy
    assert engine.spark.compilable(columns, policy, {"fields": FIELDS}) is None
    treated = OfferPolicy.from_snapshot({**policy.to_snapshot(), "treatments": {"sample_percent": 50}})
    assert engine.spark.compilable(columns, treated, {"fields": FIELDS}) is None
    monthly = OfferPolicy.from_snapshot(
        {**policy.to_snapshot(), **MONTHLY, "measures": [{"field": "amount", "agg": "sum"}]}
    )
    assert engine.spark.compilable(columns, monthly, {}, version.cell_key_seed) is None
    older = "a" * 64  # a version released before keyed seeds keeps DuckDB's noise
    assert "hash()" in engine.spark.compilable(columns, monthly, {}, older)


def test_an_extract_runs_on_duckdb_when_spark_does_not_answer(
    world, cards, settings, django_capture_on_commit_callbacks
):
    settings.SPARK_REMOTE = f"sc://127.0.0.1:{free_port()}"  # a port nobody listens on
    settings.SPARK_MIN_SCAN_BYTES = 0
    _version, offer = cards
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_analyst, offer, scope={"fields": FIELDS, "regions": ["41110"]})
    (extract,) = License.objects.get(access_request=request).extracts.all()
    assert extract.status == "succeeded", extract.error
    assert extract.recipe["setup"] == [] and extract.row_count > 0


def test_a_spark_server_lost_before_the_stage_is_a_retryable_error(cards, tmp_path, settings):
    version, offer = cards
    settings.SPARK_REMOTE = "sc://127.0.0.1:1"  # nobody listens there
    settings.SPARK_CONNECT_RETRIES = 0  # the client gives up at once
    recipe = recipe_for(version, offer, {"fields": FIELDS})
    with pytest.raises(ConnectionError):  # an OSError: the extract task retries it with backoff
        engine.run_extract(recipe, out_path=tmp_path / "out.csv", work_dir=tmp_path, key=KEY)
    assert not (tmp_path / "out.csv").exists()


def test_a_spark_error_carries_no_key_material(cards, tmp_path, spark_remote, settings):
    settings.SPARK_REMOTE = spark_remote
    version, offer = cards
    recipe = recipe_for(version, offer, {"fields": FIELDS})
    # A statement Spark refuses after binding the pads (it prints its plan, values and all).
    recipe.setup[0]["sql"] = recipe.setup[0]["sql"].replace(
        "FROM source", "FROM source WHERE no_such_column > 0"
    )
    with pytest.raises(spark.SparkStageError) as failure:
        engine.run_extract(recipe, out_path=tmp_path / "out.csv", work_dir=tmp_path, key=KEY)
    inner, outer = privacy.hmac_pads(KEY)
    message = str(failure.value)
    assert "no_such_column" in message and inner not in message and outer not in message
    assert failure.value.__context__ is None and failure.value.__cause__ is None

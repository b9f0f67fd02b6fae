"""Attacks on aggregate offers through the public API, as an outside analyst holding nothing but
a buyer account would try them (issue: privacy holds per buyer, not per file).

A center publishes realistic card payments (heavy-tailed: many small cells) and a free,
automatically approved monthly aggregate. The buyer requests, downloads and combines extracts;
every attack either is refused with a clear 400, or yields files from which no cell with fewer
than k cards (or a dominated total) can be rebuilt — checked against the true data, assuming the
attacker even knows every true margin."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict

import duckdb
import pytest
from django.utils import timezone

from catalog.models import Dataset, DatasetVersion, Field
from catalog.storage import local_path, sha256_of, store_file
from tests import factories

pytestmark = pytest.mark.django_db

COLUMNS = [
    ("card_id", "string", "identifier"),
    ("merchant_id", "string", "identifier"),
    ("holder_name", "string", "excluded"),
    ("sigungu_code", "string", "public"),
    ("dong", "string", "public"),
    ("industry", "string", "public"),
    ("age_band", "string", "quasi_identifier"),
    ("approved_at", "datetime", "public"),
    ("amount", "integer", "public"),
]
REGIONS = ["41110", "41130", "41150", "41170", "41190"]
K = 5
MONTHLY = {
    "name": "시·군 × 업종 × 연령대 월별 집계",
    "kind": "aggregate",
    "dimensions": ["sigungu_code", "industry", "age_band", "approved_at"],
    "measures": [{"field": "amount", "agg": "sum"}],
    "subject_field": "card_id",
    "dominance_field": "merchant_id",
    "region_field": "sigungu_code",
    "date_field": "approved_at",
    "date_granularity": "month",
    "k": K,
    "approval": "automatic",
    "price_krw": 0,
    "terms": "통계 목적으로만 이용합니다.",
}


def card_data(tmp_path) -> str:
    """~12,000 payments: cards spend in one home region (a few elsewhere), merchants per region
    and industry, card activity heavy-tailed so that many cells are small."""
    path = tmp_path / "cards.parquet"
    duckdb.execute(
        f"""COPY (
        WITH r AS (SELECT i, CAST(hash(i) % 1000003 AS BIGINT) AS h FROM range(12000) r(i)),
        t AS (SELECT i, h, CAST(pow((h % 1000) / 1000.0, 3) * 900 AS BIGINT) AS c FROM r)
        SELECT 'C' || c::VARCHAR AS card_id,
               'M' || (h % 7)::VARCHAR || '-' || ((h // 7) % 3)::VARCHAR AS merchant_id,
               '홍길동' AS holder_name,
               ({REGIONS!r})[1 + CAST(hash(c, 1) % 5 AS BIGINT)] AS sigungu_code,
               'D' || ((h // 11) % 9)::VARCHAR AS dong,
               (['카페', '한식', '편의점', '학원'])[1 + (h // 13) % 4] AS industry,
               (['20대', '30대', '40대', '60대'])[1 + CAST(hash(c, 2) % 4 AS BIGINT)] AS age_band,
               TIMESTAMP '2024-01-01' + INTERVAL ((h // 17) % 181) DAY + INTERVAL (i % 86400) SECOND
                 AS approved_at,
               (1000 + (h // 19) % 40 * 500)::BIGINT AS amount
        FROM t) TO '{path}' (FORMAT parquet)"""
    )
    return str(path)


@pytest.fixture
def cards(world, tmp_path):
    return card_dataset(world, tmp_path)


def card_dataset(world, tmp_path) -> Dataset:
    """A published dataset of `card_data`, its columns' sensitivities as in COLUMNS."""
    src = card_data(tmp_path)
    dataset = factories.DatasetFactory(center=world.center, title="지역화폐 결제")
    stored = store_file(src, f"datasets/{dataset.pk}/v1.parquet")
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        storage_token="attack",
        source="datasets/attack.bin",
        original_filename="cards.csv",
        status=DatasetVersion.Status.PUBLISHED,
        progress=100,
        parquet=stored,
        parquet_sha256=sha256_of(local_path(stored)),
        row_count=12000,
        published_at=timezone.now(),
    )
    for position, (name, type_, sensitivity) in enumerate(COLUMNS):
        profile = {"values": REGIONS} if name == "sigungu_code" else {}
        Field.objects.create(
            version=version,
            position=position,
            name=name,
            type=type_,
            sensitivity=sensitivity,
            suggested_sensitivity=sensitivity,
            profile=profile,
        )
    dataset.current_version = version
    dataset.status = Dataset.Status.PUBLISHED
    dataset.save()
    return dataset


def create_offer(login, world, dataset, **changes):
    response = login(world.center_curator).post(
        f"/api/v1/datasets/{dataset.slug}/offers/", {**MONTHLY, **changes}, format="json"
    )
    return response


def offer_id(login, world, dataset, **changes) -> int:
    response = create_offer(login, world, dataset, **changes)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def request(client, offer, capture, **scope):
    body = {"offer": offer, "purpose": "상권 분석", "purpose_category": "statistics", "accept_terms": True}
    body.update(scope)
    with capture(execute=True):
        return client.post("/api/v1/requests/", body, format="json")


def extract_rows(client, request_id) -> list[dict]:
    """The buyer downloads the license's extract and reads its CSV."""
    license_id = client.get(f"/api/v1/requests/{request_id}/").json()["license"]
    license_id = license_id["id"] if isinstance(license_id, dict) else license_id
    extracts = client.get(f"/api/v1/extracts/?license={license_id}").json()["results"]
    extract = next(e for e in extracts if e["status"] == "succeeded")
    link = client.post(f"/api/v1/extracts/{extract['id']}/download-link/").json()["url"]
    body = b"".join(client.get(link.removeprefix("http://testserver")).streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        name = next(n for n in z.namelist() if n.startswith("data."))
        text = z.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def key(row) -> tuple:
    return (row["sigungu_code"], row["industry"], row["age_band"], row["approved_at"][:7])


def true_cells(dataset) -> dict[tuple, dict]:
    """What the attacker wants: every cell's true cards, total and merchants' shares."""
    src = str(local_path(dataset.current_version.parquet))
    rows = duckdb.execute(
        f"""WITH per_card AS (
                SELECT sigungu_code, industry, age_band, strftime(approved_at, '%Y-%m') AS month,
                       card_id, sum(amount) AS spent
                FROM read_parquet('{src}') GROUP BY ALL)
            SELECT sigungu_code, industry, age_band, month, count(*), sum(spent), max(spent)
            FROM per_card GROUP BY ALL"""
    ).fetchall()
    return {r[:4]: {"cards": r[4], "total": r[5], "top_card": r[6]} for r in rows}


def recoverable(published: set[tuple], cells: dict[tuple, dict]) -> list[tuple]:
    """Cells an attacker who knew every true line total (margin) would rebuild: the only
    missing cell of a line."""
    found = []
    for axis in range(4):
        lines = defaultdict(list)
        for cell in cells:
            lines[cell[:axis] + cell[axis + 1 :]].append(cell)
        for members in lines.values():
            missing = [c for c in members if c not in published]
            if len(missing) == 1 and len(members) > 1:
                found.append(missing[0])
    return found


def test_a_full_extract_publishes_no_small_cell_and_leaves_none_rebuildable(
    world, cards, login, django_capture_on_commit_callbacks
):
    offer = offer_id(login, world, cards)
    client = login(world.buyer_analyst)
    response = request(client, offer, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.json()
    rows = extract_rows(client, response.json()["id"])
    cells = true_cells(cards)
    published = {key(r) for r in rows}
    assert rows and len(published) < len(cells)  # some cells are suppressed
    assert all(cells[c]["cards"] >= K for c in published)
    assert recoverable(published, cells) == []
    for r in rows:  # noise: at most half the largest card's spending, but not the truth everywhere
        cell = cells[key(r)]
        assert abs(int(r["sum_amount"]) - cell["total"]) <= 0.5 * cell["top_card"] + 1
    assert any(int(r["sum_amount"]) != cells[key(r)]["total"] for r in rows)
    text = str(rows)
    assert "card_id" not in rows[0] and "C1" not in text and "홍길동" not in text


def test_dropping_a_dimension_is_refused(world, cards, login, django_capture_on_commit_callbacks):
    offer = offer_id(login, world, cards)
    client = login(world.buyer_analyst)
    fields = ["sigungu_code", "industry", "approved_at"]  # age band dropped to read margins
    response = request(client, offer, django_capture_on_commit_callbacks, fields=fields)
    assert response.status_code == 400
    assert "fixed" in str(response.json()["errors"]["fields"])


def test_all_regions_minus_all_but_one_gives_nothing_new(
    world, cards, login, django_capture_on_commit_callbacks
):
    """Extracts for every region and for all but 41190, by two buyers of one consortium (a
    second request of the same organization is the same attack)."""
    offer = offer_id(login, world, cards)
    full_client, part_client = login(world.buyer_analyst), login(world.other_buyer)
    full = request(full_client, offer, django_capture_on_commit_callbacks)
    part = request(part_client, offer, django_capture_on_commit_callbacks, regions=REGIONS[:-1])
    assert full.status_code == part.status_code == 201
    full_rows = {tuple(r.items()) for r in extract_rows(full_client, full.json()["id"])}
    part_rows = {tuple(r.items()) for r in extract_rows(part_client, part.json()["id"])}
    # Every row of the narrower file is the same row of the full file: subtracting one from the
    # other leaves 41190's published cells, which the full file shows anyway.
    assert part_rows <= full_rows
    assert {dict(r)["sigungu_code"] for r in full_rows - part_rows} == {"41190"}


def test_year_minus_eleven_months_gives_nothing_new_and_windows_are_whole_months(
    world, cards, login, django_capture_on_commit_callbacks
):
    offer = offer_id(login, world, cards)
    a, b = login(world.buyer_analyst), login(world.other_buyer)
    first = request(
        a, offer, django_capture_on_commit_callbacks, date_from="2024-01-01", date_to="2024-06-30"
    )
    second = request(
        b, offer, django_capture_on_commit_callbacks, date_from="2024-01-01", date_to="2024-05-31"
    )
    assert first.status_code == second.status_code == 201
    longer = {tuple(r.items()) for r in extract_rows(a, first.json()["id"])}
    shorter = {tuple(r.items()) for r in extract_rows(b, second.json()["id"])}
    assert shorter <= longer
    assert {dict(r)["approved_at"][:7] for r in longer - shorter} == {"2024-06"}
    odd = request(
        login(world.buyer_manager),
        offer,
        django_capture_on_commit_callbacks,
        date_from="2024-01-10",
        date_to="2024-02-20",
    )
    assert odd.status_code == 400
    assert {"date_from", "date_to"} <= set(odd.json()["errors"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"region_field": "dong"}, "region_field"),  # a 동 filter on a 시·군 table
        ({"dominance": "1.0"}, "dominance"),  # a value that would switch the rule off
        ({"k": 2}, "k"),
        ({"p_percent": 0}, "p_percent"),
        ({"measures": [{"field": "amount", "agg": "max"}]}, "measures"),  # single transactions
        ({"subject_field": ""}, "subject_field"),  # would count rows, not cards
        ({"dimensions": ["sigungu_code", "industry"]}, "date_field"),  # date filter not a dimension
    ],
)
def test_offers_that_would_leak_are_refused_when_saved(world, cards, login, changes, field):
    response = create_offer(login, world, cards, **changes)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_weeks_against_months_are_refused_by_the_ledger(
    world, cards, login, django_capture_on_commit_callbacks
):
    monthly = offer_id(login, world, cards)
    weekly = offer_id(login, world, cards, name="주별 집계", date_granularity="week")
    client = login(world.buyer_analyst)
    assert request(client, monthly, django_capture_on_commit_callbacks).status_code == 201
    refused = request(client, weekly, django_capture_on_commit_callbacks)
    assert refused.status_code == 400
    assert "scope" in refused.json()["errors"] and "nest" in str(refused.json()["errors"]["scope"])
    other = login(world.other_buyer)  # another organization holds nothing: it may
    assert request(other, weekly, django_capture_on_commit_callbacks).status_code == 201


def test_a_finer_table_under_a_lower_k_is_refused_by_the_ledger(
    world, cards, login, django_capture_on_commit_callbacks
):
    coarse = offer_id(
        login,
        world,
        cards,
        name="시·군 × 업종 월별 (k=60)",
        dimensions=["sigungu_code", "industry", "approved_at"],
        k=60,
    )
    fine = offer_id(login, world, cards, name="연령대까지 (k=3)", k=3)
    client = login(world.buyer_analyst)
    assert request(client, coarse, django_capture_on_commit_callbacks).status_code == 201
    refused = request(client, fine, django_capture_on_commit_callbacks)
    assert refused.status_code == 400, refused.json()
    assert "fewer than" in str(refused.json()["errors"]["scope"])
    # Nothing was created by the refusal: the buyer still holds one license.
    assert client.get("/api/v1/licenses/").json()["count"] == 1

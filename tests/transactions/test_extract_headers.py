"""Issue 17, item 2: an extract's header row in Korean column titles or column names, and
averages and sums rounded to what a reader uses."""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog import services as catalog_services
from catalog.models import Field, Offer
from catalog.policy import OfferPolicy
from tests import factories
from tests.transactions.factories import submit
from tests.transactions.test_extract_engine import AGGREGATE, ROWS, SCHEMA, read_back, source  # noqa: F401
from transactions import services
from transactions.extracts import build_recipe, run_extract
from transactions.extracts.engine import header_labels
from transactions.models import Extract, License

KEY = b"license-7-key-0123456789abcdef!!"


def run(parquet, tmp_path, *, offer, labels=None):
    recipe = build_recipe(
        parquet=parquet,
        source_sha256="0" * 64,
        schema=SCHEMA,
        policy=OfferPolicy.from_values(offer),
        scope={},
        key=KEY,
        format="csv",
        noise_seed="0" * 64,
        labels=labels,
    )
    result = run_extract(recipe, out_path=tmp_path / "out.csv", work_dir=tmp_path / "work", key=KEY)
    return read_back(result.path, "csv")


def test_aggregate_headers_in_korean_and_averages_rounded(source, tmp_path):  # noqa: F811
    offer = {
        **AGGREGATE,
        "dominance_field": "",
        "measures": [{"field": "amount", "agg": "avg"}, {"field": "amount", "agg": "sum"}],
    }
    fields = [
        Field(name="region", title="시군코드"),
        Field(name="day", title="결제일"),
        Field(name="amount", title="금액"),
    ]
    header, rows = run(source, tmp_path, offer=offer, labels=header_labels(fields))
    assert header == ["시군코드", "결제일", "건수", "금액 평균", "금액 합계"]
    assert rows, "the March cell is released"
    for row in rows:
        for value in row[3:]:
            assert len(value.partition(".")[2]) <= 2, value  # 116.67, not 116.66666666666667


def test_names_stay_the_default_header(source, tmp_path):  # noqa: F811
    header, _rows = run(source, tmp_path, offer={**AGGREGATE, "dominance_field": ""})
    assert header == ["region", "day", "records", "sum_amount"]


def test_two_columns_with_one_title_keep_unique_headers(source, tmp_path):  # noqa: F811
    offer = {"kind": "records", "fields": ["region", "memo"], "quasi_identifiers_allowed": False}
    labels = {"region": "지역", "memo": "지역"}
    header, rows = run(source, tmp_path, offer=offer, labels=labels)
    assert header == ["지역(region)", "지역(memo)"]
    assert len(rows) == len(ROWS)


@pytest.mark.django_db
def test_the_api_delivers_korean_titles_when_asked(world, login, django_capture_on_commit_callbacks):
    dataset = factories.published_dataset(world.center, with_data=True, row_count=60)
    fields = ["sigungu_code", "industry", "amount"]
    for name, title in [("sigungu_code", "시군코드"), ("industry", "업종"), ("amount", "금액")]:
        Field.objects.filter(version=dataset.current_version, name=name).update(title=title)
    offer = factories.OfferFactory(dataset=dataset, fields=fields, approval=Offer.Approval.AUTOMATIC)
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(world.buyer_analyst, offer, scope={"fields": fields})
    license = License.objects.get(access_request=request)
    client = login(world.buyer_manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/licenses/{license.pk}/extracts/", {"format": "csv", "header": "titles"}, format="json"
        )
    assert response.status_code == 202, response.content
    assert response.json()["header"] == "titles"
    extract = Extract.objects.get(pk=response.json()["id"])
    assert extract.status == "succeeded", extract.error
    assert extract.file_name.endswith("-csv-titles.zip")
    url = client.post(f"/api/v1/extracts/{extract.pk}/download-link/").json()["url"]
    body = b"".join(client.get(url.removeprefix("http://testserver")).streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        header = next(csv.reader(io.StringIO(z.read("data.csv").decode("utf-8-sig"))))
    assert header == ["시군코드", "업종", "금액"]
    bad = client.post(f"/api/v1/licenses/{license.pk}/extracts/", {"header": "klingon"}, format="json")
    assert bad.status_code == 400 and "header" in bad.json()["errors"]
    # The same format with column names is another file.
    with django_capture_on_commit_callbacks(execute=True):
        names = services.extract_request(actor=world.buyer_manager, license=license, format="csv")
    assert names.pk != extract.pk and names.header == "names"


@pytest.mark.django_db
def test_ingestion_suggests_korean_titles_and_keeps_the_centers_edits(
    center, django_capture_on_commit_callbacks
):
    curator = factories.member(center, "curator", email="curator@center.kr")
    dataset = catalog_services.dataset_create(actor=curator, center=center, title="결제", regions=["41110"])
    csv_text = "sigungu_name,Approved At,amount,memo_x\n" + "".join(
        f"수원시,2024-01-0{i + 1} 10:00:00,{1000 * i},m{i}\n" for i in range(6)
    )

    def upload():
        with django_capture_on_commit_callbacks(execute=True):
            version = catalog_services.version_upload(
                actor=curator,
                dataset=dataset,
                file=SimpleUploadedFile("d.csv", csv_text.encode()),
                filename="d.csv",
            )
        version.refresh_from_db()
        assert version.status == "ready"
        return {f.name: (f.title, f.description) for f in version.fields.all()}, version

    titles, v1 = upload()
    assert titles["sigungu_name"][0] == "시군명"
    assert titles["Approved At"][0] == "승인일시"
    assert titles["amount"] == ("금액", "결제 금액(원)")
    assert titles["memo_x"] == ("", "")  # not in the dictionary: left for the center
    catalog_services.version_fields_update(
        actor=curator, version=v1, changes=[{"name": "amount", "title": "결제금액", "description": "원 단위"}]
    )
    titles, _v2 = upload()
    assert titles["amount"] == ("결제금액", "원 단위")

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Dataset, DatasetVersion, Offer
from tests.catalog.conftest import CARD_CSV

pytestmark = pytest.mark.django_db


def test_center_pages_need_login_and_a_center(web, as_user, analyst, published):
    response = web.get("/center/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client = as_user(analyst)
    assert client.get("/center/").status_code == 404
    assert client.get(f"/center/datasets/{published.slug}/").status_code == 404
    assert client.get(f"/center/versions/{published.current_version_id}/").status_code == 404
    assert client.get(f"/center/versions/{published.current_version_id}/status.json").status_code == 404
    assert client.get("/center/datasets/new/").status_code == 404


def test_new_dataset_form_shows_errors_then_creates_a_draft(as_user, curator):
    client = as_user(curator)
    response = client.post(
        "/center/datasets/new/", {"title": "", "theme": "jobs", "update_frequency": "monthly"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and 'id="id_title_error"' in html
    response = client.post(
        "/center/datasets/new/",
        {
            "title": "경기 일자리 현황",
            "title_en": "Gyeonggi jobs",
            "theme": "jobs",
            "update_frequency": "monthly",
            "keywords": "일자리, 구인",
            "regions": ["41110", "41130"],
            "temporal_start": "2024-01-01",
            "temporal_end": "2023-01-01",
        },
    )
    assert response.status_code == 200  # the service refuses the reversed coverage
    assert "id_temporal_end_error" in response.content.decode()
    response = client.post(
        "/center/datasets/new/",
        {
            "title": "경기 일자리 현황",
            "title_en": "Gyeonggi jobs",
            "theme": "jobs",
            "update_frequency": "monthly",
            "keywords": "일자리, 구인",
            "regions": ["41110", "41130"],
        },
    )
    dataset = Dataset.objects.get(title="경기 일자리 현황")
    assert response.status_code == 302 and response["Location"] == f"/center/datasets/{dataset.slug}/"
    assert dataset.keywords == ["일자리", "구인"] and dataset.regions == ["41110", "41130"]
    assert dataset.status == "draft"
    assert client.get(f"/center/datasets/{dataset.slug}/").status_code == 200
    assert client.get(f"/center/datasets/{dataset.slug}/edit/").status_code == 200
    assert client.get("/center/").content.decode().count("경기 일자리 현황") == 1


def test_upload_fields_publish_and_offer(
    as_user, curator, center, django_capture_on_commit_callbacks, stranger
):
    client = as_user(curator)
    client.post(
        "/center/datasets/new/",
        {"title": "카드 결제", "theme": "local_currency", "update_frequency": "monthly"},
    )
    dataset = Dataset.objects.get(title="카드 결제")

    empty = client.post(
        f"/center/datasets/{dataset.slug}/upload/", {"file": SimpleUploadedFile("a.csv", b"")}
    )
    assert empty.status_code == 200 and "id_file_error" in empty.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/center/datasets/{dataset.slug}/upload/",
            {"file": SimpleUploadedFile("결제.csv", CARD_CSV.encode("cp949"))},
        )
    version = DatasetVersion.objects.get(dataset=dataset)
    assert response.status_code == 302 and response["Location"] == f"/center/versions/{version.pk}/"
    status = client.get(f"/center/versions/{version.pk}/status.json").json()
    assert status["status"] == "ready" and status["done"] is True and status["progress"] == 100
    assert as_user(stranger).get(f"/center/versions/{version.pk}/status.json").status_code == 404

    page = client.get(f"/center/versions/{version.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "카드번호" in html and "<svg" in html
    form = page.context["form"]
    data = {name: form[name].value() for name in form.fields}
    index = next(i for i, f in enumerate(form.columns) if f.name == "연령대")
    data[f"f{index}-sensitivity"] = "excluded"
    data[f"f{index}-title"] = "연령대 (10세 단위)"
    assert client.post(f"/center/versions/{version.pk}/", data).status_code == 302
    field = version.fields.get(name="연령대")
    assert (field.sensitivity, field.title) == ("excluded", "연령대 (10세 단위)")

    assert client.post(f"/center/versions/{version.pk}/publish/").status_code == 302
    dataset.refresh_from_db()
    assert dataset.status == "published" and dataset.current_version_id == version.pk

    offer_data = {
        "name": "공개 결제 내역",
        "kind": "records",
        "columns": ["시군코드", "업종", "금액", "성명"],
        "region_field": "시군코드",
        "date_field": "승인일시",
        "k": 5,
        "date_granularity": "month",
        "approval": "center",
        "price_krw": 50000,
        "duration_days": 90,
        "download_quota": 3,
        "is_active": "on",
        "terms": "목적 외 이용 금지",
    }
    refused = client.post(f"/center/datasets/{dataset.slug}/offers/new/", offer_data)
    assert refused.status_code == 200 and "id_columns_error" in refused.content.decode()
    offer_data["columns"] = ["시군코드", "업종", "금액"]
    created = client.post(f"/center/datasets/{dataset.slug}/offers/new/", offer_data)
    assert created.status_code == 302
    offer = Offer.objects.get(dataset=dataset)
    assert offer.fields == ["시군코드", "업종", "금액"] and offer.price_krw == 50000
    offer_data["terms"] = "목적 외 이용 금지. 재식별 금지."
    assert client.post(f"/center/offers/{offer.pk}/", offer_data).status_code == 302
    offer.refresh_from_db()
    assert offer.current_terms.version == 2
    assert as_user(stranger).get(f"/center/offers/{offer.pk}/").status_code == 404

    public = client.get(f"/datasets/{dataset.slug}/")
    assert "55,000원" in public.content.decode()  # price with 10% VAT

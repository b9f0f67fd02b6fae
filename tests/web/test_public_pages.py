import pytest

pytestmark = pytest.mark.django_db


def test_home_in_korean_by_default(web, published):
    response = web.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ko">' in html
    assert "경기지역화폐 카드 결제" in html
    assert 'href="#content"' in html and 'id="content"' in html
    assert "/static/css/jangteo.css" in html


def test_catalog_and_dataset_page(web, published, draft):
    response = web.get("/datasets/", {"q": "지역화폐"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "경기지역화폐 카드 결제" in html
    assert "공개 전 데이터" not in html
    page = web.get(f"/datasets/{published.slug}/")
    assert page.status_code == 200
    assert web.get(f"/datasets/{draft.slug}/").status_code == 404


def test_dataset_page_of_a_real_version(web, live_dataset):
    page = web.get(f"/datasets/{live_dataset.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    print(html[-6000:])

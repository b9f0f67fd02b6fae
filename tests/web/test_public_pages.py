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
    assert "공개 결제 내역" in html  # the offer
    assert "승인일시" in html and "수원시" in html  # schema and a previewed public value


def test_dataset_page_is_cached_per_kind_of_viewer_and_changes_show_at_once(
    web, as_user, analyst, curator, live_dataset, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from catalog import services

    offer = live_dataset.offers.get()
    page = f"/datasets/{live_dataset.slug}/"
    request_url = reverse("request-new", args=[live_dataset.slug, offer.pk])
    manage_url = reverse("center-dataset", args=[live_dataset.slug])
    buyer, center = as_user(analyst), as_user(curator)

    anonymous_html = web.get(page).content.decode()
    assert f"?next={page}" in anonymous_html.replace("%2F", "/") and request_url not in anonymous_html
    assert request_url in buyer.get(page).content.decode()  # not the anonymous visitor's copy
    assert request_url not in web.get(page).content.decode()  # nor the other way round
    assert manage_url in center.get(page).content.decode()
    assert manage_url not in buyer.get(page).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        services.offer_update(actor=curator, offer=offer, price_krw=123_000)
    assert "135,300원" in web.get(page).content.decode()  # 123,000 + VAT, at once

    with django_capture_on_commit_callbacks(execute=True):
        services.offer_update(actor=curator, offer=offer, is_active=False)
    assert "공개 결제 내역" in center.get(page).content.decode()  # the center sees its closed offer
    assert "공개 결제 내역" not in web.get(page).content.decode()
    assert "공개 결제 내역" not in buyer.get(page).content.decode()


def _csrf_token(html: str) -> str:
    import re

    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_visitors_share_a_cached_page_but_each_gets_a_working_csrf_token(live_dataset):
    from django.test import Client

    from catalog.models import DatasetView
    from catalog.views import CSRF_SLOT

    page = f"/datasets/{live_dataset.slug}/"
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_html = first.get(page).content.decode()
    views = DatasetView.objects.filter(dataset=live_dataset).count()
    second_html = second.get(page).content.decode()  # from the cache
    assert DatasetView.objects.filter(dataset=live_dataset).count() == views + 1
    assert CSRF_SLOT not in first_html + second_html
    assert "공개 결제 내역" in second_html and first_html.count("<section") == second_html.count("<section")
    token = _csrf_token(second_html)
    assert token != _csrf_token(first_html)
    switched = second.post("/i18n/setlang/", {"language": "en", "next": page, "csrfmiddlewaretoken": token})
    assert switched.status_code == 302  # the CSRF check passed with this visitor's own token
    assert '<html lang="en">' in second.get(page).content.decode()


def test_a_visitor_with_a_waiting_message_sees_it_on_the_dataset_page(web, live_dataset):
    from django.contrib import messages as django_messages
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpResponse
    from django.test import RequestFactory

    page = f"/datasets/{live_dataset.slug}/"
    web.get(page)  # cached for visitors without messages
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(django_messages.INFO, "기다리던 안내 메시지")
    carrier = HttpResponse()
    storage.update(carrier)
    web.cookies[storage.cookie_name] = carrier.cookies[storage.cookie_name].value
    assert "기다리던 안내 메시지" in web.get(page).content.decode()
    assert "기다리던 안내 메시지" not in web.get(page).content.decode()  # shown once


def test_visitors_share_cached_search_pages_that_follow_every_change(
    live_dataset, curator, django_capture_on_commit_callbacks
):
    """A search for visitors is rendered once per language and query string (each visitor with
    their own CSRF token), and dropped as soon as the catalog changes."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog import services
    from catalog.views import CSRF_SLOT

    page = "/datasets/?q=" + live_dataset.title.split()[0]
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_html = first.get(page).content.decode()
    assert live_dataset.slug in first_html
    with CaptureQueriesContext(connection) as queries:
        second_html = second.get(page).content.decode()
    assert len(queries) == 0 and CSRF_SLOT not in first_html + second_html
    assert _csrf_token(first_html) != _csrf_token(second_html)
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_retire(actor=curator, dataset=live_dataset)
    assert live_dataset.slug not in Client().get(page).content.decode()

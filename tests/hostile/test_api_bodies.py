"""Hostile query parameters get a clear answer and change nothing. (Hostile request bodies are
in the corpus: test_corpus.py sends tests/data/hostile's JSON bodies, test_text_fields.py puts
invalid text in every writable field.)"""

import pytest

from tests import factories


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "지역\x00화폐"},
        {"q": "' OR 1=1; DROP TABLE catalog_dataset; --"},
        {"region": "41110' OR '1'='1"},
        {"center": "1 OR 1=1"},
        {"q": "%" * 500},
        {"sort": "-title; DROP"},
    ],
)
def test_search_parameters_that_look_like_sql_are_just_text(api, params):
    factories.published_dataset(title="경기지역화폐 결제 내역")
    response = api.get("/api/v1/datasets/", params)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["count"] == 0
    else:
        assert response.json()["detail"]
    assert api.get("/api/v1/datasets/").json()["count"] == 1

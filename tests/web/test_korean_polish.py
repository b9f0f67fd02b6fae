"""Issue 17, item 9: Korean that reads as written by a person — particles fitted to their
word, Korean dates and a 24-hour clock, audit verbs in words, and "1 dataset"."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from django.utils.formats import date_format

from marketplace.audit import verb_label
from marketplace.korean import with_particles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("버전 2을(를) 공개했습니다.", "버전 2를 공개했습니다."),
        ("버전 3을(를) 공개했습니다.", "버전 3을 공개했습니다."),
        ("110-123-456(으)로 이체하세요.", "110-123-456으로 이체하세요."),
        ("신한은행 계좌(으)로", "신한은행 계좌로"),
        ("골목카페은(는) 소상공인(으)로 등록되어", "골목카페는 소상공인으로 등록되어"),
        ("no particle here (see above)", "no particle here (see above)"),
    ],
)
def test_particles_fit_the_word_before_them(text, expected):
    assert with_particles(text) == expected


@pytest.mark.django_db
def test_korean_pages_resolve_particles(as_user, curator, ingested):
    client = as_user(curator, language="ko")
    response = client.post(f"/center/versions/{ingested.pk}/publish/", follow=True)
    html = response.content.decode()
    assert "버전 1을 공개했습니다" in html
    assert "을(를)" not in html and "(으)로" not in html


def test_korean_dates_and_times():
    moment = datetime.datetime(2026, 3, 5, 15, 3, tzinfo=ZoneInfo("Asia/Seoul"))
    with translation.override("ko"):
        assert date_format(moment, "SHORT_DATETIME_FORMAT") == "2026-03-05 15:03"
        assert date_format(moment, "DATE_FORMAT") == "2026년 3월 5일"
        assert "오후" not in date_format(moment, "DATETIME_FORMAT")


def test_audit_verbs_read_as_words():
    with translation.override("ko"):
        assert verb_label("transactions.access_request.invoiced") == "이용 신청: 청구서 발행"
        assert verb_label("catalog.version.published") == "데이터셋 버전: 공개"
    with translation.override("en"):
        assert verb_label("transactions.license.revoked") == "License: revoked"
    assert verb_label("something.unknown") == "something.unknown"


@pytest.mark.django_db
def test_one_dataset_is_singular(web, published):
    html = web.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 dataset<" in html and "1 datasets" not in html
    found = web.get("/datasets/", {"q": "카드"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 dataset found" in found
    korean = web.get("/datasets/", {"q": "카드"}, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "데이터셋 1개를 찾았습니다" in korean

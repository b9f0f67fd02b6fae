"""`since`/`until` on the audit trail and the statistics: a date is a whole day in the platform's
time zone, a time keeps its exact meaning."""

import codecs
import csv
import datetime
import io
import zoneinfo

import pytest
from django.conf import settings

from catalog.models import DatasetView
from marketplace.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db

SEOUL = zoneinfo.ZoneInfo(settings.TIME_ZONE)
DAY = datetime.date(2026, 3, 5)


def _event(label: str, at: datetime.datetime, organization) -> AuditEvent:
    event = AuditEvent.objects.create(
        actor_label="x", verb=f"transactions.test.{label}", organization=organization, target_type="t"
    )
    AuditEvent.objects.filter(pk=event.pk).update(created_at=at)
    return event


@pytest.fixture
def day_events(world):
    """Events around 5 March 2026 in Seoul; 23:30 in Seoul is still 5 March there but 14:30 UTC,
    and 00:30 on 6 March in Seoul is still 5 March in UTC."""
    for label, at in [
        ("previous", datetime.datetime(2026, 3, 4, 23, 59, tzinfo=SEOUL)),
        ("morning", datetime.datetime(2026, 3, 5, 0, 0, tzinfo=SEOUL)),
        ("afternoon", datetime.datetime(2026, 3, 5, 15, 0, tzinfo=SEOUL)),
        ("late", datetime.datetime(2026, 3, 5, 23, 30, tzinfo=SEOUL)),
        ("next", datetime.datetime(2026, 3, 6, 0, 30, tzinfo=SEOUL)),
    ]:
        _event(label, at, world.buyer)
    return world


def _labels(client, query: str) -> set[str]:
    response = client.get(f"/api/v1/audit/?verb=transactions.test.&page_size=100&{query}")
    assert response.status_code == 200, response.content
    return {r["verb"].rsplit(".", 1)[1] for r in response.json()["results"]}


@pytest.mark.parametrize("time_zone", [settings.TIME_ZONE, "UTC", "America/New_York"])
def test_a_date_until_includes_its_whole_day_in_the_platforms_time_zone(day_events, login, time_zone):
    """`until=2026-03-05` was read as that day's midnight and dropped the day's events. The day is
    the platform's (TIME_ZONE), whatever time zone the request runs in."""
    from django.utils import timezone

    client = login(day_events.operator)
    with timezone.override(time_zone):
        assert _labels(client, f"until={DAY}") == {"afternoon", "previous", "late", "morning"}
        assert _labels(client, f"since={DAY}&until={DAY}") == {"afternoon", "late", "morning"}
        assert _labels(client, f"since={DAY}") == {"afternoon", "next", "late", "morning"}
        assert _labels(client, "until=2026-03-04") == {"previous"}


def test_a_time_until_keeps_its_exact_meaning(day_events, login):
    client = login(day_events.operator)
    assert _labels(client, "until=2026-03-05T15:00:00%2B09:00") == {"previous", "morning"}
    assert _labels(client, "until=2026-03-05T15:00:01%2B09:00") == {"afternoon", "previous", "morning"}
    # Without an offset a time is in the platform's time zone; 06:00 UTC is 15:00 in Seoul.
    assert _labels(client, "until=2026-03-05T15:00:01") == {"afternoon", "previous", "morning"}
    assert _labels(client, "until=2026-03-05T06:00:01Z") == {"afternoon", "previous", "morning"}
    assert _labels(client, "since=2026-03-05T15:00:00%2B09:00") == {"next", "afternoon", "late"}


@pytest.mark.parametrize("value", ["2026-02-30", "2026-03-05T25:00", "yesterday"])
def test_an_impossible_date_is_a_400_on_its_parameter(day_events, login, value):
    response = login(day_events.operator).get("/api/v1/audit/", {"until": value})
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"until": [value]}


def test_the_csv_export_includes_the_whole_until_day(day_events, login):
    response = login(day_events.operator).get(
        f"/api/v1/audit/?format=csv&verb=transactions.test.&until={DAY}"
    )
    assert response.status_code == 200
    raw = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert raw.startswith(codecs.BOM_UTF8)
    assert {row[2].rsplit(".", 1)[1] for row in rows[1:]} == {"afternoon", "previous", "late", "morning"}


def test_the_audit_page_includes_the_whole_until_day(day_events, client):
    client.force_login(day_events.operator)
    page = client.get("/audit/", {"verb": "transactions.test.", "since": DAY, "until": DAY})
    assert page.status_code == 200
    html = page.content.decode()
    assert "transactions.test.late" in html and "transactions.test.morning" in html
    assert "transactions.test.previous" not in html and "transactions.test.next" not in html


def test_stats_until_a_date_count_that_whole_day(world, login):
    dataset = factories.published_dataset(world.center)
    for at in [
        datetime.datetime(2026, 3, 31, 23, 30, tzinfo=SEOUL),  # 14:30 UTC, still 31 March in Seoul
        datetime.datetime(2026, 3, 31, 9, 0, tzinfo=SEOUL),
        datetime.datetime(2026, 4, 1, 0, 30, tzinfo=SEOUL),  # 31 March in UTC, April in Seoul
    ]:
        view = DatasetView.objects.create(dataset=dataset)
        DatasetView.objects.filter(pk=view.pk).update(viewed_at=at)
    client = login(world.center_curator)

    def views(query):
        response = client.get(f"/api/v1/stats/?dataset={dataset.slug}&{query}")
        assert response.status_code == 200, response.content
        return {m["month"]: m["views"] for m in response.json()["results"][0]["months"]}

    assert views("until=2026-03-31") == {"2026-03": 2}
    assert views("since=2026-03-31&until=2026-03-31") == {"2026-03": 2}
    assert views("since=2026-04-01") == {"2026-04": 1}


def test_the_schema_says_a_date_until_is_the_whole_day(api):
    schema = api.get("/api/schema/?format=json").json()
    parameters = {
        (path, p["name"]): p.get("description", "")
        for path in ("/api/v1/audit/", "/api/v1/stats/")
        for p in schema["paths"][path]["get"]["parameters"]
    }
    for path in ("/api/v1/audit/", "/api/v1/stats/"):
        assert "whole day" in parameters[(path, "until")]
        assert settings.TIME_ZONE in parameters[(path, "until")]

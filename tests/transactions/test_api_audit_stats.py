import codecs
import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import DatasetView, Offer
from marketplace.models import AuditEvent
from tests import factories
from tests.transactions.factories import submit
from transactions import services
from transactions.models import AccessRequest, License, RequestEvent

pytestmark = pytest.mark.django_db


# --- audit ----------------------------------------------------------------------------------


def test_organizations_read_the_events_they_are_party_to(world, login):
    offer = world.offer()
    login(world.buyer_analyst).post(
        "/api/v1/requests/",
        {
            "offer": offer.pk,
            "fields": ["amount"],
            "purpose": "분석",
            "purpose_category": "research",
            "accept_terms": True,
        },
        format="json",
    )
    submit(world.other_buyer, world.offer())

    def verbs_and_orgs(user, query=""):
        rows = login(user).get(f"/api/v1/audit/{query}").json()["results"]
        return rows, {(r["organization"] or {}).get("id") for r in rows}

    rows, orgs = verbs_and_orgs(world.buyer_manager)
    assert rows and orgs == {world.buyer.pk}
    assert all(r["ip"] is None for r in rows)  # IP addresses are for operators

    rows, orgs = verbs_and_orgs(world.center_curator)  # the center is the other side of both requests
    assert orgs == {world.buyer.pk, world.other_buyer_org.pk}

    rows, orgs = verbs_and_orgs(world.operator)
    assert {world.buyer.pk, world.other_buyer_org.pk} <= orgs
    assert any(r["ip"] == "127.0.0.1" for r in rows)

    rows, orgs = verbs_and_orgs(world.other_center_curator)
    assert rows == []


def test_audit_filters(world, login):
    request = submit(world.buyer_analyst, world.offer())
    services.access_request_reject(actor=world.center_reviewer, access_request=request, reason="x")
    submit(world.other_buyer, world.offer())
    client = login(world.operator)

    def verbs(query):
        return [r["verb"] for r in client.get(f"/api/v1/audit/{query}").json()["results"]]

    assert verbs("?verb=transactions.access_request.rejected") == ["transactions.access_request.rejected"]
    assert set(verbs("?verb=transactions.access_request")) == {
        "transactions.access_request.submitted",
        "transactions.access_request.queued",
        "transactions.access_request.rejected",
    }
    assert len(verbs(f"?organization={world.other_buyer_org.pk}")) == 2
    assert verbs(f"?target_type=transactions.accessrequest&target_id={request.pk}")[0] == (
        "transactions.access_request.rejected"
    )
    today = timezone.localdate()
    assert len(verbs(f"?since={today}")) == AuditEvent.objects.count()
    assert verbs(f"?until={today - datetime.timedelta(days=1)}") == []
    assert client.get("/api/v1/audit/?since=yesterday").status_code == 400
    assert client.get("/api/v1/audit/?organization=abc").status_code == 400


def test_audit_csv_export_streams_utf8_with_bom(world, login):
    request = submit(world.buyer_analyst, world.offer())
    AuditEvent.objects.create(
        actor_label="x",
        verb="transactions.test",
        organization=world.buyer,
        target_type="t",
        target_id="1",
        target_repr='=HYPERLINK("http://evil")',
    )
    response = login(world.buyer_manager).get("/api/v1/audit/?format=csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["time", "actor", "verb"]
    verbs = {row[2] for row in rows[1:]}
    assert "transactions.access_request.submitted" in verbs
    assert all(row[-1] == "" for row in rows[1:])  # no IP addresses for organizations
    submitted = next(row for row in rows[1:] if row[2] == "transactions.access_request.submitted")
    assert submitted[3] == world.buyer.name and submitted[4] == world.center.name
    assert submitted[6] == str(request.pk)
    assert next(row for row in rows[1:] if row[2] == "transactions.test")[7].startswith("'=")

    filtered = login(world.operator).get("/api/v1/audit/?format=csv&verb=transactions.test")
    assert len(list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode("utf-8-sig"))))) == 2


def test_audit_needs_a_login(api):
    assert api.get("/api/v1/audit/").status_code == 401
    assert api.get("/api/v1/audit/?format=csv").status_code == 401


# --- stats ----------------------------------------------------------------------------------


def _month(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


def test_provider_statistics_by_dataset_offer_and_month(world, login):
    dataset = factories.published_dataset(world.center)
    priced = world.offer(dataset=dataset, price_krw=10_000, name="유료")
    free = world.offer(dataset=dataset, approval=Offer.Approval.AUTOMATIC, name="무료")

    paid_request = submit(world.buyer_analyst, priced)
    services.access_request_approve(actor=world.center_reviewer, access_request=paid_request)
    services.invoice_mark_paid(
        actor=world.operator, invoice=AccessRequest.objects.get(pk=paid_request.pk).invoice, reference="KB-1"
    )
    paid_license = License.objects.get(access_request=paid_request)
    services.license_download_record(actor=world.buyer_analyst, license=paid_license)

    free_request = submit(world.other_buyer, free)
    free_license = License.objects.get(access_request=free_request)
    services.license_download_record(actor=world.other_buyer, license=free_license)
    services.license_download_record(actor=world.other_buyer, license=free_license)

    old_request = submit(world.buyer_manager, free)  # automatic: licensed at once; moved 40 days back
    earlier = timezone.now() - datetime.timedelta(days=40)
    AccessRequest.objects.filter(pk=old_request.pk).update(created_at=earlier)
    RequestEvent.objects.filter(access_request=old_request).update(created_at=earlier)
    License.objects.filter(access_request=old_request).update(created_at=earlier)

    for _ in range(3):
        DatasetView.objects.create(dataset=dataset)
    for _ in range(2):
        view = DatasetView.objects.create(dataset=dataset)
        DatasetView.objects.filter(pk=view.pk).update(viewed_at=earlier)

    elsewhere = factories.published_dataset(world.other_center)
    DatasetView.objects.create(dataset=elsewhere)

    now_month, then_month = _month(timezone.now()), _month(earlier)
    response = login(world.center_curator).get(f"/api/v1/stats/?dataset={dataset.slug}")
    assert response.status_code == 200, response.content
    [stats] = response.json()["results"]
    assert stats["dataset"]["slug"] == dataset.slug
    months = {m["month"]: m for m in stats["months"]}
    assert months[now_month] == {
        "month": now_month,
        "views": 3,
        "requests": 2,
        "approvals": 2,
        "licenses": 2,
        "downloads": 3,
        "revenue_krw": 10_000,
    }
    assert months[then_month] == {
        "month": then_month,
        "views": 2,
        "requests": 1,
        "approvals": 1,
        "licenses": 1,
        "downloads": 0,
        "revenue_krw": 0,
    }
    offers = {o["name"]: {m["month"]: m for m in o["months"]} for o in stats["offers"]}
    assert offers["유료"][now_month] == {
        "month": now_month,
        "requests": 1,
        "approvals": 1,
        "licenses": 1,
        "downloads": 1,
        "revenue_krw": 10_000,
    }
    assert offers["무료"][now_month]["downloads"] == 2
    assert offers["무료"][then_month]["requests"] == 1

    # Center members see their own datasets only; operators see all.
    mine = login(world.center_manager).get("/api/v1/stats/").json()
    assert [d["dataset"]["slug"] for d in mine["results"]] == [dataset.slug]
    everything = login(world.operator).get("/api/v1/stats/?page_size=100").json()
    assert elsewhere.slug in {d["dataset"]["slug"] for d in everything["results"]}
    limited = (
        login(world.center_curator).get(f"/api/v1/stats/?dataset={dataset.slug}&since={now_month}-01").json()
    )
    assert [m["month"] for m in limited["results"][0]["months"]] == [now_month]


def test_stats_visibility(world, login):
    dataset = factories.published_dataset(world.center)
    assert login(world.buyer_analyst).get("/api/v1/stats/").status_code == 403
    assert login(world.buyer_analyst).get(f"/api/v1/stats/?dataset={dataset.slug}").status_code == 403
    assert login(world.other_center_curator).get(f"/api/v1/stats/?dataset={dataset.slug}").status_code == 403
    dataset.status = "draft"
    dataset.save(update_fields=["status"])
    assert login(world.other_center_curator).get(f"/api/v1/stats/?dataset={dataset.slug}").status_code == 404
    assert login(world.center_curator).get(f"/api/v1/stats/?dataset={dataset.slug}").status_code == 200
    assert login(world.center_curator).get("/api/v1/stats/?dataset=nope").status_code == 404


def test_stats_take_the_same_queries_for_one_or_many_datasets(world, login):
    client = login(world.operator)

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/stats/?page_size=50").status_code == 200
        return len(queries)

    submit(world.buyer_analyst, world.offer(approval=Offer.Approval.AUTOMATIC))
    one = queries_for_page()
    for _ in range(4):
        license = License.objects.get(
            access_request=submit(world.buyer_analyst, world.offer(approval=Offer.Approval.AUTOMATIC))
        )
        services.license_download_record(actor=world.buyer_analyst, license=license)
        DatasetView.objects.create(dataset=license.dataset)
    assert queries_for_page() == one

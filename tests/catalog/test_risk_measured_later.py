"""Record offers over versions too large to measure in a request (RISK_INLINE_MAX_ROWS): saved
closed, measured by a worker, opened only when the report passes; a change meanwhile supersedes
the measurement; approvals wait for the report; a lost measurement is queued again. Through the
API, as a center would use it, with the worker's task run as the broker would run it."""

import os
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from catalog import services, spark
from catalog.models import DatasetVersion, Offer
from catalog.services import risk_measurement
from marketplace.actors import SYSTEM
from marketplace.models import AuditEvent
from tests import factories
from tests.services import wait_until

pytestmark = pytest.mark.django_db

OFFER = factories.RECORD_OFFER
STRICT = {}  # the real threshold's defaults (k ≥ 5 …): 300 untreated rows fail it


@pytest.fixture
def large(settings, center):
    """A published dataset of 300 real rows over an inline limit of 100: "large"."""
    settings.RISK_INLINE_MAX_ROWS = 100
    return factories.published_dataset(center, with_data=True, row_count=300)


@pytest.fixture
def curator(center):
    return factories.member(center, "curator")


def _create(client, dataset, capture, **changes):
    with capture() as queued:
        answer = client.post(f"/api/v1/datasets/{dataset.slug}/offers/", {**OFFER, **changes}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json(), queued


def _damage(version) -> str:
    """Point `version` at a damaged copy of its data file (the shared file stays whole for the
    tests after this one); returns the good file's name."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    damaged = default_storage.save(f"damaged/{version.pk}.parquet", ContentFile(b"not a parquet file"))
    DatasetVersion.objects.filter(pk=version.pk).update(parquet=damaged)
    return version.parquet


def _run(queued) -> None:
    """What the broker does with the tasks queued on commit (tests run tasks eagerly)."""
    for callback in queued:
        callback()


def test_saved_closed_while_measured_then_opened_when_the_report_passes(
    login, curator, large, django_capture_on_commit_callbacks
):
    client = login(curator)
    offer, queued = _create(client, large, django_capture_on_commit_callbacks)
    assert offer["is_active"] is False and offer["risk_status"] == "measuring"
    assert offer["open_when_measured"] is True and offer["risk_report"] is None
    assert offer["risk_measuring_since"]
    assert Offer.objects.get(pk=offer["id"]).risk_token  # nothing measured before the worker runs

    _run(queued)
    offer = client.get(f"/api/v1/offers/{offer['id']}/").json()
    assert offer["risk_status"] == "measured" and offer["risk_passes"] is True
    assert offer["is_active"] is True and offer["open_when_measured"] is False
    assert offer["risk_report"]["rows"] == 300  # measured on the data, not assumed
    event = AuditEvent.objects.filter(verb="catalog.offer.risk_assessed", target_id=str(offer["id"])).last()
    assert event.after["opened"] is True and event.actor is None


def test_above_the_threshold_it_stays_closed_and_cannot_be_opened(
    login, curator, large, settings, django_capture_on_commit_callbacks
):
    settings.RISK_THRESHOLD_DEFAULTS = STRICT
    client = login(curator)
    offer, queued = _create(client, large, django_capture_on_commit_callbacks)
    _run(queued)
    offer = client.get(f"/api/v1/offers/{offer['id']}/").json()
    assert offer["risk_status"] == "measured" and offer["risk_passes"] is False
    assert offer["is_active"] is False and offer["open_when_measured"] is False
    opened = client.patch(f"/api/v1/offers/{offer['id']}/", {"is_active": True}, format="json")
    assert opened.status_code == 400 and "k-anonymity" in " ".join(opened.json()["errors"]["is_active"])
    assert Offer.objects.get(pk=offer["id"]).is_active is False


def test_a_policy_change_meanwhile_supersedes_the_measurement(
    login, curator, large, django_capture_on_commit_callbacks
):
    client = login(curator)
    offer, first = _create(client, large, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks() as second:
        changed = client.patch(
            f"/api/v1/offers/{offer['id']}/", {"fields": ["sigungu_code", "card_id", "amount"]}, format="json"
        )
    assert changed.status_code == 200 and changed.json()["risk_status"] == "measuring"
    assert changed.json()["open_when_measured"] is True  # the wish to open stands
    _run(first)  # the old policy's measurement comes in late: dropped
    stale = Offer.objects.get(pk=offer["id"])
    assert stale.risk_report is None and stale.risk_token and not stale.is_active
    _run(second)
    measured = Offer.objects.get(pk=offer["id"])
    assert measured.is_active and measured.risk_token is None
    assert "industry" not in measured.risk_report["quasi_identifiers"]  # the new policy's report


def test_terms_changed_meanwhile_keep_the_request_to_open_and_closing_it_is_kept(
    login, curator, large, django_capture_on_commit_callbacks
):
    client = login(curator)
    offer, queued = _create(client, large, django_capture_on_commit_callbacks)
    priced = client.patch(f"/api/v1/offers/{offer['id']}/", {"price_krw": 50_000}, format="json").json()
    assert priced["open_when_measured"] is True and priced["is_active"] is False
    closed = client.patch(f"/api/v1/offers/{offer['id']}/", {"is_active": False}, format="json").json()
    assert closed["open_when_measured"] is False and closed["risk_status"] == "measuring"
    _run(queued)
    offer = Offer.objects.get(pk=offer["id"])
    assert offer.risk_passes is True and offer.is_active is False  # closed as asked


def test_a_closed_offer_waiting_for_its_report_takes_no_request(
    login, curator, large, buyer, django_capture_on_commit_callbacks
):
    offer, _ = _create(login(curator), large, django_capture_on_commit_callbacks)
    analyst = factories.member(buyer, "analyst")
    asked = login(analyst).post(
        "/api/v1/requests/",
        {
            "offer": offer["id"],
            "fields": ["sigungu_code", "amount"],
            "purpose": "골목상권 매출 추이 분석",
            "purpose_category": "commercial",
            "accept_terms": True,
        },
        format="json",
    )
    assert asked.status_code in (400, 404, 409) and not Offer.objects.get(pk=offer["id"]).is_active


def test_a_small_version_is_still_measured_in_the_request(login, curator, center, settings):
    settings.RISK_INLINE_MAX_ROWS = 1000
    dataset = factories.published_dataset(center, with_data=True, row_count=300)
    answer = login(curator).post(f"/api/v1/datasets/{dataset.slug}/offers/", OFFER, format="json")
    offer = answer.json()
    assert (
        offer["risk_status"] == "measured"
        and offer["is_active"] is True
        and offer["risk_report"]["rows"] == 300
    )


def test_a_lost_measurement_is_queued_again(curator, large, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():  # queued, then lost with its worker
        offer = services.offer_create(actor=curator, dataset=large, **OFFER)
    assert risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM) == []  # not stuck yet
    long_ago = timezone.now() - timedelta(hours=2)
    Offer.objects.filter(pk=offer.pk).update(risk_measuring_since=long_ago, risk_heartbeat_at=timezone.now())
    assert risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM) == []  # slow, but heard from lately
    Offer.objects.filter(pk=offer.pk).update(risk_heartbeat_at=long_ago)
    from catalog import tasks

    assert tasks.sweep_stuck_risk_measurements() == 1  # queued again and run (eager)
    offer.refresh_from_db()
    assert offer.risk_status == "measured" and offer.is_active
    assert risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM) == []


def test_the_sweep_removes_the_work_directories_of_killed_spark_measurements(settings, tmp_path):
    """A measurement on Spark removes its copies however it ends; a worker killed mid-way
    leaves them, and the beat's sweep removes those older than the worker's hard time limit."""
    settings.WORK_DIR = tmp_path
    killed = tmp_path / f"{spark.RISK_WORK_PREFIX}killed"
    (killed / "__risk_rows").mkdir(parents=True)
    running = tmp_path / f"{spark.RISK_WORK_PREFIX}running"
    running.mkdir()
    other = tmp_path / "ingest-7-old"  # another job's: not the sweep's to remove
    other.mkdir()
    long_ago = time.time() - settings.RISK_MEASURE_TIME_LIMIT - 3600
    for path in (killed, other):
        os.utime(path, (long_ago, long_ago))
    assert risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM) == []
    assert not killed.exists() and running.exists() and other.exists()


def test_the_pages_say_it_is_being_measured(curator, large, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        offer = services.offer_create(actor=curator, dataset=large, **OFFER)
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(curator)
    form = client.get(f"/center/offers/{offer.pk}/").content.decode()
    assert "워커가 측정하고 있습니다" in form and "스스로 신청을 받기 시작합니다" in form
    assert '<progress max="100" value="0"' in form
    assert 'name="is_active" checked' in form.replace('id="id_is_active" ', "")  # the request to open stands
    listing = client.get(f"/center/datasets/{large.slug}/").content.decode()
    assert "위험 측정 중" in listing


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_measures_and_opens_it(login, curator, large, celery_worker_process):
    client = login(curator)
    answer = client.post(f"/api/v1/datasets/{large.slug}/offers/", OFFER, format="json")
    assert answer.status_code == 201 and answer.json()["risk_status"] == "measuring"
    url = f"/api/v1/offers/{answer.json()['id']}/"
    wait_until(lambda: client.get(url).json()["risk_status"] == "measured", timeout=60)
    assert client.get(url).json()["is_active"] is True
    # The worker then tells the center and e-mails it: the last of its work, awaited so that the
    # test's teardown does not empty the tables under it.
    from transactions.models import Notification

    told = Notification.objects.filter(recipient=curator, verb="offer_risk_opened", emailed_at__isnull=False)
    wait_until(told.exists, timeout=60)


def test_approvals_wait_while_a_new_version_is_measured(
    login, curator, center, buyer, settings, django_capture_on_commit_callbacks
):
    """A version published over an open offer is measured by a worker when large: the offer stays
    open (licenses and requests go on), but nothing is approved on the old version's report."""
    from tests.transactions.factories import submit

    dataset = factories.published_dataset(center, with_data=True, row_count=300)
    offer = services.offer_create(actor=curator, dataset=dataset, **OFFER)  # small: measured now
    request = submit(factories.member(buyer, "analyst"), offer)
    settings.RISK_INLINE_MAX_ROWS = 100
    with django_capture_on_commit_callbacks() as queued:
        services.offer_assess_risk(actor=SYSTEM, offer=offer)  # what publishing a version does
    offer.refresh_from_db()
    assert offer.is_active and offer.risk_status == "measuring"
    reviewer = login(factories.member(center, "reviewer"))
    refused = reviewer.post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert refused.status_code == 400 and "being measured" in refused.json()["errors"]["offer"][0]
    _run(queued)
    approved = reviewer.post(f"/api/v1/requests/{request.pk}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.content
    assert Offer.objects.get(pk=offer.pk).is_active


def _ask(client, offer_id: int):
    return client.post(
        "/api/v1/requests/",
        {
            "offer": offer_id,
            "fields": ["sigungu_code", "amount"],
            "purpose": "골목상권 매출 추이 분석",
            "purpose_category": "commercial",
            "accept_terms": True,
        },
        format="json",
    )


def test_an_automatic_offer_takes_no_request_it_could_not_approve(
    login, curator, center, buyer, settings, django_capture_on_commit_callbacks
):
    """Nobody reviews an automatic offer's requests: while its report is owed, or once a tighter
    threshold puts it above, a request is refused (nothing saved) instead of licensed."""
    from transactions.models import AccessRequest, License

    dataset = factories.published_dataset(center, with_data=True, row_count=300)
    offer = services.offer_create(actor=curator, dataset=dataset, approval="automatic", **OFFER)
    settings.RISK_INLINE_MAX_ROWS = 100
    with django_capture_on_commit_callbacks() as queued:
        services.offer_assess_risk(actor=SYSTEM, offer=offer)  # a large version was published
    analyst = login(factories.member(buyer, "analyst"))
    refused = _ask(analyst, offer.pk)
    assert refused.status_code == 409 and "being measured" in refused.json()["detail"]
    assert not AccessRequest.objects.exists()
    _run(queued)
    licensed = _ask(analyst, offer.pk)
    assert licensed.status_code == 201 and licensed.json()["state"] == "licensed"
    settings.RISK_THRESHOLD_DEFAULTS = STRICT  # the operator tightens the threshold
    other = login(
        factories.member(factories.OrganizationFactory(kind="buyer", buyer_category="sme"), "analyst")
    )
    above = _ask(other, offer.pk)
    assert above.status_code == 409 and "k-anonymity" in above.json()["detail"]
    assert License.objects.count() == 1


def test_progress_is_shown_and_a_superseded_measurement_stops(
    login, curator, large, django_capture_on_commit_callbacks, monkeypatch
):
    client = login(curator)
    offer, queued = _create(client, large, django_capture_on_commit_callbacks)
    assert offer["risk_progress"] == 0
    token = str(Offer.objects.get(pk=offer["id"]).risk_token)
    progress = risk_measurement._progress_writer(offer["id"], token)
    progress(0.3)
    assert client.get(f"/api/v1/offers/{offer['id']}/").json()["risk_progress"] == 30
    progress(0.2)  # never goes back
    assert Offer.objects.get(pk=offer["id"]).risk_progress == 30
    Offer.objects.filter(pk=offer["id"]).update(risk_heartbeat_at=None)
    progress(0.3)  # the same percent: no write within the heartbeat's interval
    assert Offer.objects.get(pk=offer["id"]).risk_heartbeat_at is None
    monkeypatch.setattr(risk_measurement, "HEARTBEAT", timedelta(0))  # the interval has passed
    progress(0.3)  # a long statement still running: the heartbeat is written
    assert Offer.objects.get(pk=offer["id"]).risk_heartbeat_at is not None
    assert Offer.objects.get(pk=offer["id"]).risk_progress == 30
    client.patch(f"/api/v1/offers/{offer['id']}/", {"fields": ["sigungu_code", "card_id"]}, format="json")
    with pytest.raises(risk_measurement.Superseded):
        progress(0.4)  # the running statement is interrupted here, minutes early on a large version
    assert Offer.objects.get(pk=offer["id"]).risk_progress == 0  # the new measurement's
    _run(queued)  # the first task finds its token gone at once
    assert Offer.objects.get(pk=offer["id"]).risk_token is not None


def test_the_offer_page_polls_the_measurement_until_it_is_done(
    curator, center, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        offer = services.offer_create(actor=curator, dataset=large, **OFFER)
    client = Client()
    client.force_login(curator)
    url = f"/center/offers/{offer.pk}/risk-status/"
    assert f'data-poll="{url}"' in client.get(f"/center/offers/{offer.pk}/").content.decode()
    assert client.get(url).json() == {"status": "measuring", "progress": 0, "done": False}
    outsider = Client()
    outsider.force_login(factories.member(factories.OrganizationFactory(kind="center"), "curator"))
    assert outsider.get(url).status_code == 404
    _run(queued)
    assert client.get(url).json() == {"status": "measured", "progress": 100, "done": True}
    assert "data-poll" not in client.get(f"/center/offers/{offer.pk}/").content.decode().split('id="risk"')[1]


def test_a_measurement_that_fails_on_the_data_says_so_and_can_be_started_again(
    login, curator, large, django_capture_on_commit_callbacks
):
    client = login(curator)
    offer, queued = _create(client, large, django_capture_on_commit_callbacks)
    good = _damage(large.current_version)
    _run(queued)
    failed = client.get(f"/api/v1/offers/{offer['id']}/").json()
    assert failed["risk_status"] == "failed" and failed["is_active"] is False
    page = Client(HTTP_ACCEPT_LANGUAGE="ko")
    page.force_login(curator)
    assert "재식별 위험을 측정하지 못했습니다" in page.get(f"/center/offers/{offer['id']}/").content.decode()
    DatasetVersion.objects.filter(pk=large.current_version_id).update(parquet=good)  # repaired
    with django_capture_on_commit_callbacks() as again:
        saved = client.patch(f"/api/v1/offers/{offer['id']}/", {"is_active": True}, format="json").json()
    assert saved["risk_status"] == "measuring" and saved["open_when_measured"] is True
    _run(again)
    assert client.get(f"/api/v1/offers/{offer['id']}/").json()["is_active"] is True


def test_a_measurement_past_the_time_limit_is_given_up_as_failed(
    curator, large, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The worker's soft time limit stops a measurement: the offer is "failed", not owed forever;
    one every try of which was killed outright is given up by the sweep."""
    from celery.exceptions import SoftTimeLimitExceeded

    from catalog import tasks

    with django_capture_on_commit_callbacks():
        first = services.offer_create(actor=curator, dataset=large, **OFFER)
        second = services.offer_create(actor=curator, dataset=large, **{**OFFER, "name": "두 번째"})

    def too_long(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(risk_measurement, "offer_risk_measure", too_long)
    assert tasks.measure_offer_risk(first.pk, str(first.risk_token)) == "measured"
    first.refresh_from_db()
    assert first.risk_status == "failed" and not first.is_active and first.risk_token is None

    long_ago = timezone.now() - 2 * timedelta(seconds=settings.RISK_MEASURE_TIME_LIMIT) - timedelta(hours=1)
    Offer.objects.filter(pk=second.pk).update(risk_measuring_since=long_ago, risk_heartbeat_at=long_ago)
    assert risk_measurement.offers_requeue_stuck_risk(actor=SYSTEM) == []  # given up, not queued again
    second.refresh_from_db()
    assert second.risk_status == "failed" and second.risk_token is None


@pytest.mark.parametrize(
    "strict,damaged,verb",
    [
        (False, False, "offer_risk_opened"),
        (True, False, "offer_risk_above"),
        (False, True, "offer_risk_failed"),
    ],
)
def test_the_center_is_told_how_a_measurement_ended(
    login, curator, center, large, settings, django_capture_on_commit_callbacks, strict, damaged, verb
):
    from django.core import mail

    from transactions.models import Notification

    manager = factories.member(center, "manager")
    outsider = factories.member(factories.OrganizationFactory(kind="center"), "manager")
    if strict:
        settings.RISK_THRESHOLD_DEFAULTS = STRICT
    offer, queued = _create(login(curator), large, django_capture_on_commit_callbacks)
    if damaged:
        _damage(large.current_version)
    with django_capture_on_commit_callbacks(execute=True):
        _run(queued)  # the worker's run, then what it announced on commit
    told = Notification.objects.filter(verb=verb)
    assert {n.recipient_id for n in told} == {curator.pk, manager.pk}  # not the other center
    assert not Notification.objects.filter(recipient=outsider).exists()
    assert all(n.url == f"/center/offers/{offer['id']}/" for n in told)
    assert len(mail.outbox) == 2 and f"/center/offers/{offer['id']}/" in mail.outbox[0].body
    page = Client(HTTP_ACCEPT_LANGUAGE="ko")
    page.force_login(manager)
    listing = page.get("/notifications/").content.decode()
    assert "건별 결제 내역" in listing

"""Risk reports of record offers measured on Spark through Spark Connect (issue 16): a version
too large for one worker has its offers' re-identification risk (k-anonymity, sample
uniqueness, trajectory unicity, cross-license linkage) measured by Spark, and the report is
DuckDB's, measure for measure, over the demo's card payments partitioned by month and 시·군.
A real Spark Connect server (local[2])."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from celery.exceptions import Retry

from catalog import privacy, risk, risk_reports, selectors, spark
from catalog import services as catalog_services
from catalog.models import Offer
from catalog.policy import OfferPolicy
from catalog.services import risk_measurement
from marketplace.duckdb import connect
from tests import factories
from tests.services import free_port

pytestmark = pytest.mark.django_db

FIELDS = ["approved_at", "sigungu_code", "industry", "card_id", "merchant_id", "amount", "age_band", "sex"]
OFFER = factories.RECORD_OFFER


@pytest.fixture
def cards(center, tmp_path, django_capture_on_commit_callbacks):
    """The demo's card payments (6,000 rows over 12 months) ingested as a version partitioned
    by month and 시·군, its card and merchant numbers identifiers, published."""
    curator = factories.member(center, "curator")
    version = factories.demo_cards_version(
        curator, center, tmp_path, django_capture_on_commit_callbacks, rows=6_000, seed=11
    )
    changes = [{"name": n, "sensitivity": "identifier"} for n in ("transaction_id", "card_id", "merchant_id")]
    catalog_services.version_fields_update(actor=curator, version=version, changes=changes)
    catalog_services.version_publish(actor=curator, version=version)
    return curator, version


def _schema(version) -> list[privacy.Column]:
    return [privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()]


def _policy(**changes) -> OfferPolicy:
    snapshot = factories.OfferFactory.build(fields=FIELDS, date_field="approved_at").policy.to_snapshot()
    return OfferPolicy.from_snapshot({**snapshot, "subject_field": "card_id", **changes})


def _on_duckdb(version, policy) -> risk.RiskReport:
    con = connect()
    try:
        files = selectors.version_files(version)
        return risk.assess_policy(con, parquet=files, schema=_schema(version), policy=policy)
    finally:
        con.close()


def _on_spark(version, policy, progress=None) -> risk.RiskReport:
    return spark.risk_report(selectors.version_files(version), _schema(version), policy, progress=progress)


@pytest.mark.parametrize(
    "treatments",
    [
        {},
        {"sample_percent": 60, "time_unit": "week", "pseudonym_period": "month", "suppress_k": 3},
    ],
    ids=["untreated", "sampled-and-suppressed"],
)
def test_spark_measures_the_same_report_as_duckdb(cards, treatments, spark_remote, settings, monkeypatch):
    """Every measure, exactly: the same classes, uniques, subjects, the same subjects and points
    drawn for unicity (fewer targets than subjects, so the draw itself is compared) and the same
    subjects linked across two licenses' files."""
    settings.SPARK_REMOTE = spark_remote
    monkeypatch.setattr(risk, "MAX_SUBJECTS", 50)
    _curator, version = cards
    coarse = {"fields": ["approved_at", "sigungu_code", "card_id", "merchant_id"]}  # classes of k or more
    policy = _policy(
        treatments=treatments, sample_by="values", **(coarse if "suppress_k" in treatments else {})
    )
    expected = _on_duckdb(version, policy)
    assert expected.rows > 0 and expected.classes > 1 and expected.linkage is not None
    assert expected.evaluated["1"] == 50 < expected.subjects  # a draw, not every subject
    assert expected.unicity["1"] is not None
    if treatments:  # some cards singled out, some not: which ones were drawn shows in the shares
        assert 0 < expected.unicity["1"] < 1
    measured = _on_spark(version, policy)
    assert measured.to_dict() == expected.to_dict()
    if not treatments:  # not vacuous: raw payments are unique rows, their cards linked and singled out
        assert measured.k_anonymity == 1 and measured.sample_uniqueness > 0.9
        assert measured.linkage > 0.9 and measured.unicity["2"] > 0.5


def test_progress_is_reported_and_what_it_raises_stops_the_measurement(cards, spark_remote, settings):
    settings.SPARK_REMOTE = spark_remote
    _curator, version = cards
    seen: list[float] = []

    class Stop(Exception):
        pass

    def stop_at_second_copy(fraction: float) -> None:
        seen.append(fraction)
        if fraction >= 0.5:
            raise Stop

    with pytest.raises(Stop):  # the caller's own exception, not a Spark failure
        _on_spark(version, _policy(treatments={}), progress=stop_at_second_copy)
    assert seen[0] == 0.0 and 0.45 in seen and seen[-1] == 0.5  # the first copy, then stopped
    assert not list(Path(settings.WORK_DIR).glob(f"{spark.RISK_WORK_PREFIX}*"))  # its copies removed


def test_a_worker_measures_a_large_version_on_spark(
    login, cards, spark_remote, settings, django_capture_on_commit_callbacks, caplog
):
    """Through the API, as a center saves an offer: the version is above SPARK_MIN_SCAN_BYTES,
    so the worker's measurement runs on Spark, and the stored report is DuckDB's."""
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES, settings.RISK_INLINE_MAX_ROWS = spark_remote, 1, 0
    curator, version = cards
    client = login(curator)
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(f"/api/v1/datasets/{version.dataset.slug}/offers/", OFFER, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["risk_status"] == "measuring"
    with caplog.at_level(logging.INFO, logger="catalog.risk_reports"):
        for callback in queued:  # what the broker does with the task queued on commit
            callback()
    assert "measured on Spark" in caplog.text
    offer = Offer.objects.get(pk=answer.json()["id"])
    assert offer.risk_token is None
    assert offer.risk_report == _on_duckdb(version, offer.policy).to_dict()
    shown = client.get(f"/api/v1/offers/{offer.pk}/").json()
    assert shown["risk_status"] == "measured" and shown["risk_report"]["linkage"] > 0.9


def test_a_version_spark_cannot_read_ends_the_measurement_failed(
    login, cards, spark_remote, settings, django_capture_on_commit_callbacks, caplog
):
    """As when DuckDB fails on the data: the offer stays closed, its status "failed", and no
    work directory is left behind."""
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES, settings.RISK_INLINE_MAX_ROWS = spark_remote, 1, 0
    curator, version = cards
    damaged = Path(selectors.version_files(version)[0])
    damaged.write_bytes(b"not a parquet file" * 100)  # this test's own copy in storage
    client = login(curator)
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(f"/api/v1/datasets/{version.dataset.slug}/offers/", OFFER, format="json")
    with caplog.at_level(logging.INFO):
        for callback in queued:
            callback()
    assert "measured on Spark" in caplog.text and "not measured: SparkException" in caplog.text
    failed = client.get(f"/api/v1/offers/{answer.json()['id']}/").json()
    assert failed["risk_status"] == "failed" and failed["is_active"] is False
    assert not list(Path(settings.WORK_DIR).glob(f"{spark.RISK_WORK_PREFIX}*"))


def test_a_spark_server_lost_in_the_middle_is_measured_again(
    login, cards, own_spark_server, settings, django_capture_on_commit_callbacks, caplog, monkeypatch
):
    """The server dies once Spark has written the first treated copy: the worker's task is
    tried again (at once here, as eager tasks retry; after a backoff on a worker), the server
    no longer answers, so DuckDB measures it. The offer gets DuckDB's report, not a task lost
    until the hourly sweep, and the lost attempt leaves no work directory."""
    server, remote = own_spark_server
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES, settings.RISK_INLINE_MAX_ROWS = remote, 1, 0
    settings.SPARK_CONNECT_RETRIES = 0  # the client gives up on a lost server at once
    writer = risk_measurement._progress_writer

    def losing_the_server(offer_id: int, token: str):
        progress = writer(offer_id, token)

        def report(fraction: float) -> None:
            if fraction >= 0.45 and server.poll() is None:  # the first copy written
                server.kill()
                server.wait()
            progress(fraction)

        return report

    monkeypatch.setattr(risk_measurement, "_progress_writer", losing_the_server)
    curator, version = cards
    client = login(curator)
    with django_capture_on_commit_callbacks() as queued:
        answer = client.post(f"/api/v1/datasets/{version.dataset.slug}/offers/", OFFER, format="json")
    assert answer.status_code == 201, answer.content
    with caplog.at_level(logging.INFO, logger="catalog.risk_reports"):
        retried = []
        for callback in queued:
            try:
                callback()
            except Retry as again:  # eager tasks raise what a worker would queue again
                retried.append(again)
        assert server.poll() is not None  # it did die in the middle
        (again,) = retried
        assert isinstance(again.exc, ConnectionError) and again.when > 0  # after a backoff
        again.sig.apply()  # what the worker runs when the backoff is over
    assert "measured on Spark" in caplog.text and "the risk is measured on DuckDB" in caplog.text
    offer = Offer.objects.get(pk=answer.json()["id"])
    assert offer.risk_token is None
    assert offer.risk_report == _on_duckdb(version, offer.policy).to_dict()
    assert client.get(f"/api/v1/offers/{offer.pk}/").json()["risk_status"] == "measured"
    assert not list(Path(settings.WORK_DIR).glob(f"{spark.RISK_WORK_PREFIX}*"))


def test_without_an_answering_spark_server_duckdb_measures_it(cards, settings, caplog):
    settings.SPARK_REMOTE, settings.SPARK_MIN_SCAN_BYTES = f"sc://127.0.0.1:{free_port()}", 1
    _curator, version = cards
    policy = _policy(treatments={"time_unit": "day"})
    with caplog.at_level(logging.WARNING, logger="catalog.risk_reports"):
        report = risk_reports.report_for(policy, version)
    assert "does not answer" in caplog.text
    assert report == _on_duckdb(version, policy)


def test_a_single_file_version_is_sampled_alike_on_both_engines(center, spark_remote, settings):
    """A version of one file (no partitions): a sample by the row's place draws from its row
    number alone on both engines (with several files, from the file's place too), so the rows
    measured on Spark are the rows DuckDB measures."""
    settings.SPARK_REMOTE = spark_remote
    version = factories.published_dataset(center, with_data=True, row_count=3000).versions.get()
    assert isinstance(selectors.version_files(version), str)
    fields = ["approved_at", "sigungu_code", "industry", "card_id", "amount"]
    policy = _policy(fields=fields, treatments={"sample_percent": 50}, sample_by="position")
    expected = _on_duckdb(version, policy)
    assert 1300 < expected.rows < 1700 and expected.linkage is not None
    assert _on_spark(version, policy).to_dict() == expected.to_dict()

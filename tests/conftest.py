from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests import factories
from tests.services import answers, broker_is_redis, free_port, redis_reachable

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With REQUIRE_SERVICES=1 (CI), a test that skips because a service is missing fails."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_SERVICES=1 but the test skipped: {reason}"


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = settings.CELERY_BROKER_URL.split(":", 1)[0]
    return f"jangteo: database={db} broker={broker} REQUIRE_SERVICES={int(REQUIRE_SERVICES)}"


def english_client() -> APIClient:
    """API clients ask for English, so assertions read plainly; Korean (the site default) is
    tested by asking for it."""
    client = APIClient()
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture(autouse=True)
def _english():
    """Each test starts in English, whatever ran before it in the same thread: a request leaves
    its language active, so without this a test that reads a message passed or failed by the
    order of the tests (the site's default language is Korean). Tests of Korean ask for it."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (the catalog caches anonymous list pages)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _own_released_cache(settings, tmp_path):
    """Each test has its own cache of protected tables (catalog/released_cache.py), so a
    table one test kept is never what another reads."""
    settings.RELEASED_CACHE_DIR = str(tmp_path / "released-cache")


@pytest.fixture
def api():
    return english_client()


@pytest.fixture
def login(api):
    """`login(user)` → an APIClient authenticated as `user` through a real API token."""

    def _login(user):
        client = english_client()
        response = client.post("/api/v1/auth/token/", {"email": user.email, "password": factories.PASSWORD})
        assert response.status_code == 200, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        return client

    return _login


@pytest.fixture
def operator_org(db):
    return factories.OrganizationFactory(kind="operator", name="장터 운영팀", buyer_category="")


@pytest.fixture
def operator(operator_org):
    return factories.member(operator_org, "operator", email="operator@example.kr")


@pytest.fixture
def center(db):
    return factories.OrganizationFactory(kind="center", name="경기지역화폐 운영센터", buyer_category="")


@pytest.fixture
def buyer(db):
    return factories.OrganizationFactory(kind="buyer", name="골목카페", buyer_category="sme")


@pytest.fixture(scope="session", autouse=True)
def _fresh_storage():
    """Each test session starts with empty storage. A fresh test database numbers its rows from
    1 again, so a file an earlier session left under `datasets/<id>/…` would pass for one of
    this session's (a file run alone after the suite failed on exactly that)."""
    media = Path(settings.MEDIA_ROOT)
    if media.is_relative_to(Path(settings.VAR_DIR)):  # only the tests' own storage
        shutil.rmtree(media, ignore_errors=True)
    media.mkdir(parents=True, exist_ok=True)


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker):
    """One real `celery worker` process for the session, on the configured broker, sharing the
    test database (started once: a worker takes seconds to boot)."""
    from django.conf import settings

    from config.celery import app

    if broker_is_redis() and not redis_reachable():
        pytest.skip("Redis broker is configured but not reachable")
    with django_db_blocker.unblock():
        database_url = _database_url()
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(REPO),
    }
    log_dir = Path(settings.VAR_DIR) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{os.getpid()}-{time.time_ns()}.log"
    _purge_broker(app, settings)
    proc = _started(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        log_path,
        ready=b" ready.",
        seconds=60,
        what="the Celery worker",
        cwd=REPO,
        env=worker_env,
    )
    proc.log_path = log_path
    try:
        yield proc
    finally:
        _stopped(proc, seconds=20)


def _started(command: list[str], log_path: Path, *, ready: bytes, seconds: float, what: str, **popen):
    """A server process started with its output in `log_path`, once the log shows `ready`; the
    test fails with the log's end if it exits or is not ready within `seconds`."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
    deadline = time.monotonic() + seconds
    while ready not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc


def _stopped(proc: subprocess.Popen, *, seconds: float) -> None:
    """Terminate `proc`; kill it if it has not exited within `seconds`."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _purge_broker(app, settings) -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(settings.BROKER_DIR / "queue", ignore_errors=True)
        (settings.BROKER_DIR / "queue").mkdir(parents=True)
    else:
        app.control.purge()


@pytest.fixture
def celery_worker_process(celery_worker_session, transactional_db):
    """The session's real worker, for a test whose work must go through the broker (no eager
    execution); the database is committed so the worker sees it."""
    from config.celery import app

    if celery_worker_session.poll() is not None:
        pytest.fail(
            f"the Celery worker died:\n{celery_worker_session.log_path.read_text(errors='replace')[-3000:]}"
        )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield celery_worker_session
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture(scope="session")
def s3_server():
    """The S3 server the import tests talk to over HTTP: a moto server started here, in-process,
    or the one CI started (S3_TEST_ENDPOINT_URL), which must answer."""
    from urllib.parse import urlsplit

    endpoint = urlsplit(settings.IMPORT_S3_ENDPOINT_URL)
    if not settings.S3_TEST_SERVER_IN_PROCESS:
        if not answers(endpoint.hostname, endpoint.port):
            pytest.skip(f"no S3 server answers at {settings.IMPORT_S3_ENDPOINT_URL}")
        yield settings.IMPORT_S3_ENDPOINT_URL
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address=endpoint.hostname, port=endpoint.port, verbose=False)
    server.start()
    try:
        yield settings.IMPORT_S3_ENDPOINT_URL
    finally:
        server.stop()


class ImportBucket:
    """The import bucket, emptied for the test; `put` stores a file under a center's prefix."""

    def __init__(self, client):
        self.client = client

    def uri(self, center, name: str) -> str:
        from catalog import import_store

        return import_store.center_uri(center.pk) + name

    def put(self, center, name: str, data: bytes | str) -> str:
        from catalog import import_store

        body = data.encode() if isinstance(data, str) else data
        key = import_store.center_prefix(center.pk) + name
        self.client.put_object(Bucket=settings.IMPORT_BUCKET, Key=key, Body=body)
        return self.uri(center, name)


@pytest.fixture
def import_bucket(s3_server):
    from catalog import import_store

    client = import_store.client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=settings.IMPORT_BUCKET)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.IMPORT_BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=settings.IMPORT_BUCKET, Key=item["Key"])
    return ImportBucket(client)


@pytest.fixture(scope="session")
def spark_remote():
    """A Spark Connect server for the Spark engine's tests: CI's (SPARK_TEST_REMOTE, started by
    .ci/run), else one started here from the pyspark package in local[2] mode (it needs Java;
    about 20 s to start)."""
    from urllib.parse import urlsplit

    remote = os.environ.get("SPARK_TEST_REMOTE")
    if remote:
        where = urlsplit(remote.replace("sc://", "http://"))
        if not answers(where.hostname, where.port):
            pytest.skip(f"no Spark Connect server answers at {remote}")
        yield remote
        return
    proc, remote = start_spark_connect("session")
    try:
        yield remote
    finally:
        _stopped(proc, seconds=30)


@pytest.fixture
def own_spark_server():
    """A Spark Connect server of the test's own, which it may kill: (its process, its address)."""
    proc, remote = start_spark_connect("own")
    try:
        yield proc, remote
    finally:
        _stopped(proc, seconds=30)


def start_spark_connect(name: str) -> tuple[subprocess.Popen, str]:
    """A Spark Connect server of the caller's own (local[2], from the pyspark package; it needs
    Java), started and answering: its process and its `sc://` address; the caller stops it."""
    if not shutil.which("java"):
        pytest.skip("Java is not installed (apt-get install openjdk-17-jre-headless)")
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed")
    home = Path(pyspark.__file__).parent
    port = free_port()
    log_path = Path(settings.VAR_DIR) / "logs" / f"spark-connect-{os.getpid()}-{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = _started(
        [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.driver.memory=1g",
            "--conf",
            "spark.ui.enabled=false",
            "spark-internal",
        ],
        log_path,
        ready=b"Spark Connect server started",
        seconds=180,
        what="Spark Connect",
        env={**os.environ, "SPARK_HOME": str(home)},
    )
    return proc, f"sc://127.0.0.1:{port}"

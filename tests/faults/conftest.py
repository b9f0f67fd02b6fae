"""Fault injection (issue 8, "Faults"): real `celery worker` processes on PostgreSQL and Redis,
which the tests SIGKILL, cut off from the database, starve of disk space or feed a poison job.

Each test starts its own workers on a queue of its own (so the session's worker in
tests/conftest.py, which consumes the default queue, never takes a job meant for a worker that
is about to be killed), reads the job rows in the test database and prints a table of its
numbers (jobs queued / completed / recovered / duplicated / failed) into the test output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.actors import SYSTEM
from tests.services import broker_is_redis, database_is_postgres, redis_reachable

REPO = Path(__file__).resolve().parents[2]
# One queue per pytest session: nothing left over by an earlier run (a message a killed worker
# never acknowledged comes back after Redis' visibility timeout) can reach these workers.
QUEUE = f"jangteo-faults-{os.getpid()}-{time.time_ns() % 10**9}"
# The workers' PostgreSQL sessions carry this name, so a test can terminate exactly them.
WORKER_APPLICATION_NAME = f"jangteo-faults-worker-{os.getpid()}"
REDIS_SERVER_COMMAND = [
    "redis-server",
    "--daemonize", "yes",
    "--bind", "127.0.0.1", "-::1",
    "--port", "6379",
    "--save", "",
    "--appendonly", "no",
    "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def require_services() -> None:
    """Skip unless the run has PostgreSQL and a reachable Redis (REQUIRE_SERVICES=1 turns the
    skip into a failure, see tests/conftest.py)."""
    if not database_is_postgres():
        pytest.skip("fault tests need PostgreSQL (DATABASE_URL)")
    if not broker_is_redis():
        pytest.skip("fault tests need Redis (CELERY_BROKER_URL)")
    if not redis_reachable():
        pytest.skip("CELERY_BROKER_URL points at Redis, but it does not answer")


def redis_client():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)


def _test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return (
        f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        f"?application_name={WORKER_APPLICATION_NAME}"
    )


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Worker:
    """One `celery worker` (prefork) in a process group of its own, consuming QUEUE."""

    def __init__(self, name: str, env: dict, log_path: Path, concurrency: int):
        self.name, self.env, self.log_path, self.concurrency = name, env, log_path, concurrency
        self.proc: subprocess.Popen | None = None

    def launch(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "config", "worker",
                    "--loglevel=INFO", f"--concurrency={self.concurrency}", "--pool=prefork",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-Q", QUEUE, "-n", f"{self.name}-{os.getpid()}@%h",
                ],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def ready(self, timeout: float = 120) -> Worker:
        """Wait until the worker consumes (it takes seconds to boot) with its whole pool."""
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log_path.read_bytes() or len(self.children()) < self.concurrency:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"worker {self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        return _children(self.pid) if self.alive() else []

    def kill_child(self) -> int:
        """SIGKILL the pool process running the job (the main process lives on, sees the loss,
        puts the message back on the queue — reject_on_worker_lost — and starts a new child)."""
        assert self.concurrency == 1, "with one pool process, the one running the job"
        (child,) = wait_for(self.children, timeout=30)
        os.kill(child, signal.SIGKILL)
        return child

    def kill(self) -> None:
        """SIGKILL the whole worker, main process and pool (a lost machine): its unacknowledged
        message stays with Redis until the visibility timeout."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def consumes(self, timeout: float = 60) -> Worker:
        """Prove the worker takes messages from the queue: a probe task sent now must come back
        done. Messages queued before it would have reached the worker first, so "nothing
        arrived" asserted after this means something, where a worker not yet consuming (or
        consuming another queue) would make it pass trivially."""
        from marketplace.tasks import worker_heartbeat

        probes = self.log().count("marketplace.tasks.worker_heartbeat[")
        worker_heartbeat.apply_async(queue=QUEUE)
        # Two lines per task: "Task … received" and "Task … succeeded".
        self.wait_for_log("marketplace.tasks.worker_heartbeat[", count=probes + 2, timeout=timeout)
        return self

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name}: no {text!r} (x{count}) in:\n{self.log()[-3000:]}")
            time.sleep(0.1)


@dataclass
class Faults:
    """What a fault test works with: private directories, workers on its own queue, the queue's
    length in Redis and a printer for its numbers."""

    root: Path
    capsys: pytest.CaptureFixture
    database_url: str
    workers: list[Worker] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def duckdb_temp_dir(self) -> Path:
        return self.root / "duckdb"

    def worker(self, name: str, *, concurrency: int = 1, wait: bool = True, **env: str) -> Worker:
        """Start a worker; `env` overrides its environment (e.g. JANGTEO_WORK_DIR). With
        `wait=False` the test sets up its data meanwhile and calls `.ready()` later."""
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONPATH": str(REPO),
            "JANGTEO_WORK_DIR": str(self.work_dir),
            "DUCKDB_TEMP_DIR": str(self.duckdb_temp_dir),
            "DUCKDB_THREADS": "1",
            **env,
        }
        log_path = self.root / f"worker-{name}-{len(self.workers)}.log"
        worker = Worker(name, worker_env, log_path, concurrency)
        self.workers.append(worker)
        worker.launch()
        return worker.ready() if wait else worker

    def queue_length(self) -> int:
        return redis_client().llen(QUEUE)

    def report(self, title: str, *, notes: str = "", **numbers: int) -> None:
        """Print one table into the test output, whatever pytest's capture setting."""
        seconds = time.monotonic() - self.started
        names = [*numbers, "seconds"]
        values = [f"{v:,}" for v in numbers.values()] + [f"{seconds:.1f}"]
        widths = [max(len(n), len(v)) for n, v in zip(names, values)]
        lines = [
            "",
            f"── faults: {title} " + "─" * max(0, 60 - len(title)),
            "   " + "  ".join(n.rjust(w) for n, w in zip(names, widths)),
            "   " + "  ".join(v.rjust(w) for v, w in zip(values, widths)),
        ]
        lines += [f"   {line}" for line in notes.splitlines() if line]
        with self.capsys.disabled():
            print("\n".join(lines), flush=True)


def _forget_queue() -> None:
    """Drop this session's queue and the messages killed workers left unacknowledged in it, so
    Redis does not deliver them again hours later (kombu's Redis transport keeps them in the
    `unacked` hash, keyed by delivery tag, as [message, exchange, routing key])."""
    import json

    try:
        client = redis_client()
        client.delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")
        for tag, raw in client.hscan_iter("unacked"):
            try:
                _message, _exchange, routing_key = json.loads(raw)
            except (ValueError, TypeError):
                continue
            if routing_key == QUEUE:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    except Exception:  # tidying up must not hide the test's own outcome
        pass


@pytest.fixture
def faults(transactional_db, monkeypatch, tmp_path, settings, capsys):
    """Real workers for one test, on this session's own queue; jobs the services queue (through
    `transaction.on_commit`) go there too. Every worker is SIGKILLed at the end."""
    from catalog import services as catalog_services
    from catalog.tasks import ingest_version
    from config.celery import app
    from transactions.services import extracts as extract_services
    from transactions.tasks import build_extract

    require_services()
    monkeypatch.setattr(
        extract_services, "_enqueue", lambda pk: build_extract.apply_async((pk,), queue=QUEUE)
    )
    monkeypatch.setattr(
        catalog_services, "_enqueue_ingestion", lambda pk: ingest_version.apply_async((pk,), queue=QUEUE)
    )
    previous_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    root = tmp_path / "faults"
    root.mkdir()
    settings.WORK_DIR = root / "work"  # the sweeps (run here) tidy the workers' work directory
    faults = Faults(root=root, capsys=capsys, database_url=_test_database_url())
    try:
        yield faults
    finally:
        for worker in faults.workers:
            worker.kill()
        app.conf.task_always_eager = previous_eager
        _forget_queue()


def wait_for(predicate: Callable, *, timeout: float = 60, interval: float = 0.05, message=None):
    """Poll until `predicate()` is truthy and return it; on timeout fail with `message` (a
    string, or a callable giving one then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text or predicate}")
        time.sleep(interval)


def redis_is_local() -> bool:
    url = urlsplit(settings.CELERY_BROKER_URL)
    return url.hostname in ("127.0.0.1", "localhost") and (url.port or 6379) == 6379


def redis_answers() -> bool:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"], capture_output=True, text=True, timeout=10
    )
    return result.stdout.strip() == "PONG"


def start_redis() -> None:
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(REDIS_SERVER_COMMAND, check=True, capture_output=True, timeout=30)
    wait_for(redis_answers, timeout=30, interval=0.2, message="Redis did not come back")


def restart_redis() -> None:
    """Stop the local Redis without saving (it keeps nothing on disk here: every queued message
    is gone) and start it again with CI's command line. Other runs using this Redis (other
    database numbers) see a short outage."""
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=30
    )
    wait_for(lambda: not redis_answers(), timeout=30, interval=0.1, message="Redis did not stop")
    start_redis()


# --- scenarios: a licensed extract, an uploaded file, the sweeps, the checks -----------------

RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]
FULL_SCOPE = {"fields": RECORDS, "regions": [], "date_from": None, "date_to": None}
# Past every deadline the sweeps use: a sweep run this much later finds a lost job stuck.
LATER = timedelta(days=1)


@pytest.fixture
def world(operator_org, operator, center, buyer):
    from tests.transactions.factories import make_world

    return make_world(operator_org, operator, center, buyer)


def license_with_extract(world, dataset, *, offer=None):
    """A buyer's license on `dataset` (an automatic offer) and the extract its issue queued."""
    from catalog.models import Offer
    from tests import factories
    from tests.transactions.factories import submit
    from transactions.models import License

    offer = offer or factories.OfferFactory(
        dataset=dataset, fields=RECORDS, approval=Offer.Approval.AUTOMATIC
    )
    request = submit(world.buyer_analyst, offer, scope=FULL_SCOPE)
    license = License.objects.get(access_request=request)
    return license, license.extracts.get()


def sweep_extracts(*, later: timedelta = LATER) -> list[int]:
    """What beat's transactions.tasks.sweep_stuck_extracts does, run `later` from now (the
    deadlines are minutes to hours long): re-queue the lost jobs, fail the hopeless ones."""
    from django.conf import settings
    from django.utils import translation

    from transactions.services import extracts

    # Beat runs it in a worker, where no request has activated another language.
    with translation.override(settings.LANGUAGE_CODE):
        ids = extracts.extracts_requeue_stuck(actor=SYSTEM, now=timezone.now() + later)
    for pk in ids:
        extracts._enqueue(pk)
    return ids


def sweep_versions(*, later: timedelta = LATER) -> list[int]:
    """What beat's catalog.tasks.sweep_stuck_versions does, run `later` from now."""
    from django.conf import settings
    from django.utils import translation

    from catalog import services

    with translation.override(settings.LANGUAGE_CODE):
        ids = services.versions_requeue_stuck(actor=SYSTEM, now=timezone.now() + later)
    for pk in ids:
        services._enqueue_ingestion(pk)
    return ids


def files_under(path: Path) -> list[str]:
    """Every file and directory below `path` (relative names, directories ending in /); [] when
    it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) + ("/" if p.is_dir() else "") for p in path.rglob("*"))


def storage_files(prefix: str) -> list[str]:
    from django.core.files.storage import default_storage

    return [name for name in files_under(Path(default_storage.path(prefix))) if not name.endswith("/")]


def audit_count(verb: str, target) -> int:
    from marketplace.models import AuditEvent

    return AuditEvent.objects.filter(
        verb=verb, target_type=target._meta.label_lower, target_id=str(target.pk)
    ).count()


def extract_effects(extract) -> dict[str, int]:
    """How many times each effect of building `extract` happened: files in its storage folder,
    `built` audit events, notifications to one person; then the buyer downloads it once, and
    the downloads counted and recorded. Fails unless it succeeded with its bundle complete
    in storage (the recorded file, its sha256 matching)."""
    from django.core.files.storage import default_storage
    from django.db.models import Count

    from catalog.storage import sha256_of
    from transactions.models import DownloadEvent, Notification
    from transactions.services import extracts as services

    extract.refresh_from_db()
    assert extract.status == "succeeded", extract.error
    files = storage_files(f"extracts/{extract.license_id}/{extract.pk}")
    assert Path(extract.file).name in files
    assert sha256_of(Path(default_storage.path(extract.file))) == extract.bundle_sha256, "a complete bundle"
    notices = Notification.objects.filter(verb="extract_ready", license=extract.license)
    per_person = notices.values("recipient").annotate(n=Count("id")).values_list("n", flat=True)
    token, _expires = services.extract_download_link(
        actor=extract.license.access_request.requester, extract=extract
    )
    services.extract_download(actor=SYSTEM, token=token)
    extract.license.refresh_from_db()
    return {
        "files": len(files),
        "built_events": audit_count("transactions.extract.built", extract),
        "notifications_per_person": max(per_person, default=0),
        "downloads_counted": extract.license.downloads_used,
        "download_events": DownloadEvent.objects.filter(extract_id=extract.pk).count(),
    }


def once(effects: dict[str, int]) -> dict[str, int]:
    return dict.fromkeys(effects, 1)


def duplicated(effects: dict[str, int]) -> int:
    """Effects that happened more than once (what a job run twice would show)."""
    return sum(n - 1 for n in effects.values() if n > 1)


def write_card_csv(path: Path, *, rows: int) -> Path:
    """A CSV upload of `rows` card payments (Korean headers, as centers send them)."""
    import duckdb

    duckdb.execute(
        f"""COPY (SELECT 'T' || lpad(i::VARCHAR, 8, '0') AS 거래번호,
                   (['41110', '41130', '41150'])[1 + i % 3] AS 시군코드,
                   (['카페', '한식 음식점', '편의점'])[1 + (i // 3) % 3] AS 업종,
                   'C' || lpad((i % 9973)::VARCHAR, 6, '0') AS 카드번호,
                   (1000 + (i % 977) * 10)::BIGINT AS 금액,
                   DATE '2024-01-01' + (i % 180)::INTEGER AS 결제일
                FROM range({int(rows)}) t(i)) TO '{path}' (FORMAT csv, HEADER true)"""
    )
    return path


CSV_COLUMNS = 6


def upload(curator, dataset, path: Path):
    """Upload `path` as a new version through the service (its ingestion is queued on commit)."""
    from django.core.files import File

    from catalog import services

    with open(path, "rb") as f:
        return services.version_upload(actor=curator, dataset=dataset, file=File(f, name="결제.csv"))


def version_effects(version) -> dict[str, int]:
    """How many times each effect of ingesting `version` happened: files in its storage folder,
    fields of one name, `ingested` audit events. Fails unless it is ready with its Parquet file
    complete in storage (the recorded file, its sha256 matching)."""
    from django.core.files.storage import default_storage
    from django.db.models import Count

    from catalog.storage import sha256_of

    version.refresh_from_db()
    assert version.status == "ready", version.error
    files = storage_files(f"datasets/{version.dataset_id}/versions/{version.number}")
    assert Path(version.parquet).name in files
    assert sha256_of(Path(default_storage.path(version.parquet))) == version.parquet_sha256, "a complete file"
    per_name = version.fields.values("name").annotate(n=Count("id")).values_list("n", flat=True)
    assert len(per_name) == CSV_COLUMNS
    return {
        "files": len(files),
        "fields_per_column": max(per_name),
        "ingested_events": audit_count("catalog.version.ingested", version),
    }

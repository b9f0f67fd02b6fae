"""Load test: gunicorn on PostgreSQL with 10,000 datasets, concurrent clients browsing,
searching and reading dataset pages on loopback; the same clients against a trivial endpoint
(/healthz) in the same run as the ceiling.

    .venv/bin/python bench/load.py [--datasets 10000] [--clients 50] [--seconds 60]
        [--workers 3] [--threads 8] [--cache-url redis://127.0.0.1:6379/9 | memory]

Clients browse as people do (see `pick_request`). The service runs as deployed (README,
Deployment): gunicorn, PostgreSQL and a shared Redis cache (--cache-url, emptied before the run;
`memory` for the per-process cache of the embedded defaults), and a process does beat's work of
writing the buffered dataset views every 30 s (catalog/view_log.py). Needs PostgreSQL (LOAD_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/jangteo_load;
the database is created if missing). Traffic goes to 127.0.0.1 only, bounded in time."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()
WORDS = [
    "지역화폐",
    "카드",
    "기업",
    "일자리",
    "상권",
    "인구",
    "수원",
    "결제",
    "매출",
    "gyeonggi",
    "jobs",
    "소비",
]


def environment(database_url: str, cache_url: str | None) -> dict:
    return {
        **os.environ,
        **({"CACHE_URL": cache_url} if cache_url != "memory" else {}),
        "DEBUG": "0",
        "SECRET_KEY": "load-test-only-" + "x" * 50,
        # The seed issues licenses, whose keys are sealed under a key-encryption key (production
        # refuses to run without one); this one is for the load database only.
        "JANGTEO_KEK": "bG9hZC10ZXN0LW9ubHkta2V5LWVuY3J5cHRpb24ta2U=",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "JANGTEO_VAR_DIR": str(REPO / "var" / "load"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        # As deployed behind one reverse proxy (README, Deployment): each client has its own
        # address in X-Forwarded-For, so the rate limits are counted per client as for people.
        "NUM_PROXIES": "1",
        # The clients ask without pause, faster than a person would (5 or more requests a second
        # each): the limits are lifted for the run, which measures throughput; they are still
        # counted on every request, as in production.
        "THROTTLE_ANON": "1000000/min",
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_PREVIEW": "1000000/min",
        "THROTTLE_FEED": "1000000/min",
    }


def ensure_database(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[-1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(target: int) -> int:
    """Create `target` published datasets with bulk inserts (idempotent); return how many exist.

    Each gets a version row marked published with no data file: these pages never read one."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Organization
    from catalog.models import Dataset

    call_command("migrate", verbosity=0)
    from insights.models import Release

    if not Release.objects.exists() and not Organization.objects.exists():
        # The insight pages need released cells: the demo economy (50,000 card payments) and
        # its open statistics, seeded once into a fresh load database.
        call_command("seed_demo", rows=50_000, verbosity=0)
    # load-0 … load-{target - 1}, whatever else (the demo's datasets) the database holds
    have = set(Dataset.objects.filter(slug__startswith="load-").values_list("slug", flat=True))
    missing = [n for n in range(target) if f"load-{n}" not in have]
    if missing:
        _bulk_datasets(missing, random.Random(7))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh planner statistics after the bulk load
    call_command("collectstatic", interactive=False, verbosity=0)
    return Dataset.objects.filter(status="published").count()


def _load_centers() -> list:
    """The eight centers of the load datasets (created once)."""
    from accounts import services as accounts
    from accounts.models import Organization
    from demo.organizations import demo_business_number
    from marketplace.actors import SYSTEM

    centers = []
    for i in range(8):
        number = demo_business_number(f"77700{i:04d}")
        centers.append(
            Organization.objects.filter(business_number=number).first()
            or accounts.organization_create(
                actor=SYSTEM,
                kind="center",
                name=f"부하시험 센터 {i}",
                business_number=number,
                verified=True,
            )
        )
    return centers


def _offers_and_versions(fresh: list, rng: random.Random) -> list:
    """An offer and a published version (no data file) for each of `fresh`; the versions."""
    from catalog.models import DatasetVersion, Offer

    Offer.objects.bulk_create(
        [
            Offer(
                dataset=d,
                name="월별 집계",
                kind="aggregate",
                dimensions=["sigungu"],
                fields=["sigungu"],
                price_krw=rng.choice([0, 0, 50000, 300000]),
                approval=rng.choice(["automatic", "center"]),
            )
            for d in fresh
        ],
        batch_size=1000,
    )
    versions = DatasetVersion.objects.bulk_create(
        [
            DatasetVersion(
                dataset=d,
                number=1,
                storage_token="load",
                source="load.bin",
                original_filename="load.csv",
                status="published",
                progress=100,
                parquet="load.parquet",
                row_count=rng.randint(1000, 10**7),
            )
            for d in fresh
        ],
        batch_size=1000,
    )
    return versions


def _bulk_datasets(numbers: list[int], rng: random.Random) -> None:
    """Datasets load-<n> for each of `numbers`, each with its regions, an offer and a published
    version."""
    from django.db import transaction

    from catalog.models import Dataset, DatasetRegion
    from catalog.vocabularies import Theme, gyeonggi_regions

    centers = _load_centers()
    regions = [r.code for r in gyeonggi_regions()]
    with transaction.atomic():
        batch = []
        for n in numbers:
            place = rng.choice(["수원", "성남", "용인", "고양", "화성", "부천", "안산", "평택"])
            topic = rng.choice(TOPICS)
            title = f"{place} {topic} {n}"
            center = rng.choice(centers)
            batch.append(
                Dataset(
                    center=center,
                    slug=f"load-{n}",
                    title=title,
                    title_en=f"Load dataset {n}",
                    summary=f"{title} 월별 통계",
                    theme=rng.choice(Theme.values),
                    keywords=[topic],
                    regions=rng.sample(regions, 3),
                    search_text=f"{title} 월별 통계 {center.name}".lower(),
                )
            )
        Dataset.objects.bulk_create(batch, batch_size=1000)
        fresh = list(Dataset.objects.filter(slug__startswith="load-", current_version__isnull=True))
        DatasetRegion.objects.bulk_create(
            [DatasetRegion(dataset=d, code=c) for d in fresh for c in d.regions], batch_size=5000
        )
        versions = _offers_and_versions(fresh, rng)
        for v in versions:
            Dataset.objects.filter(pk=v.dataset_id).update(current_version=v, status="published")


TOPICS = [
    "지역화폐 결제",
    "카드 매출",
    "기업 현황",
    "일자리 공고",
    "상권 분석",
    "인구 이동",
    "소비 동향",
    "가맹점 목록",
]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.client_cpu = self.machine_cpu = 0.0

    def add(self, kind: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if not ok:
                self.errors[kind] = self.errors.get(kind, 0) + 1


DEEP_LINKS = 0.25  # dataset reads that come from outside (a shared link), not from a result page


INSIGHTS_SHARE = 0.15  # visits to the regional-economy insight pages and open statistics API
INSIGHT_REGIONS = ["41110", "41130", "41150", "41190", "41280", "41460", "41590", "41800"]
INSIGHT_INDUSTRIES = ["카페", "한식 음식점", "편의점", "미용실", "학원"]


def pick_insight(rng: random.Random) -> tuple[str, str]:
    """A visitor of /insights/: the overview, a 시·군 page, "compare my business", the API."""
    roll = rng.random()
    region = rng.choice(INSIGHT_REGIONS)
    if roll < 0.3:
        return "insights-page", "/insights/"
    if roll < 0.6:
        return "insights-page", f"/insights/regions/{region}/"
    if roll < 0.8:
        params = {"region": region, "industry": rng.choice(INSIGHT_INDUSTRIES)}
        return "insights-page", "/insights/compare/?" + urlencode(params)
    return "insights-api", "/api/v1/insights/spend-region-month/?" + urlencode({"sigungu_code": region})


def pick_request(rng: random.Random, datasets: int, seen: list[str]) -> tuple[str, str]:
    """A person browsing: the insight pages (15%, `pick_insight`); of the rest, searches (40%)
    and browses by region (20%), and reads datasets (40%, half as the API, half as the HTML
    page) picked from the results they last got, or, one read in four, any of the catalog's
    datasets (a deep link: mostly ones nobody read lately)."""
    if rng.random() < INSIGHTS_SHARE:
        return pick_insight(rng)
    roll = rng.random()
    if roll < 0.4:
        params = {"q": rng.choice(WORDS)}
        if rng.random() < 0.3:
            params["theme"] = rng.choice(["local_currency", "business", "jobs"])
        return "search", "/api/v1/datasets/?" + urlencode(params)
    if roll < 0.6:
        params = {"region": rng.choice(["41110", "41130", "41460", "41590"]), "sort": "newest"}
        return "browse", "/api/v1/datasets/?" + urlencode(params)
    slug = rng.choice(seen) if seen and rng.random() >= DEEP_LINKS else f"load-{rng.randrange(datasets)}"
    if roll < 0.8:
        return "dataset-api", f"/api/v1/datasets/{quote(slug)}/"
    return "dataset-page", f"/datasets/{quote(slug)}/"


class Visitor:
    """One simulated person: an HTTP connection of their own, their own address behind the
    proxy, and the slugs on the result page they last received."""

    def __init__(self, seed: int, datasets: int):
        self.rng, self.datasets = random.Random(seed), datasets
        self.headers = {"Accept-Language": "ko", "X-Forwarded-For": f"10.77.{seed // 256}.{seed % 256}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.seen: list[str] = []

    def next_request(self, trivial: bool) -> tuple[str, str]:
        return ("trivial", "/healthz") if trivial else pick_request(self.rng, self.datasets, self.seen)

    def visit(self, kind: str, path: str) -> tuple[bool, float]:
        """GET `path`: whether it answered 200, and when the answer was in (perf_counter), before
        this client reads the result page's slugs."""
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok, body = False, b""
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        answered = time.perf_counter()
        if ok and kind in ("search", "browse"):
            results = json.loads(body).get("results") or []
            self.seen = [r["slug"] for r in results] or self.seen
        return ok, answered


def client(stop: float, stats: Stats, seed: int, datasets: int, trivial: bool) -> None:
    """A closed loop: the next request as soon as the last one is answered."""
    visitor = Visitor(seed, datasets)
    while time.monotonic() < stop:
        kind, path = visitor.next_request(trivial)
        started = time.perf_counter()
        ok, answered = visitor.visit(kind, path)
        stats.add(kind, answered - started, ok)
    visitor.conn.close()


class Arrivals:
    """An open workload: requests arrive at random (Poisson) at `rate` per second for
    `seconds`, whether or not earlier ones have been answered, as people arrive at a site."""

    def __init__(self, rate: float, seconds: float, seed: int):
        rng, t, self.times = random.Random(seed), 0.0, []
        while (t := t + rng.expovariate(rate)) < seconds:
            self.times.append(t)
        self.lock, self.taken = threading.Lock(), 0

    def take(self) -> float | None:
        """The next arrival's time (seconds from the start), or None when all are taken."""
        with self.lock:
            if self.taken == len(self.times):
                return None
            self.taken += 1
            return self.times[self.taken - 1]


def open_client(arrivals: Arrivals, start: float, stats: Stats, seed: int, datasets: int) -> None:
    """Serves arrivals as they come due. The latency counts from the arrival, not from the send:
    a request that waits for a free client thread is late by that wait (no coordinated
    omission)."""
    visitor = Visitor(seed, datasets)
    while (due := arrivals.take()) is not None:
        due += start
        time.sleep(max(0.0, due - time.perf_counter()))
        kind, path = visitor.next_request(trivial=False)
        ok, answered = visitor.visit(kind, path)
        stats.add(kind, answered - due, ok)
    visitor.conn.close()


def run_open_phase(rate: float, seconds: float, datasets: int, threads: int = 100) -> Stats:
    stats, arrivals = Stats(), Arrivals(rate, seconds, seed=11)
    start = time.perf_counter() + 0.2
    pool = [
        threading.Thread(target=open_client, args=(arrivals, start, stats, 1000 + i, datasets))
        for i in range(threads)
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return stats


def _machine_cpu_seconds() -> float:
    """CPU time used by the whole machine so far (all cores, /proc/stat), or 0 where unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0.0
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def run_phase(clients: int, seconds: float, datasets: int, trivial: bool) -> Stats:
    stats = Stats()
    stop = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(stop, stats, i, datasets, trivial)) for i in range(clients)
    ]
    machine, own = _machine_cpu_seconds(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.client_cpu = time.process_time() - own
    stats.machine_cpu = _machine_cpu_seconds() - machine
    return stats


def report(title: str, stats: Stats, seconds: float) -> dict:
    print(f"\n{title}")
    print(
        f"  {'kind':<14}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>8}"
    )
    total = 0
    summary = {}
    for kind, values in sorted(stats.latencies.items()):
        values.sort()
        q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
        total += len(values)
        summary[kind] = {"rps": len(values) / seconds, "p95": q[94] * 1000}
        print(
            f"  {kind:<14}{len(values):>10,}{len(values) / seconds:>10.1f}{q[49] * 1000:>10.1f}"
            f"{q[94] * 1000:>10.1f}{q[98] * 1000:>10.1f}{stats.errors.get(kind, 0):>8}"
        )
    print(f"  {'all':<14}{total:>10,}{total / seconds:>10.1f}")
    if total and stats.machine_cpu:
        server = stats.machine_cpu - stats.client_cpu  # gunicorn, PostgreSQL, Redis and the rest
        print(
            f"  CPU per request: {server / total * 1000:.2f} ms serving, "
            f"{stats.client_cpu / total * 1000:.2f} ms in these load clients"
        )
    summary["all"] = {"rps": total / seconds}
    return summary


def _seed_in_subprocess(env: dict, datasets: int) -> str:
    """Seed the load database in a child process with the service's environment; how many
    datasets are published."""
    seeded = subprocess.run(
        [sys.executable, __file__, "--seed", str(datasets)],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if seeded.returncode:
        sys.exit(f"seeding the load database failed:\n{seeded.stderr[-4000:]}")
    return seeded.stdout.strip().splitlines()[-1]


# What beat's catalog.tasks.flush_dataset_views does in a deployment, on this machine, so its
# cost is part of the measured load: the dataset views buffered in Redis written every 30 s.
_FLUSH_LOOP = """
import time, django
django.setup()
from catalog import view_log
while True:
    time.sleep(30)
    view_log.flush()
"""


def _start_view_flusher(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _FLUSH_LOOP], cwd=REPO, env=env)


def _start_gunicorn(env: dict, workers: int, threads: int) -> subprocess.Popen:
    """gunicorn on PORT, answering /healthz (SystemExit after 30 s without)."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.terminate()
            raise SystemExit("gunicorn did not start")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("LOAD_CACHE_URL", "redis://127.0.0.1:6379/9"),
        help="the service's CACHE_URL, emptied first; `memory` for the per-process cache",
    )
    parser.add_argument(
        "--utilization",
        type=float,
        default=0.5,
        help="the open workload's arrival rate as a share of the closed loop's measured capacity",
    )
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is not None:
        sys.path.insert(0, str(REPO))
        print(seed(args.seed))
        return
    database_url = os.environ.get("LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jangteo_load")
    ensure_database(database_url)
    env = environment(database_url, args.cache_url)
    if args.cache_url != "memory":
        import redis

        redis.Redis.from_url(args.cache_url).flushdb()  # a cold cache: every page is built once
    published = _seed_in_subprocess(env, args.datasets)
    print(
        f"load test: {published} published datasets, {args.clients} clients, {args.seconds:.0f} s per phase; "
        f"gunicorn {args.workers} workers × {args.threads} threads; cache {args.cache_url}"
    )
    server = _start_gunicorn(env, args.workers, args.threads)
    flusher = _start_view_flusher(env)
    try:
        results = _phases(args)
    finally:
        for process in (server, flusher):
            process.terminate()
            process.wait(timeout=30)
    _verdict(*results, utilization=args.utilization)


def _phases(args) -> tuple[dict, dict, Stats, Stats]:
    """The closed-loop catalog mix, the ceiling, then the open workload at `utilization` of the
    capacity the catalog mix just showed."""
    run_phase(args.clients, 3, args.datasets, trivial=False)  # warm up connections and caches
    closed = run_phase(args.clients, args.seconds, args.datasets, trivial=False)
    browse = report(
        "catalog (search, browse, dataset API and page, insights): closed loop", closed, args.seconds
    )
    ceiling = report(
        "ceiling: trivial endpoint /healthz",
        run_phase(args.clients, args.seconds, args.datasets, trivial=True),
        args.seconds,
    )
    rate = args.utilization * browse["all"]["rps"]
    arrivals = run_open_phase(rate, args.seconds, args.datasets)
    report(
        f"the same mix as an open workload: {rate:.0f} arrivals/s "
        f"({args.utilization:.0%} of the capacity measured above)",
        arrivals,
        args.seconds,
    )
    return browse, ceiling, closed, arrivals


def _p95_ms(stats: Stats, kinds: tuple[str, ...]) -> float:
    values = sorted(v for kind in kinds for v in stats.latencies.get(kind, []))
    return statistics.quantiles(values, n=100)[94] * 1000 if len(values) > 1 else float("nan")


def _verdict(browse: dict, ceiling: dict, closed: Stats, arrivals: Stats, *, utilization: float) -> None:
    ratio = browse["all"]["rps"] / ceiling["all"]["rps"]
    insights = ("insights-page", "insights-api")
    rows = [
        ("catalog throughput / trivial endpoint's", f"{ratio:.0%}", "≥ 50%", ratio >= 0.5),
        (
            "search p95, closed loop",
            f"{browse['search']['p95']:.0f} ms",
            "< 200 ms",
            browse["search"]["p95"] < 200,
        ),
        (
            f"insights p95, open workload at {utilization:.0%} of capacity",
            f"{_p95_ms(arrivals, insights):.0f} ms",
            "< 100 ms",
            _p95_ms(arrivals, insights) < 100,
        ),
        ("insights p95, closed loop (saturated)", f"{_p95_ms(closed, insights):.0f} ms", "—", None),
    ]
    print()
    for name, value, target, met in rows:
        verdict = "" if met is None else ("met" if met else "NOT MET")
        print(f"  {name:<52}{value:>10}  target {target:<9}{verdict}")


if __name__ == "__main__":
    main()

"""A dataset's API representation on a catalog cache miss: DRF's serializer against the
hand-written `catalog.representations.dataset_detail`, in the same run.

    .venv/bin/python bench/representation.py [--columns 13] [--repeat 2000]

A throwaway SQLite database under var/bench/representation holds one published dataset shaped
like the demo's card payments (`--columns` columns, each with a profile of ten frequent values
and a twelve-bin histogram, a Markdown description). Each form builds the representation of the
loaded dataset `--repeat` times, for an outsider (profiles released under k) and for the center,
alternated in rounds so the machine's noise falls on both; the time per build is the median
round's. The database read before a build (one query with the center and version, one for the
fields) is timed once per round too, for scale. Prints each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "var" / "bench" / "representation"
ROUNDS = 5


def _django() -> None:
    sys.path.insert(0, str(REPO))
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "bench.sqlite3").unlink(missing_ok=True)
    os.environ.update(
        DEBUG="1",
        JANGTEO_VAR_DIR=str(WORK / "var"),
        DATABASE_URL=f"sqlite:///{WORK / 'bench.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _dataset(columns: int):
    """One published dataset of `columns` profiled columns (a third of them identifiers)."""
    from accounts import services as accounts
    from catalog.models import Dataset, DatasetVersion, Field
    from demo.organizations import demo_business_number
    from marketplace.actors import SYSTEM

    center = accounts.organization_create(
        actor=SYSTEM,
        kind="center",
        name="벤치 센터",
        business_number=demo_business_number("881001001"),
        verified=True,
    )
    dataset = Dataset.objects.create(
        center=center,
        slug="bench-cards",
        title="경기지역화폐 카드 결제",
        title_en="Gyeonggi local currency card payments",
        description="## 출처\n\n경기도 31개 시·군의 **지역화폐** 결제.\n\n- 승인 일시\n- 금액\n",
        regions=["41110", "41130", "41150", "41170", "41190"],
        keywords=["지역화폐", "카드", "소상공인"],
    )
    version = DatasetVersion.objects.create(
        dataset=dataset, number=1, storage_token="b", source="x", original_filename="x.csv", row_count=10**6
    )
    profile = {
        "nulls": 12,
        "distinct": 4000,
        "top_values": [{"value": f"4111{i}", "count": 900 - i * 50} for i in range(10)],
        "histogram": [{"lo": i * 1000, "hi": (i + 1) * 1000, "count": 500 + i} for i in range(12)],
        "min": 0,
        "max": 12000,
    }
    Field.objects.bulk_create(
        Field(
            version=version,
            position=i,
            name=f"column_{i}",
            type="integer" if i % 2 else "string",
            sensitivity="identifier" if i % 3 == 0 else "public",
            profile=profile,
        )
        for i in range(columns)
    )
    Dataset.objects.filter(pk=dataset.pk).update(current_version=version, status="published")
    return dataset.pk


def _load(pk: int):
    from catalog.models import Dataset

    return (
        Dataset.objects.select_related("center", "current_version")
        .prefetch_related("current_version__fields")
        .get(pk=pk)
    )


def _timed(build, dataset, repeat: int) -> float:
    started = time.perf_counter()
    for i in range(repeat):
        build(dataset, i % 2 == 0)
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--columns", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    _django()
    from catalog import representations
    from catalog.api import DatasetDetailSerializer

    pk = _dataset(args.columns)
    dataset = _load(pk)

    def drf(d, full):
        return DatasetDetailSerializer(d, context={"full_profiles": full}).data

    def by_hand(d, full):
        return representations.dataset_detail(d, full_profiles=full)

    assert drf(dataset, False) == by_hand(dataset, False) and drf(dataset, True) == by_hand(dataset, True)
    rounds = {"serializer": [], "by hand": [], "read": []}
    for _ in range(ROUNDS):
        rounds["serializer"].append(_timed(drf, dataset, args.repeat))
        rounds["by hand"].append(_timed(by_hand, dataset, args.repeat))
        started = time.perf_counter()
        for _ in range(args.repeat // 10):
            _load(pk)
        rounds["read"].append((time.perf_counter() - started) / (args.repeat // 10))
    median = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"dataset representation benchmark: {args.columns} columns, {args.repeat} builds × {ROUNDS} rounds")
    for name, seconds in median.items():
        print(f"  {name:<12}{seconds * 1000:>8.3f} ms")
    print(f"  by hand ÷ serializer: {median['by hand'] / median['serializer']:.2f}× the time")


if __name__ == "__main__":
    main()

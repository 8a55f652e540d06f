"""What the per-method sums (migration 0010) cost on writes: inserting runs with 9 objectives
and updating objective values, on a database at head beside the same database with the sums'
triggers dropped (what every row change costs without them; ``insert_runs``' grouped count
of its new runs on PostgreSQL, three statements a batch, stays in both), measured in the same
run on each dialect.

    python benchmarks/objective_writes.py [--runs 2000] [--updates 2000]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Prints medians (per call for updates, per 1,000 runs for inserts) and the ratio with/without.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import scratch_schema

from mangodb import ObjectiveCreate, RunCreate, RunRepository
from mangodb.db import schema
from mangodb.db.engine import make_engine

NAMES = [f"objective_{k}" for k in range(9)]
METHODS = ("stl", "mgda", "pcgrad", "cagrad")
BATCH = 1000
DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER tr_run_objectives_sums ON run_objectives"],
    "sqlite": [f"DROP TRIGGER tr_run_objectives_sums_{e}" for e in ("insert", "update", "delete")],
}


def prepare(url: URL, with_sums: bool) -> None:
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
        if not with_sums:
            with engine.begin() as connection:
                for statement in DROP_TRIGGERS[engine.dialect.name]:
                    connection.execute(text(statement))
    finally:
        engine.dispose()


def measure(url: URL, runs: int, updates: int) -> tuple[float, float]:
    """Median ms per BATCH runs inserted (with 9 objectives), median ms per value update."""
    repo = RunRepository.connect(url)
    try:
        inserts = []
        for start in range(0, runs, BATCH):
            batch = [
                RunCreate(
                    run_id=f"w-{i:07d}",
                    status="running",
                    gradient_method=METHODS[i % len(METHODS)],
                    objectives=[ObjectiveCreate(name=n) for n in NAMES],
                )
                for i in range(start, min(start + BATCH, runs))
            ]
            began = time.perf_counter()
            repo.insert_runs(batch, batch_size=BATCH)
            inserts.append((time.perf_counter() - began) * 1000 * BATCH / len(batch))
        timings = []
        for u in range(updates):
            run_id, name = f"w-{u % runs:07d}", NAMES[u % len(NAMES)]
            began = time.perf_counter()
            repo.update_objective_metric(run_id, name, value=1.0 / (u + 1), step=u)
            timings.append((time.perf_counter() - began) * 1000)
        return statistics.median(inserts), statistics.median(timings)
    finally:
        repo.close()


def compare(label: str, urls: dict[bool, URL], runs: int, updates: int) -> None:
    figures = {}
    for with_sums, url in urls.items():
        prepare(url, with_sums)
        figures[with_sums] = measure(url, runs, updates)
    (insert_with, update_with), (insert_without, update_without) = figures[True], figures[False]
    print(f"  {label}")
    print(
        f"    insert {BATCH:,} runs x 9 objectives  with sums {insert_with:8.1f} ms   "
        f"without {insert_without:8.1f} ms   ({insert_with / insert_without:.2f}x)"
    )
    print(
        f"    update one objective value       with sums {update_with:8.2f} ms   "
        f"without {update_without:8.2f} ms   ({update_with / update_without:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--pg-url", help="a PostgreSQL database (schemas are made and dropped)")
    args = parser.parse_args()
    print(f"Objective writes, {args.runs:,} runs, {args.updates:,} value updates (medians)")
    with tempfile.TemporaryDirectory() as tmp:
        urls = {
            flag: URL.create("sqlite", database=str(Path(tmp) / f"w{flag}.sqlite3"))
            for flag in (True, False)
        }
        compare("SQLite", urls, args.runs, args.updates)
    if args.pg_url:
        admin = make_url(args.pg_url)
        with scratch_schema(admin) as with_sums, scratch_schema(admin) as without:
            compare("PostgreSQL", {True: with_sums, False: without}, args.runs, args.updates)


if __name__ == "__main__":
    main()

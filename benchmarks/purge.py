"""Purging runs: how fast, and what space comes back on each dialect.

Builds RUNS finished runs, each with KEYS history keys of POINTS points, purges half of them
with ``repo.purge_runs`` (200 runs per transaction), and prints the time per batch beside
the database's size before, after the purge, and after each way of reclaiming space:
SQLite keeps freed pages in the file for reuse until ``VACUUM``; PostgreSQL's (auto)vacuum
makes the space reusable, ``VACUUM FULL`` gives it back to the OS.

    python benchmarks/purge.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from mangodb import RunCreate, RunRepository


def build(repo: RunRepository, runs: int, keys: int, points: int) -> None:
    old = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    repo.insert_runs(
        RunCreate(run_id=f"r-{i:05d}", status="completed", seed=i, created_at=old)
        for i in range(runs)
    )
    steps = list(range(points))
    for i in range(runs):
        columns = {"_step": steps}
        columns.update({f"k{k}": [((s * 7 + k) % 101) / 100 for s in steps] for k in range(keys)})
        repo.append_history(f"r-{i:05d}", columns)


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def sqlite_size(path: Path) -> tuple[int, int]:
    """(bytes on disk of the file and its WAL, bytes of free pages inside)."""
    engine = create_engine(URL.create("sqlite", database=str(path)))
    with engine.connect() as connection:
        free = connection.scalar(text("PRAGMA freelist_count")) or 0
        page = connection.scalar(text("PRAGMA page_size")) or 0
    engine.dispose()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0), free * page


def sqlite_run(runs: int, keys: int, points: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "purge.sqlite3"
        url = URL.create("sqlite", database=str(path))
        with RunRepository.connect(url) as repo:
            build(repo, runs, keys, points)
        size0, _ = sqlite_size(path)
        with RunRepository.connect(url) as repo:
            started = time.perf_counter()
            report = repo.purge_runs(where=f"seed < {runs // 2}", runs_per_batch=200)
            took = time.perf_counter() - started
        size1, free1 = sqlite_size(path)
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        size2, _ = sqlite_size(path)
        with engine.connect() as connection:
            started_vacuum = time.perf_counter()
            connection.execute(text("VACUUM"))
            vacuum = time.perf_counter() - started_vacuum
        engine.dispose()
        size3, _ = sqlite_size(path)
        _print("SQLite", report.rows, report.batches, took)
        print(f"  size: {mib(size0)} before; {mib(size1)} after the purge ({mib(free1)} of it "
              f"free pages, reused by later writes); {mib(size2)} after a WAL checkpoint; "
              f"{mib(size3)} after VACUUM ({vacuum:.1f} s, exclusive lock)")  # fmt: skip


def pg_size(admin: URL, database: str) -> int:
    engine = create_engine(admin)
    with engine.connect() as connection:
        size = connection.scalar(text("SELECT pg_database_size(:d)"), {"d": database}) or 0
    engine.dispose()
    return int(size)


def pg_run(admin: URL, runs: int, keys: int, points: int) -> None:
    name = f"purge_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name)
    try:
        with RunRepository.connect(url) as repo:
            build(repo, runs, keys, points)
        size0 = pg_size(admin, name)
        with RunRepository.connect(url) as repo:
            started = time.perf_counter()
            report = repo.purge_runs(where=f"seed < {runs // 2}", runs_per_batch=200)
            took = time.perf_counter() - started
        size1 = pg_size(admin, name)
        target = create_engine(url, isolation_level="AUTOCOMMIT")
        with target.connect() as connection:
            connection.execute(text("VACUUM"))
            size2 = pg_size(admin, name)
            started_full = time.perf_counter()
            connection.execute(text("VACUUM FULL history_chunks"))
            full = time.perf_counter() - started_full
        target.dispose()
        size3 = pg_size(admin, name)
        _print("PostgreSQL", report.rows, report.batches, took)
        print(f"  size: {mib(size0)} before; {mib(size1)} after the purge; {mib(size2)} after "
              f"VACUUM (space reusable, file sizes kept); {mib(size3)} after VACUUM FULL "
              f"history_chunks ({full:.1f} s, exclusive lock)")  # fmt: skip
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _print(dialect: str, rows: dict[str, int], batches: int, took: float) -> None:
    print(f"{dialect}: purged {rows['runs']:,} runs ({rows['history_chunks']:,} history chunks, "
          f"{sum(rows.values()):,} rows in all) in {took:.2f} s, {batches} batches: "
          f"{took / max(batches, 1) * 1000:.0f} ms per batch of 200 runs, "
          f"{rows['runs'] / took:,.0f} runs/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--pg-url", default=None, help="PostgreSQL admin URL (optional)")
    args = parser.parse_args()
    print(f"# {args.runs:,} runs x {args.keys} keys x {args.points:,} points; half purged")
    sqlite_run(args.runs, args.keys, args.points)
    if args.pg_url:
        pg_run(make_url(args.pg_url), args.runs, args.keys, args.points)


if __name__ == "__main__":
    main()

"""Benchmark of the history engine against the bare driver and MLflow's SQL store.

Workload: ``--runs`` runs (default 20) of 50 keys x 2,000 steps (100,000 points per run),
seeded. For SQLite (a temporary file) and PostgreSQL (``--pg-url``, a temporary schema that is
dropped afterwards) it measures, for each contestant, ingest (points/s, one call per run),
full-run read (ms and points/s) and bytes per point on disk:

* mangodb      ``RunRepository.append_history`` / ``get_history``;
* bare packed  the bare driver (sqlite3 / psycopg) writing the same packed bytes, packed
               before the clock starts (the physical limit), and reading + unpacking them;
* bare + packing  the same, with the packing (``struct``/``array``) inside the clock;
* bare rows    the bare driver writing one row per point (run, key, step, value);
* mlflow       MLflow's ``SqlAlchemyStore`` (``log_batch`` / ``get_metric_history``) when
               ``import mlflow`` works (``pip install 'mangodb[bench]'``); it is ~100x slower,
               so it ingests ``--mlflow-runs`` runs only.

Every figure is the median of ``--repeats`` (default 3) fresh databases. Run:
``python benchmarks/history.py [--runs 20] [--quick] [--pg-url URL]``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL, make_url

from mangodb import RunRepository
from mangodb.settings import mask_url

KEYS, STEPS = 50, 2_000
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOALS = {"sqlite": 2_000_000, "postgresql": 1_000_000}  # ingest points/s, issue 4
Columns = dict[str, tuple[list[int], list[float]]]


# -- workload -------------------------------------------------------------------------------------
def workload(runs: int, seed: int = 4) -> list[Columns]:
    """Loss-like curves: decaying, noisy, a few keys flat (learning rates), some NaN."""
    rng = random.Random(seed)
    data = []
    steps = list(range(STEPS))
    for _ in range(runs):
        columns: Columns = {}
        for k in range(KEYS):
            scale, tau, noise = rng.uniform(0.5, 5), rng.uniform(200, 2000), rng.uniform(0, 0.05)
            if k % 10 == 9:
                values = [scale * 1e-4] * STEPS
            else:
                values = [scale * math.exp(-s / tau) + rng.gauss(0, noise) for s in steps]
            columns[f"train/metric_{k:02d}"] = (steps, values)
        data.append(columns)
    return data


def packed(columns: Columns) -> list[tuple[str, int, int, int, bytes, bytes]]:
    """The rows the bare 'packed' baseline writes: the same bytes mangodb stores."""
    return [
        (key, steps[0], steps[-1], len(steps), b"", array("d", values).tobytes())
        for key, (steps, values) in columns.items()
    ]


# -- one database per repeat ----------------------------------------------------------------------
@dataclass
class Place:
    """Where one contestant writes during one repeat, and how big that became."""

    dialect: str
    url: URL
    size: Callable[[], int]
    driver: Callable[[], Any]  # a DB-API connection of the bare driver


@contextmanager
def sqlite_place(directory: Path, name: str) -> Iterator[Place]:
    path = directory / f"{name}-{uuid.uuid4().hex[:8]}.sqlite3"

    def size() -> int:
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size

    def driver() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    yield Place("sqlite", URL.create("sqlite", database=str(path)), size, driver)


@contextmanager
def postgres_place(admin: URL, tables: tuple[str, ...]) -> Iterator[Place]:
    import psycopg

    schema = f"history_bench_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = admin.update_query_dict({"options": f"-csearch_path={schema}"})

    def size() -> int:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("CHECKPOINT")
            total = 0
            for table in tables:
                row = connection.execute(
                    "SELECT pg_total_relation_size(to_regclass(%s))", (f'"{schema}".{table}',)
                ).fetchone()
                total += int(row[0] or 0) if row else 0
            return total

    def driver() -> Any:
        return psycopg.connect(conninfo, options=f"-csearch_path={schema}")

    try:
        yield Place("postgresql", url, size, driver)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- contestants ----------------------------------------------------------------------------------
@dataclass
class Result:
    ingest_s: float = 0.0
    points: int = 0
    read_ms: list[float] = field(default_factory=list)
    bytes_on_disk: int = 0

    @property
    def ingest_rate(self) -> float:
        return self.points / self.ingest_s

    @property
    def read_median_ms(self) -> float:
        return statistics.median(self.read_ms)

    @property
    def bytes_per_point(self) -> float:
        return self.bytes_on_disk / self.points


def run_mangodb(place: Place, data: list[Columns]) -> Result:
    result = Result()
    with RunRepository.connect(place.url) as repo:
        for i in range(len(data)):
            repo.insert_run(run_id=f"run-{i}")
        for i, columns in enumerate(data):
            start = time.perf_counter()
            repo.append_history(f"run-{i}", columns)
            result.ingest_s += time.perf_counter() - start
            result.points += KEYS * STEPS
        for i in range(len(data)):
            start = time.perf_counter()
            history = repo.get_history(f"run-{i}")
            result.read_ms.append((time.perf_counter() - start) * 1000)
            assert sum(len(s) for s in history.values()) == KEYS * STEPS
    result.bytes_on_disk = place.size()
    return result


def _sql(place: Place, sqlite_sql: str, postgres_sql: str) -> str:
    return sqlite_sql if place.dialect == "sqlite" else postgres_sql


def run_bare_packed(place: Place, data: list[Columns], *, pack_timed: bool = False) -> Result:
    result = Result()
    rows = [[] if pack_timed else packed(columns) for columns in data]
    mark = _sql(place, "?", "%s")
    connection = place.driver()
    connection.execute(
        _sql(
            place,
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, ",
            "CREATE TABLE chunks (id BIGSERIAL PRIMARY KEY, ",
        )
        + "run INTEGER NOT NULL, key TEXT NOT NULL, first_step BIGINT, last_step BIGINT, "
        "point_count INTEGER, steps "
        + _sql(place, "BLOB", "BYTEA")
        + ", payload "
        + _sql(place, "BLOB", "BYTEA")
        + ")"
    )
    connection.execute("CREATE INDEX ix_chunks_run_key ON chunks (run, key, first_step)")
    _commit(place, connection)
    insert = (
        "INSERT INTO chunks (run, key, first_step, last_step, point_count, steps, payload) "
        f"VALUES ({', '.join([mark] * 7)})"
    )
    for i, run_rows in enumerate(rows):
        start = time.perf_counter()
        if pack_timed:
            run_rows = rows[i] = packed(data[i])
        _begin(place, connection)
        connection.cursor().executemany(insert, [(i, *row) for row in run_rows])
        _commit(place, connection)
        result.ingest_s += time.perf_counter() - start
        result.points += KEYS * STEPS
    select = (
        "SELECT key, first_step, last_step, point_count, steps, payload FROM chunks "
        f"WHERE run = {mark} ORDER BY key, first_step"
    )
    for i in range(len(rows)):
        start = time.perf_counter()
        out: dict[str, tuple[list[int], list[float]]] = {}
        for key, first, last, _count, _steps, payload in connection.execute(select, (i,)):
            values = array("d")
            values.frombytes(payload)
            out[key] = (list(range(first, last + 1)), values.tolist())
        _commit(place, connection)
        result.read_ms.append((time.perf_counter() - start) * 1000)
        assert sum(len(v) for _, v in out.values()) == KEYS * STEPS
    connection.close()
    result.bytes_on_disk = place.size()
    return result


def run_bare_rows(place: Place, data: list[Columns]) -> Result:
    result = Result()
    mark = _sql(place, "?", "%s")
    connection = place.driver()
    connection.execute(
        "CREATE TABLE points (run INTEGER NOT NULL, key TEXT NOT NULL, step BIGINT NOT NULL, "
        "value " + _sql(place, "REAL", "DOUBLE PRECISION") + ", PRIMARY KEY (run, key, step))"
    )
    _commit(place, connection)
    insert = f"INSERT INTO points (run, key, step, value) VALUES ({mark}, {mark}, {mark}, {mark})"
    for i, columns in enumerate(data):
        start = time.perf_counter()
        _begin(place, connection)
        connection.cursor().executemany(
            insert,
            [
                (i, key, s, v)
                for key, (steps, values) in columns.items()
                for s, v in zip(steps, values, strict=True)
            ],
        )
        _commit(place, connection)
        result.ingest_s += time.perf_counter() - start
        result.points += KEYS * STEPS
    select = f"SELECT key, step, value FROM points WHERE run = {mark} ORDER BY key, step"
    for i in range(len(data)):
        start = time.perf_counter()
        out: dict[str, tuple[list[int], list[float]]] = {}
        for key, step, value in connection.execute(select, (i,)):
            series = out.get(key)
            if series is None:
                series = out[key] = ([], [])
            series[0].append(step)
            series[1].append(value)
        _commit(place, connection)
        result.read_ms.append((time.perf_counter() - start) * 1000)
        assert sum(len(v) for _, v in out.values()) == KEYS * STEPS
    connection.close()
    result.bytes_on_disk = place.size()
    return result


def run_mlflow(place: Place, data: list[Columns]) -> Result:
    import logging

    from mlflow.entities import Metric
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    result = Result()
    with tempfile.TemporaryDirectory() as artifacts:
        store = SqlAlchemyStore(place.url.render_as_string(hide_password=False), artifacts)
        experiment = store.create_experiment("bench")
        run_ids = []
        for i, columns in enumerate(data):
            run = store.create_run(experiment, "bench", 0, [], f"run-{i}")
            run_ids.append(run.info.run_id)
            metrics = [
                Metric(key, value, 1_700_000_000_000 + step, step)
                for key, (steps, values) in columns.items()
                for step, value in zip(steps, values, strict=True)
            ]
            start = time.perf_counter()
            for offset in range(0, len(metrics), 1000):  # log_batch takes 1,000 metrics a call
                store.log_batch(run.info.run_id, metrics[offset : offset + 1000], [], [])
            result.ingest_s += time.perf_counter() - start
            result.points += len(metrics)
        for run_id, columns in zip(run_ids, data, strict=True):
            start = time.perf_counter()
            read = sum(len(store.get_metric_history(run_id, key)) for key in columns)
            result.read_ms.append((time.perf_counter() - start) * 1000)
            assert read == KEYS * STEPS
        store.engine.dispose()
    result.bytes_on_disk = place.size()
    return result


def _begin(place: Place, connection: Any) -> None:
    if place.dialect == "sqlite":
        connection.execute("BEGIN IMMEDIATE")


def _commit(place: Place, connection: Any) -> None:
    if place.dialect == "sqlite":
        if connection.in_transaction:
            connection.execute("COMMIT")
    else:
        connection.commit()


# -- driver ---------------------------------------------------------------------------------------
CONTESTANTS: list[tuple[str, Callable[[Place, list[Columns]], Result], tuple[str, ...]]] = [
    ("mangodb", run_mangodb, ("history_series", "history_chunks")),
    ("bare packed", run_bare_packed, ("chunks",)),
    ("bare + packing", partial(run_bare_packed, pack_timed=True), ("chunks",)),
    ("bare rows", run_bare_rows, ("points",)),
    ("mlflow", run_mlflow, ("metrics", "latest_metrics")),
]


def mlflow_available() -> bool:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def measure(
    dialect: str,
    data: list[Columns],
    repeats: int,
    admin: URL | None,
    mlflow_runs: int,
    console: Console,
) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {}
    contestants = list(CONTESTANTS)
    if not mlflow_available():
        console.print(
            "[yellow]mlflow is not installed: skipping it (pip install 'mangodb[bench]')[/yellow]"
        )
        contestants = [c for c in contestants if c[0] != "mlflow"]
    with tempfile.TemporaryDirectory() as directory:
        # Repeats interleave the contestants (mangodb, bare, ..., mangodb, bare, ...), so a
        # slow spell of the machine (a checkpoint, another process) hits all of them alike.
        for repeat in range(repeats):
            for name, contestant, tables in contestants:
                runs = data[:mlflow_runs] if name == "mlflow" else data
                console.print(f"  {dialect:<10} {name:<12} repeat {repeat + 1}/{repeats}")
                if dialect == "sqlite":
                    place_cm = sqlite_place(Path(directory), name.replace(" ", "_"))
                else:
                    assert admin is not None
                    place_cm = postgres_place(admin, tables)
                with place_cm as place:
                    results.setdefault(name, []).append(contestant(place, runs))
    return results


def median_of(results: list[Result], metric: Callable[[Result], float]) -> float:
    return statistics.median(metric(r) for r in results)


def report(console: Console, dialect: str, results: dict[str, list[Result]]) -> None:
    ours = results["mangodb"]
    ingest = median_of(ours, lambda r: r.ingest_rate)
    read = median_of(ours, lambda r: r.read_median_ms)
    size = median_of(ours, lambda r: r.bytes_per_point)
    table = Table(title=f"history, {dialect}: {KEYS} keys x {STEPS} steps per run (medians)")
    for column in (
        "contestant",
        "runs",
        "ingest pts/s",
        "mangodb ingest x",
        "read ms/run",
        "read pts/s",
        "mangodb read x",
        "bytes/pt",
        "size / mangodb",
    ):
        table.add_column(column, justify="left" if column == "contestant" else "right")
    for name, rows in results.items():
        rate = median_of(rows, lambda r: r.ingest_rate)
        read_ms = median_of(rows, lambda r: r.read_median_ms)
        per_point = median_of(rows, lambda r: r.bytes_per_point)
        table.add_row(
            name,
            str(len(rows[0].read_ms)),
            f"{rate:,.0f}",
            f"{ingest / rate:.2f}x",
            f"{read_ms:.1f}",
            f"{KEYS * STEPS / read_ms * 1000:,.0f}",
            f"{read_ms / read:.2f}x",
            f"{per_point:.2f}",
            f"{per_point / size:.2f}x",
        )
    console.print(table)
    bare = median_of(results["bare packed"], lambda r: r.ingest_rate)
    packing = median_of(results["bare + packing"], lambda r: r.ingest_rate)
    goal = GOALS[dialect]
    console.print(
        f"{dialect}: mangodb ingests {ingest:,.0f} points/s (goal >= {goal:,}), "
        f"{bare / ingest:.2f}x below the bare driver writing pre-packed bytes and "
        f"{packing / ingest:.2f}x below it packing too (goal <= 2x); reads a run in "
        f"{read:.1f} ms (goal <= 20 ms on SQLite); stores {size:.2f} bytes/point (goal <= 12)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlflow-runs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3 runs, 1 repeat")
    parser.add_argument("--pg-url", default=os.environ.get("MANGODB_BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeats = min(args.runs, 3), 1
    console = Console(width=150)  # the table is wide; keep it whole when piped to a file
    data = workload(args.runs)
    console.print(f"workload: {args.runs} runs x {KEYS} keys x {STEPS} steps, seeded")
    dialects: list[tuple[str, URL | None]] = [("sqlite", None)]
    if not args.no_pg:
        dialects.append(("postgresql", make_url(args.pg_url)))
        console.print(f"PostgreSQL: {mask_url(make_url(args.pg_url))}")
    for dialect, admin in dialects:
        report(
            console, dialect, measure(dialect, data, args.repeats, admin, args.mlflow_runs, console)
        )


if __name__ == "__main__":
    main()

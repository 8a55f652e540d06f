"""Runs benchmark: creating runs with 300-attribute configs (one by one and in bulk) and the
filtered first page of ``query_runs`` at 10K runs, each beside the bare driver doing the
equivalent INSERT/SELECT in the same process, on SQLite and (with --pg-url) PostgreSQL.

    python benchmarks/runs.py [--quick] [--pg-url postgresql+psycopg://user@host/db]

Prints medians and mangodb/bare ratios as a Rich table. MLflow's SqlAlchemyStore (create_run +
log_batch of 300 params) is measured when mlflow is installed. Goals (SQLite): >= 1,000 runs/s
one by one, >= 5,000 runs/s in bulk; first page at 10K runs <= 10 ms on both dialects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from mangodb import RunCreate, RunRepository
from mangodb.runs import planning

METHODS = ("mgda", "pcgrad", "cagrad", "nash")
STATUSES = ("launched", "running", "completed", "failed", "crashed", "terminated")
console = Console(width=max(Console().width, 150))


def config_300(i: int) -> dict[str, Any]:
    """A realistic 300-leaf config: 10 sections of 30 mixed values."""
    rng = random.Random(i)
    config: dict[str, Any] = {}
    for s in range(10):
        section: dict[str, Any] = {}
        for p in range(30):
            kind = p % 5
            if kind == 0:
                section[f"p{p}"] = rng.random()
            elif kind == 1:
                section[f"p{p}"] = rng.randint(0, 10_000)
            elif kind == 2:
                section[f"p{p}"] = f"value-{rng.randint(0, 99)}"
            elif kind == 3:
                section[f"p{p}"] = rng.random() < 0.5
            else:
                section[f"p{p}"] = None if p % 10 == 9 else rng.random() * 1e-3
        config[f"section{s}"] = section
    config["section0"]["p0"] = [32, 64, 96, 128][i % 4]  # stays 300 leaves
    config["data"] = {"batch_size": [32, 64, 96][i % 3]}
    return config


def create(i: int, prefix: str) -> RunCreate:
    return RunCreate(
        run_id=f"{prefix}-{i:06d}",
        config=config_300(i),
        gradient_method=METHODS[i % 4],
        status=STATUSES[(i // 4) % 6],
        instance_id=f"i-{i % 97:05x}",
        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i),
    )


# -- the bare drivers -----------------------------------------------------------------------
BARE_DDL = """
CREATE TABLE bare_runs (id {pk}, run_id VARCHAR(255) UNIQUE NOT NULL, status VARCHAR(16),
  gradient_method VARCHAR(64), instance_id VARCHAR(64), created_at {ts}, updated_at {ts},
  config {json});
CREATE TABLE bare_events (id {pk}, run_pk INTEGER REFERENCES bare_runs(id) ON DELETE CASCADE,
  at {ts}, from_status VARCHAR(16), to_status VARCHAR(16), reason TEXT);
CREATE INDEX bare_runs_scm ON bare_runs (status, gradient_method, created_at);
"""
INSERT_RUN = (
    "INSERT INTO bare_runs (run_id, status, gradient_method, instance_id, created_at, "
    "updated_at, config) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) RETURNING id"
)
INSERT_EVENT = (
    "INSERT INTO bare_events (run_pk, at, from_status, to_status, reason) "
    "VALUES ({p}, {p}, NULL, {p}, 'inserted')"
)


def bare_row(c: RunCreate) -> tuple[Any, ...]:
    now = dt.datetime.now(dt.timezone.utc)
    assert c.created_at is not None
    return (
        c.run_id,
        c.status.value,
        c.gradient_method,
        c.instance_id,
        c.created_at.isoformat(),
        now.isoformat(),
        json.dumps(c.config),
    )


class BareSQLite:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(BARE_DDL.format(pk="INTEGER PRIMARY KEY", ts="TEXT", json="JSON"))
        self.run_sql, self.event_sql = INSERT_RUN.format(p="?"), INSERT_EVENT.format(p="?")

    def insert_one(self, c: RunCreate) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        (pk,) = self.db.execute(self.run_sql, bare_row(c)).fetchone()
        self.db.execute(
            self.event_sql, (pk, dt.datetime.now(dt.timezone.utc).isoformat(), "launched")
        )
        self.db.execute("COMMIT")

    def insert_many(self, creates: list[RunCreate]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        pks = []
        for c in creates:
            (pk,) = self.db.execute(self.run_sql, bare_row(c)).fetchone()
            pks.append(pk)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        self.db.executemany(self.event_sql, [(pk, now, "launched") for pk in pks])
        self.db.execute("COMMIT")

    def first_page(self) -> list[Any]:
        rows = self.db.execute(
            "SELECT * FROM bare_runs WHERE status = ? AND gradient_method = ? "
            "AND json_extract(config, '$.data.batch_size') = ? ORDER BY created_at DESC, id DESC "
            "LIMIT 50",
            ("completed", "mgda", 96),
        ).fetchall()
        return [(*row[:-1], json.loads(row[-1])) for row in rows]


class BarePostgres:
    def __init__(self, url: URL) -> None:
        import psycopg

        params: dict[str, Any] = {
            "host": url.host,
            "port": url.port or 5432,
            "user": url.username,
            "dbname": url.database,
            "options": url.query.get("options"),
        }
        if url.password:
            params["password"] = url.password
        self.db = psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)
        self.db.execute(BARE_DDL.format(pk="BIGSERIAL PRIMARY KEY", ts="TIMESTAMPTZ", json="JSONB"))
        # mangodb answers config equality from this index: the bare table pays for it too.
        self.db.execute(
            "CREATE INDEX bare_runs_config ON bare_runs USING gin (config jsonb_path_ops)"
        )
        self.run_sql, self.event_sql = INSERT_RUN.format(p="%s"), INSERT_EVENT.format(p="%s")

    def insert_one(self, c: RunCreate) -> None:
        with self.db.transaction():
            row = self.db.execute(self.run_sql, bare_row(c)).fetchone()
            assert row is not None
            self.db.execute(self.event_sql, (row[0], dt.datetime.now(dt.timezone.utc), "launched"))

    def insert_many(self, creates: list[RunCreate]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany(self.run_sql, [bare_row(c) for c in creates], returning=True)
            pks = []
            while True:
                row = cursor.fetchone()
                assert row is not None
                pks.append(row[0])
                if not cursor.nextset():
                    break
            now = dt.datetime.now(dt.timezone.utc)
            cursor.executemany(self.event_sql, [(pk, now, "launched") for pk in pks])

    def first_page(self) -> list[Any]:
        return self.db.execute(
            "SELECT * FROM bare_runs WHERE status = %s AND gradient_method = %s "
            "AND config @> %s::jsonb ORDER BY created_at DESC, id DESC LIMIT 50",
            ("completed", "mgda", json.dumps({"data": {"batch_size": 96}})),
        ).fetchall()


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Row:
    case: str
    dialect: str
    mangodb: float | None
    bare: float | None
    unit: str
    goal: str
    ok: bool | None


def each(fn: Callable[[RunCreate], Any], items: list[RunCreate]) -> None:
    for item in items:
        fn(item)


def each_index(fn: Callable[[int], None], n: int) -> None:
    for i in range(n):
        fn(i)


def rate(n: int, fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def latencies_ms(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median latency of each function; calls alternate, so a slow spell hits all alike."""
    for fn in fns:
        fn()  # warm caches and statement caches
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times, strict=True):
            started = time.perf_counter()
            fn()
            spent.append((time.perf_counter() - started) * 1000)
    return [statistics.median(spent) for spent in times]


def query(repo: RunRepository) -> list[Any]:
    return repo.query_runs(
        status="completed",
        gradient_method="mgda",
        config={"data.batch_size": 96},
        order_by="-created_at",
        limit=50,
    )


def bench_dialect(
    name: str, repo: RunRepository, bare: BareSQLite | BarePostgres, sizes: dict[str, int]
) -> list[Row]:
    rows: list[Row] = []
    rounds, one_n, bulk_n, corpus = sizes["rounds"], sizes["one"], sizes["bulk"], sizes["corpus"]
    ours, theirs = [], []
    for r in range(rounds):
        creates = [create(i, f"one{r}") for i in range(one_n)]
        ours.append(rate(one_n, partial(each, repo.insert_run, creates)))
        creates = [create(i, f"one{r}") for i in range(one_n)]
        theirs.append(rate(one_n, partial(each, bare.insert_one, creates)))
    goal_one = 1000.0 if name == "sqlite" else None
    rows.append(
        Row("insert_run, one by one", name, statistics.median(ours), statistics.median(theirs),
            "runs/s", "≥ 1,000/s" if goal_one else "",
            statistics.median(ours) >= goal_one if goal_one else None)
    )  # fmt: skip
    ours, theirs = [], []
    for r in range(rounds):
        creates = [create(i, f"bulk{r}") for i in range(bulk_n)]
        ours.append(rate(bulk_n, partial(repo.insert_runs, creates)))
        creates = [create(i, f"bulk{r}") for i in range(bulk_n)]
        theirs.append(rate(bulk_n, partial(bare.insert_many, creates)))
    goal_bulk = 5000.0 if name == "sqlite" else None
    rows.append(
        Row("insert_runs, bulk", name, statistics.median(ours), statistics.median(theirs),
            "runs/s", "≥ 5,000/s" if goal_bulk else "",
            statistics.median(ours) >= goal_bulk if goal_bulk else None)
    )  # fmt: skip
    # Bring both stores to ``corpus`` runs, then time the filtered first page.
    have = repo.count_runs()
    missing = max(0, corpus - have)
    for start in range(0, missing, 2000):
        repo.insert_runs(create(i, "q") for i in range(start, min(missing, start + 2000)))
        bare.insert_many([create(i, "q") for i in range(start, min(missing, start + 2000))])
    expected = {r.run_id for r in query(repo)}
    assert len(expected) == 50, f"the benchmark query should fill a page, got {len(expected)}"
    assert [r[1] for r in bare.first_page()] == [r.run_id for r in query(repo)]

    def rebuilt() -> list[Any]:  # the page's plan and statement built anew, as on a first call
        planning.forget_plans()
        return query(repo)

    ours_ms, theirs_ms, rebuilt_ms = latencies_ms(
        [lambda: query(repo), bare.first_page, rebuilt], sizes["repeat"]
    )
    rows.append(
        Row(f"query_runs first page of 50 at {repo.count_runs():,} runs", name, ours_ms,
            theirs_ms, "ms", "≤ 10 ms", ours_ms <= 10.0)
    )  # fmt: skip
    rows.append(
        Row("  the same, plan and statement built per call (no plan cache)", name, rebuilt_ms,
            theirs_ms, "ms", "", None)
    )  # fmt: skip
    return rows


def bench_mlflow(tmp: Path, n: int) -> Row:
    try:
        from mlflow.entities import Param  # type: ignore[import-not-found, unused-ignore]
        from mlflow.store.tracking.sqlalchemy_store import (  # type: ignore[import-not-found, unused-ignore]
            SqlAlchemyStore,
        )
    except ImportError:
        return Row("MLflow SqlAlchemyStore create_run + log_batch(300 params): skipped, "
                   "mlflow is not installed", "sqlite", None, None, "runs/s", "", None)  # fmt: skip
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    store: Any = SqlAlchemyStore(f"sqlite:///{tmp / 'mlflow.db'}", str(tmp / "mlartifacts"))  # type: ignore[no-untyped-call, unused-ignore]
    experiment = store.create_experiment("bench")

    def flat(config: dict[str, Any]) -> list[Any]:
        return [
            Param(f"{s}.{k}", str(v)) for s, section in config.items() for k, v in section.items()
        ][:300]

    def one(i: int) -> None:
        run = store.create_run(experiment, "bench", int(time.time() * 1000), [], f"r{i}")
        params = flat(config_300(i))
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            store.log_batch(
                run.info.run_id, metrics=[], params=params[start : start + 100], tags=[]
            )

    speed = rate(n, partial(each_index, one, n))
    return Row("MLflow SqlAlchemyStore create_run + log_batch(3×100 params)", "sqlite", speed,
               None, "runs/s", "", None)  # fmt: skip


@contextmanager
def pg_schema(url: URL) -> Iterator[URL]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def render(rows: list[Row]) -> None:
    table = Table(title="mangodb runs benchmark (medians)")
    for column in ("case", "dialect", "mangodb", "bare driver", "mangodb / bare", "goal", "met"):
        table.add_column(column, justify="left" if column in ("case", "dialect") else "right")

    def fmt(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:,.1f} {unit}"

    for row in rows:
        ratio = "-" if not (row.mangodb and row.bare) else f"{row.mangodb / row.bare:.2f}×"
        met = {None: "", True: "[green]yes[/]", False: "[red]no[/]"}[row.ok]
        table.add_row(
            row.case, row.dialect, fmt(row.mangodb, row.unit), fmt(row.bare, row.unit), ratio,
            row.goal, met,
        )  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--pg-url", help="a PostgreSQL URL; a scratch schema is used and dropped")
    parser.add_argument("--repeat", type=int, help="timed calls of each first-page query")
    args = parser.parse_args()
    sizes = (
        {"rounds": 3, "one": 200, "bulk": 1000, "corpus": 4000, "repeat": 15}
        if args.quick
        else {"rounds": 5, "one": 400, "bulk": 1600, "corpus": 10_000, "repeat": 50}
    )
    if args.repeat:
        sizes["repeat"] = args.repeat
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        repo = RunRepository.connect(URL.create("sqlite", database=str(tmp / "mangodb.sqlite3")))
        with repo:
            console.print("[bold]SQLite[/]: measuring…")
            rows += bench_dialect("sqlite", repo, BareSQLite(tmp / "bare.sqlite3"), sizes)
        if args.pg_url:
            with pg_schema(make_url(args.pg_url)) as url:
                console.print("[bold]PostgreSQL[/]: measuring…")
                with RunRepository.connect(url) as pg_repo:
                    rows += bench_dialect("postgresql", pg_repo, BarePostgres(url), sizes)
        else:
            rows.append(Row("PostgreSQL: skipped (no --pg-url)", "postgresql", None, None, "",
                            "", None))  # fmt: skip
        rows.append(bench_mlflow(tmp, 20 if args.quick else 100))
    render(rows)


if __name__ == "__main__":
    main()

"""What earns its complexity on a run's path (issue 13): each choice measured against its
simpler alternative in the same process, calls alternating so a slow spell hits both alike.

    python benchmarks/decisions.py [--quick] [--pg-url postgresql+psycopg://user@host/db]

* orjson beside json: ``insert_run`` of a run with a 300-key config, and the first page of 50
  such runs (their configs parsed), with ``mangodb.codecs.jsontext`` as shipped (orjson for
  the common case) and with the json module alone.
* Driver-level SQL in ``mangodb.runs.inserts.insert_run_rows`` against the same inserts in
  SQLAlchemy Core (``insert(table).returning(...)`` with a list of rows: SQLAlchemy's own
  multi-row "insertmanyvalues"): ``insert_run`` one by one and ``insert_runs`` in bulk.

Prints medians and the ratio alternative / shipped (above 1: the shipped choice is faster).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from runs import create  # type: ignore[import-not-found]  # benchmarks/runs.py, beside this
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from mangodb import RunCreate, RunRepository
from mangodb.codecs import jsontext
from mangodb.db.models import Run, RunEvent, RunObjective, RunTag
from mangodb.runs import inserts, loading

console = Console(width=max(Console().width, 130))


# -- the alternatives -------------------------------------------------------------------------
def json_only_plain_text(value: Any) -> str | None:
    return jsontext._plain_json_text(value)


@contextmanager
def json_module_only() -> Iterator[None]:
    """``jsontext`` without orjson: the json module writes and parses every document."""
    saved = jsontext.plain_text, jsontext.parse
    jsontext.plain_text, jsontext.parse = json_only_plain_text, json.loads  # type: ignore[assignment]
    try:
        yield
    finally:
        jsontext.plain_text, jsontext.parse = saved  # type: ignore[assignment]


def core_insert_run_rows(
    session: Session,
    runs: Sequence[RunCreate],
    rows: Sequence[dict[str, Any]],
    *,
    now: dt.datetime,
    source: str | None,
    host: str | None,
) -> list[dict[str, Any]]:
    """``inserts.insert_run_rows`` in SQLAlchemy Core."""
    connection = session.connection()
    runs_table = loading.table_of(Run)
    statement = insert(runs_table).returning(
        runs_table.c.id, runs_table.c.run_id, sort_by_parameter_order=True
    )
    pk_of = {run_id: pk for pk, run_id in connection.execute(statement, list(rows))}
    events, tags, objectives = [], [], []
    for create_ in runs:
        pk = pk_of[create_.run_id]
        events.append({"run_pk": pk, "at": now, "from_status": None,
                       "to_status": create_.status.value, "reason": "inserted",
                       "source": source, "host": host, "forced": False,
                       "applied": True})  # fmt: skip
        tags.extend({"run_pk": pk, "tag": tag} for tag in dict.fromkeys(create_.tags))
        objectives.extend({"run_pk": pk, "name": o.name, "metric": o.metric,
                           "direction": o.direction, "weight": o.weight, "target": o.target,
                           "value_kind": 0} for o in create_.objectives)  # fmt: skip
    for model, items in ((RunEvent, events), (RunTag, tags), (RunObjective, objectives)):
        if items:
            connection.execute(insert(loading.table_of(model)), items)
    return events


@contextmanager
def core_inserts() -> Iterator[None]:
    saved = inserts.insert_run_rows
    inserts.insert_run_rows = core_insert_run_rows
    try:
        yield
    finally:
        inserts.insert_run_rows = saved


@contextmanager
def shipped() -> Iterator[None]:
    yield


# -- measuring --------------------------------------------------------------------------------
Variant = Callable[[], Any]


def alternate(
    work: Callable[[Variant], float], variants: list[Variant], rounds: int
) -> list[float]:
    """Median of ``work(variant)`` per variant, rounds alternating."""
    found: list[list[float]] = [[] for _ in variants]
    for _ in range(rounds):
        for variant, spent in zip(variants, found, strict=True):
            spent.append(work(variant))
    return [statistics.median(spent) for spent in found]


class Bench:
    def __init__(self, repo: RunRepository, sizes: dict[str, int]) -> None:
        self.repo, self.sizes, self.serial = repo, sizes, 0

    def batch(self, n: int) -> list[RunCreate]:
        self.serial += 1
        return [create(i, f"d{self.serial}-{uuid.uuid4().hex[:6]}") for i in range(n)]

    def one_by_one(self, variant: Variant) -> float:
        """ms per ``insert_run``."""
        creates = self.batch(self.sizes["one"])
        with variant():
            started = time.perf_counter()
            for c in creates:
                self.repo.insert_run(c)
            return (time.perf_counter() - started) * 1000 / len(creates)

    def bulk(self, variant: Variant) -> float:
        """ms per run of ``insert_runs``."""
        creates = self.batch(self.sizes["bulk"])
        with variant():
            started = time.perf_counter()
            self.repo.insert_runs(creates)
            return (time.perf_counter() - started) * 1000 / len(creates)

    def first_page(self, variant: Variant) -> float:
        """ms for the first page of 50 runs (their configs parsed)."""
        with variant():
            spent = []
            for _ in range(5):
                started = time.perf_counter()
                self.repo.query_runs(gradient_method="mgda", status="completed", limit=50)
                spent.append((time.perf_counter() - started) * 1000)
            return statistics.median(spent)


def bench_dialect(name: str, repo: RunRepository, sizes: dict[str, int]) -> list[tuple[Any, ...]]:
    bench = Bench(repo, sizes)
    repo.insert_runs(create(i, "seed") for i in range(sizes["corpus"]))
    rounds = sizes["rounds"]
    rows: list[tuple[Any, ...]] = []
    for label, work in (
        ("insert_run, 300-key config (ms/run)", bench.one_by_one),
        ("query_runs first page of 50 (ms)", bench.first_page),
    ):
        ours, json_only = alternate(work, [shipped, json_module_only], rounds)
        rows.append(("orjson + json", "json only", label, name, ours, json_only))
    for label, work in (
        ("insert_run, 300-key config (ms/run)", bench.one_by_one),
        ("insert_runs bulk (ms/run)", bench.bulk),
    ):
        ours, core = alternate(work, [shipped, core_inserts], rounds)
        rows.append(("driver SQL", "SQLAlchemy Core", label, name, ours, core))
    return rows


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--pg-url", help="a PostgreSQL URL; a scratch schema is used and dropped")
    args = parser.parse_args()
    sizes = (
        {"rounds": 5, "one": 60, "bulk": 300, "corpus": 1000}
        if args.quick
        else {"rounds": 9, "one": 150, "bulk": 1000, "corpus": 4000}
    )
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        url = URL.create("sqlite", database=str(Path(directory) / "mangodb.sqlite3"))
        with RunRepository.connect(url) as repo:
            console.print("[bold]SQLite[/]: measuring…")
            rows += bench_dialect("sqlite", repo, sizes)
    if args.pg_url:
        with pg_schema(make_url(args.pg_url)) as url, RunRepository.connect(url) as repo:
            console.print("[bold]PostgreSQL[/]: measuring…")
            rows += bench_dialect("postgresql", repo, sizes)
    table = Table(title="shipped choice vs its simpler alternative (medians)")
    for column in ("shipped", "alternative", "case", "dialect", "shipped ms", "alternative ms",
                   "alternative / shipped"):  # fmt: skip
        table.add_column(column, justify="right" if "ms" in column or "/" in column else "left")
    for ours_name, other_name, label, dialect, ours, other in rows:
        table.add_row(ours_name, other_name, label, dialect, f"{ours:.3f}", f"{other:.3f}",
                      f"{other / ours:.2f}×")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()

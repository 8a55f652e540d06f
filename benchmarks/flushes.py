"""What one flush of a training loop costs: ``append_history`` of 10 new steps x 50 keys
(500 points), as ``track()``'s writer sends once a second, against the bare driver.

Workload: ``--runs`` runs (default 5) written round-robin, ``--flushes`` flushes each
(default 500: 5,000 steps, so every series fills a chunk and merges its open tail many
times). For SQLite (a temporary file) and PostgreSQL (``--pg-url``, a temporary schema) it
measures, per flush: wall time (median and p99), the client's CPU, and on PostgreSQL the
server backend's CPU (from ``/proc``: the server must run on this machine), for

* mangodb     ``RunRepository.append_history`` (a pool of one connection);
* bare rows   the bare driver (sqlite3 / psycopg) inserting the same 500 points as rows
              ``(run, key, step, value)`` with ``executemany`` in one transaction: a store
              that keeps one row per point, with nothing to read or merge.

PostgreSQL is measured twice: as usual, and with ``MANGODB_PGBOUNCER=1`` (and the bare
driver's ``prepare_threshold = None``), the statements a host sends through PgBouncer in
transaction mode, where nothing can be prepared. A last line gives what a host adds every
5 s (``heartbeat`` and ``update_objective_metric``).

Every figure is the median of ``--repeats`` (default 3) fresh databases. Run:
``python benchmarks/flushes.py [--pg-url postgresql+psycopg://postgres@127.0.0.1/test]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from history import Place, _begin, _commit, postgres_place, sqlite_place
from sqlalchemy.engine import make_url

from mangodb import RunRepository

KEYS = 50
STEPS = 10


def _flush(step: int) -> dict[str, tuple[list[int], list[float]]]:
    steps = list(range(step, step + STEPS))
    return {f"m/{k:02d}": (steps, [math.sin(s / 50 + k) for s in steps]) for k in range(KEYS)}


def _backend_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    flush: Callable[[int, int], None], runs: int, flushes: int, pid: int | None
) -> dict[str, float]:
    walls: list[float] = []
    cpu, server = time.process_time(), _backend_cpu(pid)
    for index in range(flushes):
        for run in range(runs):
            start = time.perf_counter()
            flush(run, index * STEPS)
            walls.append(time.perf_counter() - start)
    count = len(walls)
    walls.sort()
    return {
        "wall_p50": walls[count // 2] * 1000,
        "wall_p99": walls[int(count * 0.99)] * 1000,
        "client": (time.process_time() - cpu) / count * 1000,
        "server": (_backend_cpu(pid) - server) / count * 1000,
    }


def mangodb_flushes(place: Place, runs: int, flushes: int) -> dict[str, float]:
    repo = RunRepository.connect(place.url, pool_size=1, max_overflow=0)
    try:
        for run in range(runs):
            repo.insert_run(run_id=f"run-{run}")
            repo.insert_objective(f"run-{run}", name="loss", direction="min")
        pid = None
        if place.dialect == "postgresql":
            with repo.engine.connect() as connection:
                pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

        def flush(run: int, step: int) -> None:
            repo.append_history(f"run-{run}", _flush(step))

        result = _measure(flush, runs, flushes, pid)
        stored = repo.history_summary("run-0")
        assert sum(s.points for s in stored.values()) == KEYS * STEPS * flushes

        def beat(run: int, step: int) -> None:  # what a host adds every 5 s
            repo.heartbeat(f"run-{run}")
            repo.update_objective_metric(f"run-{run}", "loss", 1.0 / (step + 1), step=step)

        beats = _measure(beat, runs, max(1, flushes // 5), pid)
        result.update({f"beat_{name}": value for name, value in beats.items()})
        return result
    finally:
        repo.close()


def bare_rows_flushes(place: Place, runs: int, flushes: int) -> dict[str, float]:
    postgres = place.dialect == "postgresql"
    mark = "%s" if postgres else "?"
    connection = place.driver()
    if postgres and os.environ.get("MANGODB_PGBOUNCER"):
        connection.prepare_threshold = None  # as mangodb behind PgBouncer: nothing prepared
    connection.execute(
        "CREATE TABLE points (run INTEGER NOT NULL, key TEXT NOT NULL, step BIGINT NOT NULL, "
        f"value {'DOUBLE PRECISION' if postgres else 'REAL'}, PRIMARY KEY (run, key, step))"
    )
    pid = int(connection.execute("SELECT pg_backend_pid()").fetchone()[0]) if postgres else None
    _commit(place, connection)
    insert = f"INSERT INTO points (run, key, step, value) VALUES ({mark}, {mark}, {mark}, {mark})"

    def flush(run: int, step: int) -> None:
        rows = [
            (run, key, s, v)
            for key, (steps, values) in _flush(step).items()
            for s, v in zip(steps, values, strict=True)
        ]
        _begin(place, connection)
        connection.cursor().executemany(insert, rows)
        _commit(place, connection)

    try:
        return _measure(flush, runs, flushes, pid)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=None, help="PostgreSQL URL (skipped when absent)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flushes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    contestants: list[tuple[str, Callable[[Place, int, int], dict[str, float]], tuple[str, ...]]]
    contestants = [
        ("mangodb", mangodb_flushes, ("history_chunks", "history_series")),
        ("bare rows", bare_rows_flushes, ("points",)),
    ]
    print(f"# one flush = {STEPS} new steps x {KEYS} keys; {args.runs} runs x {args.flushes} "
          f"flushes, median of {args.repeats}; ms per flush")  # fmt: skip
    print("| database | contestant | wall p50 | wall p99 | client CPU | server CPU | "
          "client+server vs bare rows |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    # PostgreSQL twice: as usual (psycopg prepares repeated statements) and as behind
    # PgBouncer in transaction mode (MANGODB_PGBOUNCER=1: nothing prepared).
    dialects = ["sqlite"] + (["postgresql", "postgresql, unprepared"] if args.pg_url else [])
    for shown in dialects:
        dialect = shown.split(",")[0]
        if shown.endswith("unprepared"):
            os.environ["MANGODB_PGBOUNCER"] = "1"
        figures: dict[str, dict[str, float]] = {}
        for name, measure, tables in contestants:
            repeats: list[dict[str, float]] = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as directory:
                    place_of: Any = (
                        sqlite_place(Path(directory), name.replace(" ", "-"))
                        if dialect == "sqlite"
                        else postgres_place(make_url(args.pg_url), tables)
                    )
                    with place_of as place:
                        repeats.append(measure(place, args.runs, args.flushes))
            figures[name] = {k: statistics.median(r[k] for r in repeats) for k in repeats[0]}
        os.environ.pop("MANGODB_PGBOUNCER", None)
        bare = figures["bare rows"]
        for name, f in figures.items():
            ratio = (f["client"] + f["server"]) / (bare["client"] + bare["server"])
            print(f"| {shown} | {name} | {f['wall_p50']:.2f} | {f['wall_p99']:.2f} | "
                  f"{f['client']:.2f} | {f['server']:.2f} | {ratio:.2f}x |",
                  flush=True)  # fmt: skip
        f = figures["mangodb"]
        print(f"| {shown} | mangodb: heartbeat + objective update (every 5 s) | "
              f"{f['beat_wall_p50']:.2f} | {f['beat_wall_p99']:.2f} | {f['beat_client']:.2f} | "
              f"{f['beat_server']:.2f} | |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

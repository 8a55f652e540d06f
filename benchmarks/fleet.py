"""A fleet of training hosts writing to one PostgreSQL at once, direct and through PgBouncer.

Each simulated host does what ``track()`` does over a run's life, with its own
``RunRepository`` (its own connection pool, as a separate machine would have): insert at
launch, ``running``, a history append every second holding 10 steps of 50 keys (10 steps/s),
a heartbeat and an objective update every 5 seconds, and an end status. Hosts are threads
spread over a few processes, to fit a 2-core machine.

Printed per (hosts, mode): sustained points/s, append and heartbeat latency p50/p99, errors
(by type), points acknowledged vs stored (checked after, directly on PostgreSQL), and the most
server connections the database had at once, and where the machine's CPU went: the client
processes' own CPU seconds per second, and the rest of the machine's busy time (PostgreSQL,
PgBouncer) per second and per append. PgBouncer (Debian's package) is started on a free port
by tests/pgbouncer_support.py, in transaction mode with ``--pool`` server connections. The
hosts start spread evenly over ``--launch-window`` seconds (5: a fleet's hosts do not boot on
the same millisecond, so their flushes and heartbeats are not in step); ``0`` starts them all
at once. Every simulated host's client work runs on this machine too, so on a small machine
the clients take much of the CPU the server would otherwise have. Direct mode with more hosts
than ``max_connections`` uses up the server: run it where nothing else needs that server.

    python benchmarks/fleet.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        --hosts 50,200,500 --seconds 30
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import math
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pgbouncer_support import running_pgbouncer

from mangodb import RunRepository

KEYS = 50
STEPS_PER_SECOND = 10


def _host(url: str, run_id: str, seconds: float, start_at: float, out: dict[str, Any]) -> None:
    appends: list[float] = out["append"]
    beats: list[float] = out["heartbeat"]
    errors: collections.Counter[str] = out["errors"]
    acked = 0
    time.sleep(max(0.0, start_at - time.time()))
    try:
        repo = RunRepository.connect(url)
    except Exception as error:  # the failure a user meets at launch: counted, reported
        errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
        return
    try:
        repo.insert_run(run_id=run_id, gradient_method="pcgrad", instance_id=f"i-{run_id}")
        repo.insert_objective(run_id, name="loss", direction="min")
        repo.update_run_status(run_id, "running")
        step = 0
        began = time.monotonic()
        next_flush = began + 1.0
        next_beat = began + 5.0
        while time.monotonic() - began < seconds:
            now = time.monotonic()
            if now < next_flush:
                time.sleep(min(next_flush, next_beat) - now)
                continue
            steps = list(range(step, step + STEPS_PER_SECOND))
            columns: dict[str, list[Any]] = {"_step": steps}
            for k in range(KEYS):
                columns[f"m/{k:02d}"] = [math.sin(s / 50 + k) for s in steps]
            t0 = time.perf_counter()
            try:
                repo.append_history(run_id, columns)
                acked += len(steps) * KEYS
                step += STEPS_PER_SECOND
            except Exception as error:
                errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
            appends.append(time.perf_counter() - t0)
            next_flush += 1.0
            if time.monotonic() >= next_beat:
                t0 = time.perf_counter()
                try:
                    repo.heartbeat(run_id)
                    repo.update_objective_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                except Exception as error:
                    errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
                beats.append(time.perf_counter() - t0)
                next_beat += 5.0
        repo.update_run_status(run_id, "completed")
    except Exception as error:
        errors[f"{type(error).__name__}: {str(error)[:160]}"] += 1
    finally:
        out["acked"][run_id] = acked
        repo.close()


def _process(
    url: str, run_ids: list[str], seconds: float, starts: list[float], queue: Any
) -> None:
    out: dict[str, Any] = {
        "append": [], "heartbeat": [], "errors": collections.Counter(), "acked": {},
    }  # fmt: skip
    threads = [
        threading.Thread(target=_host, args=(url, r, seconds, start, out))
        for r, start in zip(run_ids, starts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["cpu"] = sum(os.times()[:2])  # this process's CPU seconds: the clients' work
    queue.put(out)


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting on I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - fields[3] - fields[4]) / ticks


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _ConnectionWatch:
    """Counts the database's server connections over one admin connection opened before the
    fleet starts (a new one could be refused once the fleet has used every slot)."""

    def __init__(self, admin: URL, database: str) -> None:
        self.engine = create_engine(admin, pool_size=1, max_overflow=0)
        self.connection = self.engine.connect()
        self.database = database

    def count(self) -> int:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d")
        try:
            value = self.connection.scalar(query, {"d": self.database})
            self.connection.rollback()
            return int(value or 0)
        except Exception:  # counted as nothing this time; the next poll tries again
            return 0

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def measure(
    admin: URL,
    hosts: int,
    mode: str,
    seconds: float,
    processes: int,
    pool: int,
    launch_window: float,
) -> dict[str, Any]:
    database = f"fleet_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    direct = admin.set(database=database)
    RunRepository.connect(direct).close()  # migrate once, as a deploy job would
    stack = contextlib.ExitStack()
    try:
        if mode == "pgbouncer":
            assert admin.host and admin.port
            bouncer = stack.enter_context(
                running_pgbouncer(server_host=admin.host, server_port=admin.port, pool_size=pool)
            )
            url = bouncer.url(database)
            os.environ["MANGODB_PGBOUNCER"] = "1"
        else:
            url = direct.render_as_string(hide_password=False)
            os.environ.pop("MANGODB_PGBOUNCER", None)
        run_ids = [f"host-{n:04d}" for n in range(hosts)]
        queue: Any = multiprocessing.get_context("fork").Queue()
        start_at = time.time() + 2.0
        # Launches spread evenly over the window: the hosts of a fleet do not boot on the same
        # millisecond, so their flushes and heartbeats are not in step either.
        starts = [start_at + launch_window * n / hosts for n in range(hosts)]
        workers = [
            multiprocessing.get_context("fork").Process(
                target=_process,
                args=(url, run_ids[p::processes], seconds, starts[p::processes], queue),
            )
            for p in range(processes)
        ]
        busy = _machine_busy()
        for worker in workers:
            worker.start()
        peak = 0
        watch = _ConnectionWatch(admin.set(database="postgres"), database)
        stack.callback(watch.close)
        began = time.monotonic()
        results = []
        while len(results) < processes:
            peak = max(peak, watch.count())
            with contextlib.suppress(Exception):
                results.append(queue.get(timeout=0.5))
        wall = time.monotonic() - began - 2.0
        for worker in workers:
            worker.join()
        busy = _machine_busy() - busy
        client_cpu = sum(r["cpu"] for r in results)
        appends = [v for r in results for v in r["append"]]
        beats = [v for r in results for v in r["heartbeat"]]
        errors: collections.Counter[str] = collections.Counter()
        acked: dict[str, int] = {}
        for r in results:
            errors.update(r["errors"])
            acked.update(r["acked"])
        with RunRepository.connect(direct) as repo:
            stored = {
                run_id: sum(s.points for s in repo.history_summary(run_id).values())
                for run_id in acked
                if repo.run_exists(run_id)
            }
        lost = sum(max(0, acked[r] - stored.get(r, 0)) for r in acked)
        extra = sum(max(0, stored.get(r, 0) - acked[r]) for r in acked)
        return {
            "hosts": hosts, "mode": mode, "points_per_s": sum(acked.values()) / max(wall, 1e-9),
            "append_p50": _percentile(appends, 0.5) * 1000,
            "append_p99": _percentile(appends, 0.99) * 1000,
            "beat_p50": _percentile(beats, 0.5) * 1000, "beat_p99": _percentile(beats, 0.99) * 1000,
            "appends": len(appends), "errors": errors, "acked": sum(acked.values()), "lost": lost,
            "extra": extra, "peak_connections": peak, "hosts_started": len(stored),
            "client_cpu_per_s": client_cpu / max(wall, 1e-9),
            "server_cpu_per_s": (busy - client_cpu) / max(wall, 1e-9),
            "server_ms_per_append": (busy - client_cpu) / max(len(appends), 1) * 1000,
        }  # fmt: skip
    finally:
        stack.close()
        os.environ.pop("MANGODB_PGBOUNCER", None)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


_FIGURES = (
    "points_per_s", "append_p50", "append_p99", "beat_p50", "beat_p99", "acked", "lost",
    "peak_connections", "client_cpu_per_s", "server_cpu_per_s", "server_ms_per_append",
)  # fmt: skip


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over ``runs`` (errors: the median count, kept as a Counter)."""
    middle = dict(runs[0])
    for name in _FIGURES:
        middle[name] = statistics.median(r[name] for r in runs)
    errors = statistics.median(sum(r["errors"].values()) for r in runs)
    middle["errors"] = collections.Counter({"errors": errors})
    return middle


def _row(r: dict[str, Any], label: str) -> None:
    errors = sum(r["errors"].values())
    mode = f"{r['mode']} ({label})" if label else r["mode"]
    print(f"| {r['hosts']} | {mode} | {r['points_per_s']:,.0f} | "
          f"{r['append_p50']:.0f} / {r['append_p99']:.0f} | "
          f"{r['beat_p50']:.0f} / {r['beat_p99']:.0f} | {errors:g} | "
          f"{r['acked']:,.0f} | {r['lost']:g} | {r['peak_connections']:g} | "
          f"{r['client_cpu_per_s']:.2f} | {r['server_cpu_per_s']:.2f} "
          f"({r['server_ms_per_append']:.2f}) |",
          flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--hosts", default="50,200,500", help="comma-separated fleet sizes")
    parser.add_argument("--modes", default="pgbouncer,direct")
    parser.add_argument("--seconds", type=float, default=30.0, help="training time per host")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--pool", type=int, default=20, help="PgBouncer server connections")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per row; the median of each figure is shown"
    )
    parser.add_argument(
        "--launch-window", type=float, default=5.0, help="seconds over which the hosts start"
    )
    args = parser.parse_args()
    admin = make_url(args.pg_url)
    with create_engine(admin).connect() as connection:
        max_connections = connection.scalar(text("SHOW max_connections"))
    print(f"# fleet on PostgreSQL {admin.host}:{admin.port} (max_connections = {max_connections}),"
          f" {os.cpu_count()} cores, {args.seconds:g} s per host, {KEYS} keys x "
          f"{STEPS_PER_SECOND} steps/s, one append per second, PgBouncer pool {args.pool}; "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print("| hosts | mode | points/s | append p50 / p99 ms | heartbeat p50 / p99 ms | errors |"
          " acked | lost | server conns | client CPU s/s |"
          " server CPU s/s (ms/append) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failures = []
    for hosts in (int(h) for h in args.hosts.split(",")):
        for mode in args.modes.split(","):
            runs = []
            for _ in range(args.repeat):
                r = measure(
                    admin, hosts, mode, args.seconds, args.processes, args.pool, args.launch_window
                )
                runs.append(r)
                if args.repeat > 1:
                    _row(r, "run")
                for message, count in r["errors"].most_common(3):
                    failures.append(f"{hosts} {mode}: {count} x {message}")
            _row(_median(runs), "median" if args.repeat > 1 else "")
    if failures:
        print("\nerrors met (most common first):")
        for line in failures:
            print(f"- {line}")


if __name__ == "__main__":
    main()

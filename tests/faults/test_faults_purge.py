"""kill -9 during `mangodb runs purge`, on SQLite and on PostgreSQL: whatever moment the purge
dies at, every run left is whole (its events, objective, history series and every point),
nothing is orphaned, SQLite passes `PRAGMA integrity_check`, and running the purge again
finishes the job without touching the runs it must keep.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from faults.fault_figures import record, sized
from faults.fault_tools import MANGODB, mangodb_cli
from mangodb import RunCreate, RunRepository

pytestmark = pytest.mark.faults

KEYS, POINTS = 2, 200
OLD = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
ORPHANS = {
    "history_chunks": "SELECT count(*) FROM history_chunks c WHERE NOT EXISTS "
    "(SELECT 1 FROM history_series s WHERE s.id = c.series_id)",
    **{
        table: f"SELECT count(*) FROM {table} x WHERE NOT EXISTS "
        "(SELECT 1 FROM runs r WHERE r.id = x.run_pk)"
        for table in ("history_series", "run_events", "run_objectives", "run_tags")
    },
}


def _build(url: URL, old: int, keep: int) -> None:
    with RunRepository.connect(url) as repo:
        repo.insert_runs(
            [RunCreate(run_id=f"old-{i:04d}", status="completed", created_at=OLD, tags=["t"])
             for i in range(old)]
            + [RunCreate(run_id=f"keep-{i:04d}", status="completed") for i in range(keep)]
        )  # fmt: skip
        steps = list(range(POINTS))
        run_ids = [f"old-{i:04d}" for i in range(old)] + [f"keep-{i:04d}" for i in range(keep)]
        for run_id in run_ids:
            repo.insert_objective(run_id, name="seg", direction="max")
            repo.record_event(run_id, "checkpoint written")
            values = {f"k{k}": [s * 0.5 + k for s in steps] for k in range(KEYS)}
            repo.append_history(run_id, {"_step": steps, **values})


def _count(url: URL, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text(sql)) or 0)
    finally:
        engine.dispose()


def _check_whole(url: URL) -> int:
    """Every run left is whole and nothing is orphaned; returns the runs left."""
    for table, sql in ORPHANS.items():
        assert _count(url, sql) == 0, f"orphaned rows in {table}"
    if url.get_backend_name() == "sqlite":
        bad = "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"
        assert _count(url, bad) == 0
    with RunRepository.connect(url) as repo:
        runs = repo.query_runs(limit=None)
        for run in runs:
            summary = repo.history_summary(run.run_id)
            assert {k: s.points for k, s in summary.items()} == dict.fromkeys(
                [f"k{k}" for k in range(KEYS)], POINTS
            )
            assert [o.name for o in run.objectives] == ["seg"]
            assert run.tags == (("t",) if run.run_id.startswith("old") else ())
            assert len(run.events) >= 1
    return len(runs)


def _trials(url: URL, tag: str) -> None:
    old, keep = sized(30, 400), 5
    _build(url, old, keep)
    rng = random.Random(20261202)
    url_text = url.render_as_string(hide_password=False)
    command = [*MANGODB, "runs", "purge", "--older-than", "30d", "--batch", "3", "--yes",
               "--url", url_text]  # fmt: skip
    kills = 0
    for _ in range(sized(3, 20)):
        left = _count(url, "SELECT count(*) FROM runs")
        if left <= keep + 3:
            break
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while _count(url, "SELECT count(*) FROM runs") == left:  # deleting has begun
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the purge deleted nothing"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.15))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        finally:
            process.wait(timeout=60)
        _check_whole(url)
    done = mangodb_cli("runs", "purge", "--older-than", "30d", "--yes", "--url", url_text)
    assert done.returncode == 0, done.stderr
    assert _check_whole(url) == keep
    assert kills >= 1
    record(f"purge killed midway ({tag})", kills=kills, runs=old, left_whole="yes")


def test_sigkilled_sqlite_purge_leaves_whole_runs(tmp_path: Path) -> None:
    _trials(URL.create("sqlite", database=str(tmp_path / "purge.sqlite3")), "sqlite")


def test_sigkilled_postgres_purge_leaves_whole_runs(cluster_url: URL) -> None:
    _trials(cluster_url, "postgresql")

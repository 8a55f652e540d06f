"""``mangodb db copy``: SQLite ⇄ PostgreSQL copies keep every row exactly (ids, timestamps,
NaN/±Inf, packed history bytes), resume after a kill, refuse a foreign target, and the final
verification catches a tampered row."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_pg_schema
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import URL
from typer.testing import CliRunner
from waiting import wait_for

from mangodb import CrashReportCreate, ObjectiveCreate, RunCreate, RunRepository
from mangodb.cli import app
from mangodb.cli.app import EXIT_VERIFY_FAILED
from mangodb.db.models import CopyState, HistoryChunk, Run
from mangodb.errors import TargetNotEmpty
from mangodb.transfer import copy_database, verify_tables
from mangodb.transfer.copy import dry_run_plan

METHODS = ("mgda", "pcgrad", "nash_mtl", None)
BASE_TIME = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
SPECIALS = (math.nan, math.inf, -math.inf, -0.0, 1e20, 5e-324)


def _url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _run_create(prefix: str, i: int) -> RunCreate:
    return RunCreate(
        run_id=f"{prefix}-{i:04d}",
        gradient_method=METHODS[i % len(METHODS)],
        created_at=BASE_TIME + dt.timedelta(seconds=i, microseconds=i),
        batch_size=32 * (1 + i % 4),
        learning_rate=10.0 ** -(1 + i % 5),
        is_spot=bool(i % 2),
        config={
            "model": {"depth": i % 7, "name": f"net-{i % 3}", "dropout": 0.1 * (i % 3)},
            "data": {"batch_size": 32 * (1 + i % 4), "augment": [1, "flip", None, True]},
            "special": SPECIALS[i % len(SPECIALS)],
            "ünïcode": "ключ ✓",
        },
        objectives=[
            ObjectiveCreate(name="hop", metric="val/hop", direction="min"),
            ObjectiveCreate(name="seg", metric="val/seg", direction="max", weight=0.5),
        ],
        tags=["sweep-a", f"group-{i % 3}"],
    )


def _add_history(repo: RunRepository, run_id: str, steps: int = 700) -> None:
    """History through the history engine: a few thousand points in several appends (so
    several packed chunks per key), NaN/±Inf/-0.0 values, and a non-numeric key."""
    for start in range(0, steps, 250):
        chunk = range(start, min(start + 250, steps))
        repo.append_history(
            run_id,
            {
                "train/loss": (
                    list(chunk),
                    [SPECIALS[s % 4] if s % 97 == 0 else 1 / (s + 1) for s in chunk],
                ),
                "lr": (list(chunk), [1e-3 * 0.99**s for s in chunk]),
            },
        )
    repo.append_history(run_id, [{"_step": steps, "sample": "a text value", "lr": -0.0}])


def build_source(url: URL, *, runs: int = 80, prefix: str = "run", detailed: int = 16) -> list[str]:
    """A database with everything a run can carry: configs with special floats, final
    metrics with NaN/±Inf, events from a lifecycle, crash reports, conversations, history."""
    with RunRepository.connect(url, source="launcher") as repo:
        repo.insert_runs(_run_create(prefix, i) for i in range(runs))
        ids = [f"{prefix}-{i:04d}" for i in range(runs)]
        for i, run_id in enumerate(ids[: min(detailed, runs)]):
            repo.update_run_status(run_id, "running", wandb_run_id=f"w{i}")
            if i % 3 == 0:
                repo.update_run_status(
                    run_id,
                    "completed",
                    final_metrics={
                        "val/loss": 0.1 * i,
                        "val/nan": math.nan,
                        "val/inf": math.inf,
                        "val/ninf": -math.inf,
                        "val/negzero": -0.0,
                        "steps": 1000 + i,
                        "note": "ok",
                    },
                    ended_at=BASE_TIME + dt.timedelta(hours=1, microseconds=7),
                    total_training_steps=1000 + i,
                )
                repo.update_objective_metric(run_id, "hop", SPECIALS[i % 4], step=10)
                repo.update_objective_metric(run_id, "seg", 0.5 + i, step=10)
            elif i % 3 == 1:
                repo.update_run_status(run_id, "failed", reason="CUDA out of memory")
                repo.attach_crash_data(
                    run_id,
                    CrashReportCreate(
                        error_log_s3_key=f"logs/{run_id}.txt",
                        error_type="OutOfMemoryError",
                        message="CUDA out of memory",
                        excerpt="Traceback ...\n" * 3,
                        details={"gpu": 0, "free": math.nan},
                    ),
                )
                repo.attach_conversation(run_id, f"s3://bucket/conv/{run_id}.json", title="why")
        for run_id in ids[:3]:
            _add_history(repo, run_id)
    return ids


def _canon(value: Any) -> Any:
    """Comparable form of a DTO dump: NaN equals NaN, -0.0 differs from 0.0, dicts unordered."""
    if isinstance(value, float):
        return ("f", value.hex())
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    return value


def read_all(url: URL, ids: list[str]) -> dict[str, Any]:
    """Every run as its DTO, and its whole history, in comparable form."""
    with RunRepository.connect(url) as repo:
        return {
            run_id: {
                "run": _canon(repo.get_run(run_id).model_dump()),
                "history": _canon({k: s.model_dump() for k, s in repo.get_history(run_id).items()}),
            }
            for run_id in ids
        }


@pytest.fixture
def other_pg_url(pg_admin_url: URL) -> Iterator[URL]:
    """A second PostgreSQL schema (for PostgreSQL → PostgreSQL copies)."""
    with fresh_pg_schema(pg_admin_url) as url:
        yield url


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_sqlite_to_postgres_copy_verifies_equal(sqlite_url: URL, pg_schema_url: URL) -> None:
    ids = build_source(sqlite_url)
    result = _invoke("db", "copy", _url_text(sqlite_url), _url_text(pg_schema_url),
                     "--batch-size", "37")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert read_all(pg_schema_url, ids) == read_all(sqlite_url, ids)
    copied = read_all(pg_schema_url, ids[:3])
    assert all(len(run["history"]["train/loss"]["steps"]) == 700 for run in copied.values())
    engine = create_engine(pg_schema_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(HistoryChunk)) >= 3 * 2


def test_ids_and_sequences_continue_after_a_copy(sqlite_url: URL, pg_schema_url: URL) -> None:
    build_source(sqlite_url, runs=20)
    assert copy_database(sqlite_url, pg_schema_url, batch_size=6).ok
    with RunRepository.connect(pg_schema_url) as repo:
        repo.insert_run(RunCreate(run_id="after-the-copy"))  # the id sequence moved past 20
        repo.update_run_status("after-the-copy", "running")
        assert repo.get_run("after-the-copy").events[-1].to_status == "running"
    engine = create_engine(pg_schema_url)
    with engine.connect() as connection:
        assert connection.scalar(select(Run.id).where(Run.run_id == "after-the-copy")) == 21
    engine.dispose()


def test_round_trip_sqlite_postgres_sqlite_keeps_every_dto(
    sqlite_url: URL, pg_schema_url: URL, tmp_path: Path
) -> None:
    ids = build_source(sqlite_url, runs=60)
    back = URL.create("sqlite", database=str(tmp_path / "back.sqlite3"))
    assert copy_database(sqlite_url, pg_schema_url, batch_size=25).ok
    assert copy_database(pg_schema_url, back, batch_size=25).ok
    original = read_all(sqlite_url, ids)
    assert read_all(back, ids) == original
    assert read_all(pg_schema_url, ids) == original
    completed = original["run-0000"]["run"]
    assert completed["final_metrics"]["val/nan"] == ("f", "nan")
    assert completed["final_metrics"]["val/ninf"] == ("f", "-inf")
    assert original["run-0001"]["run"]["crash_reports"][0]["details"]["free"] == ("f", "nan")
    loss = original["run-0000"]["history"]["train/loss"]["values"]
    assert loss[0] == ("f", "nan") and ("f", "-inf") in loss


def test_postgres_to_postgres_copy(pg_schema_url: URL, other_pg_url: URL, tmp_path: Path) -> None:
    seed = URL.create("sqlite", database=str(tmp_path / "seed.sqlite3"))
    ids = build_source(seed, runs=30)
    assert copy_database(seed, pg_schema_url).ok
    result = copy_database(pg_schema_url, other_pg_url, batch_size=11)
    assert result.ok and result.plan.mode == "fresh"
    assert read_all(other_pg_url, ids) == read_all(seed, ids)


def test_dry_run_prints_the_plan_and_writes_nothing(sqlite_url: URL, tmp_path: Path) -> None:
    build_source(sqlite_url, runs=10)
    target = tmp_path / "target.sqlite3"
    result = _invoke("db", "copy", "--dry-run", str(sqlite_url.database), str(target))
    assert result.exit_code == 0, result.output
    assert "runs" in result.output and "nothing was written" in result.output
    assert not target.exists()  # a dry run creates no file
    plan = dry_run_plan(sqlite_url, URL.create("sqlite", database=str(target)))
    assert {t.name: t.source_rows for t in plan.tables}["runs"] == 10
    assert not target.exists() and "target.sqlite3" in plan.target
    # An existing target is only read: its bytes are unchanged by a dry run.
    build_source(URL.create("sqlite", database=str(target)), runs=2, prefix="other")
    before = target.read_bytes()
    result = _invoke("db", "copy", "--dry-run", "--merge", str(sqlite_url.database), str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == before


def _tables(path: Path) -> list[str]:
    """The tables of the SQLite file at ``path``, none when there is no file (read-only: the
    check never creates one)."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return [name for (name,) in connection.execute("SELECT name FROM sqlite_master")]


def test_copy_refuses_a_target_with_other_runs(db_url: URL, tmp_path: Path) -> None:
    source = URL.create("sqlite", database=str(tmp_path / "source.sqlite3"))
    build_source(source, runs=5)
    with RunRepository.connect(db_url) as repo:
        repo.insert_run(RunCreate(run_id="someone-else"))
    with pytest.raises(TargetNotEmpty, match="--merge"):
        copy_database(source, db_url)
    result = _invoke("db", "copy", _url_text(source), _url_text(db_url))
    assert result.exit_code == 1
    assert "--merge" in result.output and "Traceback" not in result.output


def test_merge_adds_a_second_source_with_renumbered_ids(pg_schema_url: URL, tmp_path: Path) -> None:
    first = URL.create("sqlite", database=str(tmp_path / "a.sqlite3"))
    second = URL.create("sqlite", database=str(tmp_path / "b.sqlite3"))
    ids_a = build_source(first, runs=15, prefix="a")
    ids_b = build_source(second, runs=12, prefix="b")
    assert copy_database(first, pg_schema_url).ok
    merged = copy_database(second, pg_schema_url, merge=True, batch_size=4)
    assert merged.ok and merged.plan.mode == "merge"
    assert {t.name: t.id_offset for t in merged.plan.tables}["runs"] == 15

    def without_ids(runs: dict[str, Any]) -> dict[str, Any]:
        for run in runs.values():
            for report in run["run"]["crash_reports"]:
                report.pop("id")
        return runs

    assert read_all(pg_schema_url, ids_a) == read_all(first, ids_a)
    assert without_ids(read_all(pg_schema_url, ids_b)) == without_ids(read_all(second, ids_b))
    # A merge refuses run ids the target already has.
    with pytest.raises(TargetNotEmpty, match="a-0000"):
        copy_database(first, pg_schema_url, merge=True)


def test_verification_names_a_tampered_row(sqlite_url: URL, pg_schema_url: URL) -> None:
    build_source(sqlite_url, runs=20)
    assert copy_database(sqlite_url, pg_schema_url).ok
    engine = create_engine(pg_schema_url)
    with engine.begin() as connection:
        connection.execute(
            update(Run.__table__).where(Run.run_id == "run-0007").values(learning_rate=0.5)
        )
        connection.execute(
            update(HistoryChunk.__table__).where(HistoryChunk.id == 2).values(payload=b"tampered")
        )
    engine.dispose()
    checks = {c.table: c for c in verify_tables_between(sqlite_url, pg_schema_url)}
    assert not checks["runs"].ok and checks["runs"].source_rows == checks["runs"].target_rows
    assert checks["runs"].differences == ("runs 8: content differs",)
    assert checks["history_chunks"].differences == ("history_chunks 2: content differs",)
    assert checks["run_events"].ok
    # Re-running the copy resumes (all done), verifies, and fails with the verify exit code.
    result = _invoke("db", "copy", _url_text(sqlite_url), _url_text(pg_schema_url))
    assert result.exit_code == EXIT_VERIFY_FAILED
    assert "runs 8: content differs" in result.output


def verify_tables_between(source: URL, target: URL) -> list[Any]:
    from mangodb.db.engine import make_engine

    left, right = make_engine(source), make_engine(target)
    try:
        return verify_tables(left, right)
    finally:
        left.dispose()
        right.dispose()


def _copied(url: URL) -> tuple[int, int]:
    """(rows copied so far, tables done) according to the target's progress table."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            has = connection.scalar(text("SELECT to_regclass('mangodb_copy_state') IS NOT NULL"))
            if not has:
                return 0, 0
            rows, done = connection.execute(
                select(
                    func.coalesce(func.sum(CopyState.rows_copied), 0),
                    func.count().filter(CopyState.done),
                )
            ).one()
            return int(rows), int(done)
    finally:
        engine.dispose()


def test_copy_killed_midway_resumes_to_the_same_verified_result(
    sqlite_url: URL, pg_schema_url: URL
) -> None:
    ids = build_source(sqlite_url, runs=200)
    command = [sys.executable, "-c", "from mangodb.cli import main; main()", "db", "copy",
               _url_text(sqlite_url), _url_text(pg_schema_url), "--batch-size", "3"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def midway() -> bool:
            assert process.poll() is None, "the copy ended before it could be killed"
            return _copied(pg_schema_url)[0] >= 150

        wait_for(midway, "the copy to reach 150 runs", seconds=120, interval=0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    copied, done = _copied(pg_schema_url)
    assert copied >= 150 and done < 9  # killed midway: some rows in, not every table done
    resumed = copy_database(sqlite_url, pg_schema_url, batch_size=50)
    assert resumed.plan.mode == "resume"
    assert sum(resumed.copied_rows.values()) < sum(t.source_rows for t in resumed.plan.tables)
    assert resumed.ok, [c for c in resumed.checks if not c.ok]
    assert read_all(pg_schema_url, ids) == read_all(sqlite_url, ids)

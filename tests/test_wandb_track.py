"""Live tracking with real offline wandb: what mangodb holds equals what W&B wrote.

In-process runs cost ~0.4 s for the first ``wandb.init`` and little after it; the crash tests
run a training subprocess (SQLite only: the database is not what they test).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL
from test_wandb_reader import log_every_pattern, same
from waiting import wait_for

from mangodb import RunRepository
from mangodb.integrations.wandb import import_run, track
from mangodb.integrations.wandb import mirror as hook
from mangodb.integrations.wandb.keys import SYSTEM_KEYS
from mangodb.integrations.wandb.logfile import RunLog, read_run_log
from mangodb.status import RunStatus

wandb = pytest.importorskip("wandb")

ROOT = Path(__file__).resolve().parents[1]
TRAIN = Path(__file__).parent / "data" / "wandb" / "train.py"


def run_log(root: Path, *, complete: bool = True) -> RunLog:
    """The run's ``.wandb`` file. wandb-core may still be writing it when ``finish()`` (or the
    process) has returned: with ``complete``, wait (bounded) for its exit record."""
    (path,) = root.glob("wandb/*-run-*/run-*.wandb")
    if complete:
        wait_for(lambda: read_run_log(path).has_exit, f"wandb-core to write the end of {path.name}")
    return read_run_log(path)


def history_as_rows(repo: RunRepository, run_id: str) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for key, series in repo.get_history(run_id).items():
        for step, value in zip(series.steps, series.values, strict=True):
            rows.setdefault(step, {})[key] = value
    return rows


def assert_history_equals_file(repo: RunRepository, run_id: str, log: RunLog) -> None:
    stored = history_as_rows(repo, run_id)
    assert sorted(stored) == [row.step for row in log.history]
    for row in log.history:
        mine = {k: v for k, v in stored[row.step].items() if k not in SYSTEM_KEYS}
        theirs = {k: v for k, v in row.values.items() if k not in SYSTEM_KEYS}
        assert same(mine, theirs), f"step {row.step}: mangodb {mine} != file {theirs}"


def test_tracked_run_equals_the_wandb_file(repo: RunRepository, tmp_path: Path) -> None:
    run = wandb.init(project="mangodb-track", dir=str(tmp_path), config={"lr": 0.01})
    try:
        with track(run, repo, "tracked-1", heartbeat_seconds=0.05) as tracker:
            started = repo.get_run("tracked-1")
            assert started.status is RunStatus.RUNNING
            assert started.wandb_run_id == run.id and started.wandb_project == "mangodb-track"
            log_every_pattern(run)
            deadline = time.monotonic() + 10
            while repo.get_run("tracked-1").heartbeat_at == started.heartbeat_at:
                assert time.monotonic() < deadline, "no heartbeat from the background thread"
                time.sleep(0.05)
        assert tracker._beat is not None and tracker._beat.daemon
    finally:
        run.finish()
    log = run_log(tmp_path)
    assert_history_equals_file(repo, "tracked-1", log)
    stored = repo.get_run("tracked-1")
    assert stored.status is RunStatus.COMPLETED and stored.exit_code == 0
    drop = {"_runtime", "_wandb"}
    assert same(
        {k: v for k, v in stored.final_metrics.items() if k not in drop},
        {k: v for k, v in log.summary.items() if k not in drop},
    )
    assert stored.config == log.config
    # Importing the same file afterwards adds W&B's own _runtime only: no user point twice.
    result = import_run(repo, log.path)
    assert result.run_id == "tracked-1" and result.status is RunStatus.COMPLETED
    assert set(repo.history_keys("tracked-1")) - {"_runtime"} == set(
        k for row in log.history for k in row.values if k != "_runtime"
    )
    assert import_run(repo, log.path).points_written == 0
    assert_history_equals_file(repo, "tracked-1", log)


def test_exception_marks_failed_with_traceback_and_reraises(
    repo: RunRepository, tmp_path: Path
) -> None:
    run = wandb.init(project="mangodb-track", dir=str(tmp_path))
    try:
        with pytest.raises(ZeroDivisionError), track(run, repo, "boom-1"):
            run.log({"loss": 0.5})
            run.log({"loss": 0.25})
            _ = 1 / 0
    finally:
        run.finish(exit_code=1)
    stored = repo.get_run("boom-1")
    assert stored.status is RunStatus.FAILED and stored.exit_code == 1
    assert stored.error_summary is not None
    assert stored.error_summary.startswith("ZeroDivisionError: division by zero")
    assert "_ = 1 / 0" in stored.error_summary  # the traceback excerpt
    assert stored.events[-1].reason == "exception ZeroDivisionError"
    assert repo.get_history("boom-1")["loss"].values == [0.5, 0.25]
    assert hook.attached(run) is None  # the tracker no longer mirrors this run
    assert type(run)._log.__name__ == "_log"  # wandb's Run class is never patched


def start_training(tmp_path: Path, url: str, run_id: str, steps: int, mode: str) -> Any:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return subprocess.Popen(
        [sys.executable, str(TRAIN), str(tmp_path), url, run_id, str(steps), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


@pytest.fixture
def sqlite_repo(sqlite_url: URL) -> Any:
    with RunRepository.connect(sqlite_url) as repository:
        yield repository


def test_sigkill_mid_run_then_import_fills_the_rest(
    sqlite_repo: RunRepository, sqlite_url: URL, tmp_path: Path
) -> None:
    url = sqlite_url.render_as_string()
    process = start_training(tmp_path, url, "killed-1", 450, "sigkill")
    assert process.wait(timeout=120) == -signal.SIGKILL
    repo = sqlite_repo
    # Every flushed mirrored row is there: 4 flushes of 100 rows; the 50 buffered are lost.
    assert repo.get_history("killed-1")["loss"].steps == list(range(400))
    assert repo.get_run("killed-1").status is RunStatus.RUNNING
    log = run_log(tmp_path, complete=False)
    assert not log.has_exit and [r.step for r in log.history] == list(range(450))

    from typer.testing import CliRunner

    from mangodb.cli.app import app

    for _ in range(2):  # the second import finds nothing new
        outcome = CliRunner().invoke(app, ["import-wandb", str(tmp_path / "wandb"), "--url", url])
        assert outcome.exit_code == 0, outcome.output
    assert "0 new points" in outcome.output and "no exit record" in outcome.output
    loss = repo.get_history("killed-1")["loss"]
    assert loss.steps == list(range(450))  # filled in, each step once
    assert loss.values == [1.0 / (s + 1) for s in range(450)]
    assert repo.get_history("killed-1")["phase"].values[-1] == "epoch-4"
    stored = repo.get_run("killed-1")
    assert stored.status is RunStatus.CRASHED
    crash = stored.events[-1]
    assert crash.reason == "no exit record in .wandb file" and crash.source == "wandb-import"
    assert crash.details is not None and crash.details["evidence"] == crash.reason


def test_sigterm_terminates_and_the_process_dies_by_the_signal(
    sqlite_repo: RunRepository, sqlite_url: URL, tmp_path: Path
) -> None:
    url = sqlite_url.render_as_string()
    process = start_training(tmp_path, url, "term-1", 250, "sigterm")
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == -signal.SIGTERM  # died as it would have
    stored = sqlite_repo.get_run("term-1")
    assert stored.status is RunStatus.TERMINATED and stored.exit_code == 143
    assert stored.events[-1].reason == "signal SIGTERM"
    assert stored.ended_at is not None and stored.ended_at <= dt.datetime.now(dt.timezone.utc)
    assert sqlite_repo.get_history("term-1")["loss"].steps == list(range(250))
    assert stored.final_metrics["loss"] == 1.0 / 250
    log = run_log(tmp_path)  # finish() in the handler let wandb-core write its tail
    assert log.has_exit and log.exit_code == 143 and len(log.history) == 250
    again = import_run(sqlite_repo, log.path)
    assert again.status is RunStatus.TERMINATED and again.points_skipped >= 500


def test_sigterm_goes_on_to_the_previous_handler(
    sqlite_repo: RunRepository, sqlite_url: URL, tmp_path: Path
) -> None:
    url = sqlite_url.render_as_string()
    process = start_training(tmp_path, url, "term-2", 20, "sigterm-chained")
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 7
    assert process.stdout.read().strip() == "previous handler"
    stored = sqlite_repo.get_run("term-2")
    assert stored.status is RunStatus.TERMINATED and stored.events[-1].reason == "signal SIGTERM"
    assert sqlite_repo.get_history("term-2")["loss"].steps == list(range(20))


def test_example_runs_offline_end_to_end(sqlite_url: URL, tmp_path: Path) -> None:
    url = sqlite_url.render_as_string()
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "MANGODB_URL": url}
    script = ROOT / "examples" / "train_with_wandb.py"
    done = subprocess.run(
        [sys.executable, str(script), "--steps", "120", "--dir", str(tmp_path), "--run-id", "ex"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with RunRepository.connect(url) as repo:
        stored = repo.get_run("ex")
        history = repo.get_history("ex")
    assert stored.status is RunStatus.COMPLETED and stored.config == {"lr": 0.05}
    assert history["train/loss"].steps == list(range(120))
    assert history["val/loss"].steps == [0, 50, 100]
    assert stored.final_metrics["final/w"] == history["train/w"].values[-1]

"""The buffered writer: flush rules, threads, interpreter exit, and a SIGKILL mid-stream."""

from __future__ import annotations

import gc
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from mangodb import MangoDBError, RunNotFound, RunRepository


def test_flushes_every_n_rows_and_on_close(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=10, flush_seconds=3600)
    for step in range(25):
        writer.log({"loss": 1.0 / (step + 1), "lr": 0.1}, step=step)
    assert repo.history_keys("r") == {"loss": 20, "lr": 20}
    assert writer.pending == 5
    writer.close()
    assert repo.history_keys("r") == {"loss": 25, "lr": 25}
    assert repo.get_history("r")["loss"].values == [1.0 / (s + 1) for s in range(25)]
    with pytest.raises(MangoDBError, match="closed"):
        writer.log({"loss": 0.0})


def test_flushes_when_flush_seconds_passed(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with repo.history_writer("r", flush_every=1000, flush_seconds=0.05) as writer:
        writer.log({"loss": 1.0})
        time.sleep(0.1)
        writer.log({"loss": 0.5})  # due: both rows are written now
        assert writer.pending == 0
        assert repo.get_history("r")["loss"].steps == [0, 1]


def test_leaving_the_block_flushes_even_on_error(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with pytest.raises(RuntimeError), repo.history_writer("r", flush_every=1000) as writer:
        writer.log({"_step": 7, "loss": 1.0})
        writer.log({"loss": 2.0, "acc": "n/a"})
        raise RuntimeError("training diverged")
    history = repo.get_history("r")
    assert history["loss"].steps == [7, 8] and history["acc"].values == ["n/a"]


def test_a_failed_flush_keeps_the_rows(repo: RunRepository) -> None:
    writer = repo.history_writer("no-such-run", flush_every=1000)
    writer.log({"loss": 1.0})
    with pytest.raises(RunNotFound):
        writer.flush()
    assert writer.pending == 1
    repo.insert_run(run_id="no-such-run")
    writer.close()
    assert repo.history_keys("no-such-run") == {"loss": 1}


def test_a_writer_nobody_closed_flushes_when_collected(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=1000)
    writer.log({"loss": 0.25}, step=3)
    alive = weakref.ref(writer)
    del writer
    gc.collect()
    assert alive() is None  # the exit hook does not keep it alive
    assert repo.get_history("r")["loss"].steps == [3]


def test_threads_log_concurrently(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=50)

    def work(name: str) -> None:
        for step in range(300):
            writer.log({name: float(step)}, step=step)

    threads = [threading.Thread(target=work, args=(f"worker{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    history = repo.get_history("r")
    assert sorted(history) == [f"worker{i}" for i in range(4)]
    for series in history.values():
        assert series.steps == list(range(300)) and series.values == [float(s) for s in range(300)]


# -- separate processes (SQLite files) ---------------------------------------------------------
def _run(code: str, url: URL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, url.render_as_string(hide_password=False)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXIT_WITHOUT_CLOSE = """
import sys
from mangodb import RunRepository
repo = RunRepository.connect(sys.argv[1])
writer = repo.history_writer("r", flush_every=1000, flush_seconds=3600)
for step in range(7):
    writer.log({"loss": step / 10}, step=step)
"""


def test_interpreter_exit_flushes_open_writers(sqlite_url: URL) -> None:
    repo = RunRepository.connect(sqlite_url)
    repo.insert_run(run_id="r")
    process = _run(EXIT_WITHOUT_CLOSE, sqlite_url)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert repo.get_history("r")["loss"].values == [s / 10 for s in range(7)]
    repo.close()


FLUSH = 100
STREAM = f"""
import sys
from mangodb import RunRepository
repo = RunRepository.connect(sys.argv[1])
writer = repo.history_writer("crash", flush_every={FLUSH}, flush_seconds=3600)
step = 0
while True:
    writer.log({{"a": step * 0.5, "b": -float(step), "note": {{"step": step}}}}, step=step)
    step += 1
"""


def test_sigkill_mid_stream_leaves_whole_flushes_and_an_intact_file(sqlite_url: URL) -> None:
    repo = RunRepository.connect(sqlite_url)
    repo.insert_run(run_id="crash")
    process = _run(STREAM, sqlite_url)
    try:
        deadline = time.monotonic() + 120
        while repo.history_keys("crash").get("a", 0) < 20 * FLUSH:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the writer never flushed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    history = repo.get_history("crash")
    flushed = len(history["a"].steps)
    assert flushed >= 20 * FLUSH and flushed % FLUSH == 0  # whole flushes only
    expected = list(range(flushed))
    assert history["a"].steps == history["b"].steps == history["note"].steps == expected
    assert history["a"].values == [s * 0.5 for s in expected]
    assert history["b"].values == [-float(s) for s in expected]
    assert history["note"].values == [{"step": s} for s in expected]
    repo.append_history("crash", {"a": ([flushed], [0.0])})  # still writable
    repo.close()

    database = sqlite_url.database
    assert database is not None and Path(database).exists()
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

"""kill -9 anywhere: a writer process SIGKILLed at seeded random moments, on SQLite and on
PostgreSQL. Afterwards every acknowledged point reads back bit for bit, every flush is all or
nothing, and the SQLite file passes ``PRAGMA integrity_check``. ``mangodb db copy`` killed
midway resumes (it does not start again) and ends verified.
"""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from faults import fault_writer
from faults.fault_cluster import PgCluster
from faults.fault_figures import record, sized
from faults.fault_tools import MANGODB, copied_rows, mangodb_cli
from mangodb import RunCreate, RunNotFound, RunRepository

pytestmark = pytest.mark.faults

BLOCK = 37  # rows per explicit flush: a partial flush would leave a count not a multiple
SEED = 16


def _acknowledged(path: Path) -> int:
    lines = path.read_text().split("\n") if path.exists() else []
    complete = [line for line in lines[:-1] if line]  # the last line may be cut by the kill
    return int(complete[-1]) if complete else 0


def _kill_a_writer(url: URL, run_id: str, ack: Path, rng: random.Random) -> int:
    """Start a writer, SIGKILL it at a random moment, return the rows it had acknowledged."""
    script = Path(fault_writer.__file__)
    url_text = url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, str(script), url_text, run_id, str(ack), str(BLOCK)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0.05, 1.5))  # anywhere: imports, connect, insert, writing
        else:
            deadline = time.monotonic() + 120
            while _acknowledged(ack) == 0:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the writer acknowledged nothing"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    return _acknowledged(ack)


def _stored_rows(repo: RunRepository, run_id: str) -> int:
    """Rows stored for the run, checking every key has the same steps and exact bits."""
    try:
        history = repo.get_history(run_id)
    except RunNotFound:
        return 0
    if not history:
        return 0
    assert set(history) == set(fault_writer.KEYS)
    steps = list(history[fault_writer.KEYS[0]].steps)
    assert steps == list(range(len(steps))), "steps missing or repeated"
    for key in fault_writer.KEYS:
        assert list(history[key].steps) == steps, f"{key} has other steps: a partial flush"
        got = [struct.pack("<d", v) for v in history[key].values]
        assert got == [struct.pack("<d", fault_writer.value(s, key)) for s in steps], key
    return len(steps)


def _trials(url: URL, tmp_path: Path, dialect: str) -> None:
    with RunRepository.connect(url):
        pass  # the schema exists before the first kill
    rng = random.Random(f"{SEED}:{dialect}")
    trials = sized(6, 20)
    acknowledged = stored = 0
    for trial in range(trials):
        run_id = f"kill-{trial:02d}"
        ack = tmp_path / f"{run_id}.ack"
        acked = _kill_a_writer(url, run_id, ack, rng)
        if url.get_backend_name() == "sqlite":
            with sqlite3.connect(str(url.database)) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with RunRepository.connect(url) as repo:
            rows = _stored_rows(repo, run_id)
        assert rows >= acked, f"trial {trial}: {acked} rows acknowledged, {rows} stored"
        assert rows % BLOCK == 0, f"trial {trial}: {rows} rows stored, a partial flush"
        acknowledged += acked
        stored += rows
    record(f"kill -9 writer ({dialect})", trials=trials, points_acknowledged=acknowledged * 3,
           points_stored=stored * 3, lost=0)  # fmt: skip


def test_sigkilled_sqlite_writer_keeps_every_acknowledged_point(tmp_path: Path) -> None:
    _trials(URL.create("sqlite", database=str(tmp_path / "kill.sqlite3")), tmp_path, "sqlite")


def test_sigkilled_postgres_writer_keeps_every_acknowledged_point(
    cluster_url: URL, tmp_path: Path
) -> None:
    _trials(cluster_url, tmp_path, "postgresql")


def test_db_copy_killed_midway_resumes_and_verifies(
    pg_cluster: PgCluster, cluster_url: URL, tmp_path: Path
) -> None:
    source = URL.create("sqlite", database=str(tmp_path / "source.sqlite3"))
    runs = sized(800, 3000)
    with RunRepository.connect(source) as repo:
        repo.insert_runs(RunCreate(run_id=f"c-{i:05d}", config={"i": i}) for i in range(runs))
        for i in range(0, runs, 40):
            repo.append_history(f"c-{i:05d}", {"loss": [float(s) for s in range(50)]})
    rng = random.Random(f"{SEED}:copy")
    kill_at = rng.randint(runs // 4, runs // 2)
    target = cluster_url.render_as_string(hide_password=False)
    command = [*MANGODB, "db", "copy", source.render_as_string(), target,
               "--batch-size", "5"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while copied_rows(cluster_url) < kill_at:
            assert process.poll() is None, "the copy ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    before = copied_rows(cluster_url)
    rerun = mangodb_cli("db", "copy", source.render_as_string(), target, "--batch-size", "500")
    assert rerun.returncode == 0, rerun.stderr
    assert "(resume)" in rerun.stdout and "verified" in rerun.stdout
    match = re.search(r"copied ([\d,]+) rows", rerun.stdout)
    assert match, rerun.stdout
    again = int(match.group(1).replace(",", ""))
    assert before >= kill_at and again + before == copied_rows(cluster_url)
    record("db copy SIGKILLed midway", rows_before_kill=before, rows_after_resume=again,
           rerun="resumed, verified")  # fmt: skip

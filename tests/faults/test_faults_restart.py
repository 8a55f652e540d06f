"""PostgreSQL goes away under a training process: restarted (fast shutdown), then its
postmaster SIGKILLed. The caller never reconnects by hand: the same repository and the same
history writer carry on once the server is back, every acknowledged point is stored exactly
once, and every failed call raised one ``DatabaseUnavailable`` whose text hides the password.
``mangodb db copy`` across a restart ends verified or says how to resume, and a rerun resumes.
"""

from __future__ import annotations

import itertools
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster
from faults.fault_figures import record, sized
from faults.fault_tools import MANGODB, copied_rows, mangodb_cli
from mangodb import DatabaseUnavailable, RunCreate, RunRepository

pytestmark = pytest.mark.faults


def value_at(step: int) -> float:
    """A value whose bits depend on the step (exact comparison catches any rounding)."""
    return (step * 0.1 + 1e-9) * (-1.0) ** step


@dataclass
class Probe:
    """What one thread saw: successes (times), failures (errors), unexpected exceptions."""

    ok_times: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)

    def call(self, function: Callable[[], object]) -> bool:
        try:
            function()
        except DatabaseUnavailable as error:
            self.errors.append(error)
            return False
        except BaseException as error:  # anything else escaping is a failure of the test
            self.unexpected.append(error)
            return False
        self.ok_times.append(time.monotonic())
        return True

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time between two successes around [start, end]: the outage seen."""
        before = [t for t in self.ok_times if t <= start]
        inside = [t for t in self.ok_times if start < t <= end]
        after = [t for t in self.ok_times if t > end]
        times = before[-1:] + inside + after[:1]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("nan"))


def _training(repo: RunRepository, run_id: str, stop: threading.Event, probe: Probe,
              acked: list[int], logged: list[int]) -> None:  # fmt: skip
    """Log a row every few ms; every 20 rows ask for an explicit flush and, when it
    succeeds, count every row logged so far as acknowledged."""
    with repo.history_writer(run_id, flush_every=1_000_000, flush_seconds=0.2) as writer:
        step = 0
        while not stop.is_set():
            try:
                writer.log({"loss": value_at(step), "lr": float(step)}, step=step)
            except BaseException as error:  # log() never raises for a failed flush
                probe.unexpected.append(error)
                return
            logged.append(step)
            step += 1
            if step % 20 == 0 and probe.call(writer.flush):
                acked.append(step)
            time.sleep(0.002)
        # Leaving the block flushes the rest (the server is up by now).


def _heartbeats(repo: RunRepository, run_id: str, stop: threading.Event, probe: Probe) -> None:
    while not stop.is_set():
        probe.call(lambda: repo.heartbeat(run_id))
        time.sleep(0.02)


def _wait_for_more(acked: list[Any], probe: Probe, count: int = 3, seconds: float = 60) -> None:
    """Wait until the writer has had ``count`` more acknowledged flushes."""
    target = len(acked) + count
    deadline = time.monotonic() + seconds
    while len(acked) < target:
        assert not probe.unexpected, probe.unexpected
        assert time.monotonic() < deadline, "the writer did not come back"
        time.sleep(0.01)


def test_writer_and_heartbeats_survive_restart_and_killed_postmaster(
    pg_cluster: PgCluster, cluster_url: URL
) -> None:
    run_id = "restart-1"
    repo = RunRepository.connect(cluster_url)
    repo.insert_run(RunCreate(run_id=run_id, status="running"))
    stop = threading.Event()
    writer_probe, beat_probe = Probe(), Probe()
    acked: list[int] = []
    logged: list[int] = []
    threads = [
        threading.Thread(target=_training, args=(repo, run_id, stop, writer_probe, acked, logged)),
        threading.Thread(target=_heartbeats, args=(repo, run_id, stop, beat_probe)),
    ]
    for thread in threads:
        thread.start()
    outages: dict[str, float] = {}
    try:
        _wait_for_more(acked, writer_probe)
        events: list[tuple[str, Callable[[], None]]] = [
            ("restart -m fast", lambda: pg_cluster.restart("fast")),
            ("postmaster SIGKILL", pg_cluster.crash_and_start),
        ]
        for event, act in events:
            start = time.monotonic()
            act()
            end = time.monotonic()
            _wait_for_more(acked, writer_probe)  # the same writer, no reconnect by the caller
            _wait_for_more(beat_probe.ok_times, beat_probe)
            outages[event] = beat_probe.longest_gap(start, end)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        if pg_cluster.postmaster_pid() is None:
            pg_cluster.start()
    assert not any(thread.is_alive() for thread in threads)
    assert not writer_probe.unexpected and not beat_probe.unexpected, (
        writer_probe.unexpected + beat_probe.unexpected
    )
    # Every failure the caller saw is one typed error whose text hides the password.
    for error in writer_probe.errors + beat_probe.errors:
        assert isinstance(error, DatabaseUnavailable)
        assert pg_cluster.password not in str(error) and pg_cluster.password not in repr(error)

    # Every point logged (acknowledged ones first of all) is stored once, bit for bit.
    history = repo.get_history(run_id)
    repo.close()
    steps = list(history["loss"].steps)
    assert steps == sorted(set(steps)), "a step was stored twice"
    assert steps == logged
    assert set(range(acked[-1])) <= set(steps)
    packed = [struct.pack("<d", v) for v in history["loss"].values]
    assert packed == [struct.pack("<d", value_at(s)) for s in steps]
    assert list(history["lr"].values) == [float(s) for s in steps]
    record(
        "PostgreSQL restart under a writer",
        points_acknowledged=acked[-1],
        stored=len(steps),
        lost=len(set(range(acked[-1])) - set(steps)),
        duplicated=len(steps) - len(set(steps)),
        failed_calls=len(writer_probe.errors) + len(beat_probe.errors),
        outage_restart_s=outages["restart -m fast"],
        outage_postmaster_kill_s=outages["postmaster SIGKILL"],
    )
    print(f"outage seen: {outages}")


def _source_database(url: URL, runs: int) -> None:
    with RunRepository.connect(url) as repo:
        repo.insert_runs(
            RunCreate(run_id=f"copy-{i:05d}", status="completed", config={"i": i, "lr": 1e-3})
            for i in range(runs)
        )
        for i in range(0, runs, 50):
            repo.append_history(f"copy-{i:05d}", {"loss": [value_at(s) for s in range(30)]})


def _copy_across_a_restart(
    pg_cluster: PgCluster, cluster_url: URL, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], URL, str]:
    """Start ``mangodb db copy`` SQLite -> the cluster, restart the cluster midway, return
    the finished copy (its exit code and output), the source URL and the target text."""
    source = URL.create("sqlite", database=str(tmp_path / "source.sqlite3"))
    _source_database(source, runs=sized(1500, 5000))
    target = cluster_url.render_as_string(hide_password=False)
    command = [*MANGODB, "db", "copy", source.render_as_string(), target,
               "--batch-size", "5"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while copied_rows(cluster_url) < 200:
            assert process.poll() is None, "the copy ended before the restart"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        pg_cluster.restart("fast")
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert pg_cluster.password not in out + err
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    return done, source, target


def test_db_copy_across_a_restart_ends_verified_or_resumes(
    pg_cluster: PgCluster, cluster_url: URL, tmp_path: Path
) -> None:
    first, source, target = _copy_across_a_restart(pg_cluster, cluster_url, tmp_path)
    assert "Traceback" not in first.stderr
    if first.returncode == 0:
        assert "verified" in first.stdout
    else:
        assert first.returncode == 3, first.stderr  # unavailable, not a crash
        # One line: the database that went away ("cannot use database …" when a connection
        # is refused, "lost the connection to …" when the server closed it), then the remedy.
        errors = [line for line in first.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, first.stderr
        assert "cannot use database" in errors[0] or "lost the connection to" in errors[0]
        assert "run the same `mangodb db copy` command again to resume" in errors[0]
    rerun = mangodb_cli("db", "copy", source.render_as_string(), target, "--batch-size", "500")
    assert rerun.returncode == 0, rerun.stderr
    assert "(resume)" in rerun.stdout and "verified" in rerun.stdout
    record("db copy across a restart", first_exit=first.returncode, rerun="resumed, verified")


def test_db_copy_cut_by_a_restart_says_how_to_resume(
    pg_cluster: PgCluster, cluster_url: URL, tmp_path: Path
) -> None:
    first, _, _ = _copy_across_a_restart(pg_cluster, cluster_url, tmp_path)
    assert first.returncode == 3
    assert "again" in first.stderr or "resume" in first.stderr, first.stderr

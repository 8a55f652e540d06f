"""Many writer processes at once on one SQLite file and on one PostgreSQL database, each
doing seeded mixed operations (legal and illegal transitions, races on shared runs,
heartbeats, objectives, history through the buffered writer). Afterwards: every acknowledged
write is there, every run's applied events are one legal chain, every refusal is on record
(not applied), each shared run has exactly one winner, and no "database is locked" escaped.

``tests/test_concurrency.py`` races four roles on the same runs; this adds many processes,
many operation kinds and each process's own runs.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from faults import fault_worker
from faults.fault_figures import record, sized
from faults.fault_invariants import legal
from mangodb import RunCreate, RunRepository, RunStatus

pytestmark = pytest.mark.faults

SHARED = [f"shared-{i:02d}" for i in range(6)]


def _run_workers(url: URL, processes: int, ops: int, tmp_path: Path) -> list[dict[str, Any]]:
    with RunRepository.connect(url) as repo:
        repo.insert_runs(RunCreate(run_id=r, status="running") for r in SHARED)
    url_text = url.render_as_string(hide_password=False)
    script = str(Path(fault_worker.__file__))
    workers = [
        subprocess.Popen(
            [sys.executable, script, url_text, str(i), str(ops), json.dumps(SHARED), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    try:
        deadline = time.monotonic() + 180
        while len(list(tmp_path.glob("ready-*"))) < processes:
            assert all(w.poll() is None for w in workers), "a worker died before starting"
            assert time.monotonic() < deadline, "the workers did not all start"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=600)
            assert "database is locked" not in err
            assert worker.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return results


def _check(url: URL, results: list[dict[str, Any]]) -> dict[str, int]:
    refusals = Counter((run_id, target) for r in results for run_id, target in r["refused"])
    winners = Counter(run_id for r in results for run_id, _ in r["shared_won"])
    beaten = {run_id for r in results for run_id in r["heartbeats"]}
    counts = Counter[str]()
    with RunRepository.connect(url) as repo:
        for result in results:
            for run_id, status in result["status"].items():
                run = repo.get_run(run_id)
                assert run.status.value == status, f"{run_id}: lost a status update"
                counts["runs"] += 1
            for key, value in result["objectives"].items():
                run_id, name = key.split("/")
                objective = repo.get_run(run_id).objective(name)
                assert objective is not None and objective.value == value, key
                counts["objectives"] += 1
            steps = result["history_steps"]
            if steps:
                loss = repo.get_history(result["history_run"], ["loss"])["loss"]
                assert list(loss.steps) == list(range(steps)), "history lost or repeated"
                assert list(loss.values) == [s / 3 for s in range(steps)]
            counts["history_points"] += steps
        owned = [run_id for r in results for run_id in r["status"]]
        for run_id in owned + SHARED:
            run = repo.get_run(run_id)
            if run_id in beaten:
                assert run.heartbeat_at is not None, f"{run_id}: heartbeat lost"
            applied = [e for e in run.events if e.applied]
            chain: list[tuple[str | None, str]] = [
                (e.from_status.value if e.from_status else None, e.to_status.value)
                for e in applied
            ]
            assert chain[0][0] is None
            for (_, before), (after, to) in itertools.pairwise(chain):
                assert after == before, f"{run_id}: broken chain {chain}"
                assert legal(after, to), f"{run_id}: illegal {after} -> {to}"
            assert chain[-1][1] == run.status.value
            refused = [e for e in run.events if not e.applied]
            expected = sum(n for (r, _), n in refusals.items() if r == run_id)
            assert len(refused) == expected, f"{run_id}: {len(refused)} refusals on record"
            assert Counter(e.to_status.value for e in refused) == Counter(
                {t: n for (r, t), n in refusals.items() if r == run_id}
            )
            counts["events"] += len(run.events)
        for run_id in SHARED:
            run = repo.get_run(run_id)
            assert winners[run_id] <= 1, f"{run_id} won {winners[run_id]} times"
            assert (run.status is RunStatus.RUNNING) == (winners[run_id] == 0)
    counts["refused"] = sum(refusals.values())
    return dict(counts)


def test_many_writers_on_one_sqlite_file(tmp_path: Path) -> None:
    url = URL.create("sqlite", database=str(tmp_path / "many.sqlite3"))
    processes, ops = sized(4, 8), sized(100, 1000)
    counts = _check(url, _run_workers(url, processes, ops, tmp_path))
    record("many writers (sqlite)", processes=processes, operations=processes * ops, **counts,
           lost=0, violated_invariants=0)  # fmt: skip


def test_many_writers_on_postgres(cluster_url: URL, tmp_path: Path) -> None:
    processes, ops = sized(8, 32), sized(100, 1000)
    counts = _check(cluster_url, _run_workers(cluster_url, processes, ops, tmp_path))
    record("many writers (postgresql)", processes=processes, operations=processes * ops,
           **counts, lost=0, violated_invariants=0)  # fmt: skip

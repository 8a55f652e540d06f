"""Several processes update the same runs at once, on a SQLite file and on PostgreSQL.

A trainer completes runs, an exception handler fails them and a reaper crashes them, while
another process heartbeats and every process records its own objective and tag on every run.
Afterwards: every run is in exactly one terminal status chosen by exactly one winner, nothing
written by any process is lost, no error other than the expected refusals escaped, and each
run's applied events form one valid chain launched -> running -> final status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import URL

from mangodb import ObjectiveCreate, RunCreate, RunRepository, RunStatus
from mangodb.status import TERMINAL_STATUSES

RUNS = 24
WORKER = r"""
import datetime as dt, json, random, sys, time
from mangodb import InvalidTransition, RunRepository

url, role, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
start, runs = float(sys.argv[4]), json.loads(sys.argv[5])
repo = RunRepository.connect(url, source=role)
order = list(runs)
random.Random(index).shuffle(order)
while time.time() < start:
    time.sleep(0.005)
won, refused = [], 0
for run_id in order:
    repo.insert_objective(run_id, name=f"w{index}", direction="min")
    repo.update_objective_metric(run_id, f"w{index}", float(index) + 0.5, step=index)
    repo.set_tags(run_id, add=[f"seen-by-{index}"])
    if role == "heartbeat":
        for _ in range(3):
            repo.heartbeat(run_id)
        continue
    if role == "reaper":
        future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        won += [c.run_id for c in repo.reap_stale_runs(dt.timedelta(0), now=future)]
        continue
    target = {"trainer": "completed", "handler": "failed"}[role]
    try:
        repo.update_run_status(
            run_id, target, reason=role, expected_status="running",
            final_metrics={f"by_{role}": 1.0},
        )
        won.append(run_id)
    except InvalidTransition:
        refused += 1
print(json.dumps({"role": role, "won": won, "refused": refused}))
"""
ROLES = ["trainer", "handler", "reaper", "heartbeat"]


def _race(url: URL) -> list[dict[str, object]]:
    with RunRepository.connect(url) as repo:
        run_ids = [f"race-{i:02d}" for i in range(RUNS)]
        repo.insert_runs(
            RunCreate(run_id=r, status="running", objectives=[ObjectiveCreate(name="hop")])
            for r in run_ids
        )
    start = time.time() + 4.0  # every process connected and imported before anyone writes
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    url_text = url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url_text, role, str(i), str(start), json.dumps(run_ids)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i, role in enumerate(ROLES)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        assert "database is locked" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_concurrent_writers_on_the_same_runs(db_url: URL) -> None:
    results = _race(db_url)
    winners: dict[str, str] = {}
    for result in results:
        for run_id in result["won"]:  # type: ignore[attr-defined]
            assert run_id not in winners, f"{run_id} won twice"
            winners[run_id] = str(result["role"])
    final_of_role = {"trainer": "completed", "handler": "failed", "reaper": "crashed"}
    with RunRepository.connect(db_url) as repo:
        runs = repo.query_runs(name_prefix="race-")
        assert len(runs) == RUNS
        assert set(winners) == {r.run_id for r in runs}
        for run in runs:
            assert run.status in TERMINAL_STATUSES
            assert run.status.value == final_of_role[winners[run.run_id]]
            # No lost update: every process's objective and tag are there.
            for index in range(len(ROLES)):
                objective = run.objective(f"w{index}")
                assert objective is not None and objective.value == index + 0.5
                assert f"seen-by-{index}" in run.tags
            assert run.heartbeat_at is not None
            # A refused attempt still saves its data (by contract): the last writer's summary.
            assert run.final_metrics in ({"by_trainer": 1.0}, {"by_handler": 1.0})
            # The applied events form one chain; every refusal is on record, not applied.
            applied = [e for e in run.events if e.applied]
            assert [(e.from_status, e.to_status) for e in applied] == [
                (None, RunStatus.RUNNING),
                (RunStatus.RUNNING, run.status),
            ]
            assert applied[-1].source == winners[run.run_id]
            for event in run.events:
                if not event.applied:
                    assert event.from_status is run.status and event.to_status is not run.status
    refused = sum(int(r["refused"]) for r in results)  # type: ignore[call-overload]
    assert refused >= RUNS  # two status writers per run, one of them loses (or both do)

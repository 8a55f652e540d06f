"""``mangodb reap --loop`` (the reconciler) while PostgreSQL restarts: the loop carries on and
reaps runs that appear after the restart, or it stops with one line naming the unavailable
database (exit code 3, no traceback, password hidden). Every run ends exactly once.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster
from faults.fault_figures import record
from faults.fault_tools import MANGODB
from mangodb import RunCreate, RunRepository, RunStatus

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]
pytestmark = pytest.mark.faults

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _stopped_runs(repo: RunRepository, aws: AwsClients, prefix: str, count: int) -> list[str]:
    instances = aws.launch(count)
    aws.ec2.stop_instances(InstanceIds=instances)
    run_ids = [f"{prefix}-{i}" for i in range(count)]
    for run_id, instance in zip(run_ids, instances, strict=True):
        repo.insert_run(RunCreate(run_id=run_id, instance_id=instance, created_at=OLD))
    return run_ids


def _all_ended(repo: RunRepository, run_ids: list[str]) -> bool:
    return all(repo.get_run(r).status is RunStatus.TERMINATED for r in run_ids)


def test_reap_loop_across_a_restart(
    pg_cluster: PgCluster, cluster_url: URL, aws: AwsClients
) -> None:
    repo = RunRepository.connect(cluster_url)
    first = _stopped_runs(repo, aws, "before", 3)
    url = cluster_url.render_as_string(hide_password=False)
    command = [*MANGODB, "reap", "--url", url, "--loop", "0.3"]
    env = dict(os.environ, AWS_ENDPOINT_URL=aws.endpoint)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _all_ended(repo, first):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the first sweep did not reap"
            time.sleep(0.1)
        pg_cluster.restart("fast")
        second = _stopped_runs(repo, aws, "after", 3)  # the caller's pool reconnects by itself
        deadline = time.monotonic() + 60
        while process.poll() is None and not _all_ended(repo, second):
            assert time.monotonic() < deadline, "the loop neither reaped nor stopped"
            time.sleep(0.1)
        survived = process.poll() is None
        if survived:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert pg_cluster.password not in out + err
    assert "Traceback" not in err
    if not survived:
        assert process.returncode == 3, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
        rerun = subprocess.run(command[:-2], capture_output=True, text=True, env=env, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    for run_id in first + second:
        run = repo.get_run(run_id)
        applied = [e for e in run.events if e.applied and e.to_status is RunStatus.TERMINATED]
        assert run.status is RunStatus.TERMINATED and len(applied) == 1, run_id
    repo.close()
    record("reap --loop across a restart", loop="kept going" if survived else "stopped, exit 3",
           runs_ended_once=len(first + second))  # fmt: skip

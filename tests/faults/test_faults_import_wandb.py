"""``mangodb import-wandb`` while PostgreSQL restarts: it ends with every run imported, or it
stops with one line naming the unavailable database (exit code 3, no traceback, password
hidden); run again, it completes, and every logged point is stored exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster
from faults.fault_figures import record
from faults.fault_tools import MANGODB
from mangodb import RunRepository

wandb = pytest.importorskip("wandb")
pytestmark = pytest.mark.faults

RUNS, STEPS = 8, 4000


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """RUNS finished offline W&B runs logging ``loss = step / 3``: their directory, W&B ids."""
    root = tmp_path_factory.mktemp("wandb-faults")
    ids = []
    for _ in range(RUNS):
        run = wandb.init(project="mangodb-faults", dir=str(root))
        for step in range(STEPS):
            run.log({"loss": step / 3}, step=step)
        ids.append(run.id)
        run.finish()
    return root / "wandb", ids


def _imported(url: URL) -> int:
    try:
        with RunRepository.connect(url) as repo:
            return len(repo.query_runs(limit=100))
    except Exception:  # the server is restarting
        return 0


def _import_with_an_outage(
    pg_cluster: PgCluster,
    cluster_url: URL,
    runs: Path,
    outage: Callable[[subprocess.Popen[str]], None],
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run import-wandb into the cluster; once its first run is in, ``outage(process)``. The
    cluster is running again afterwards, whatever the outage did."""
    url = cluster_url.render_as_string(hide_password=False)
    command = [*MANGODB, "import-wandb", str(runs), "--url", url]
    with RunRepository.connect(cluster_url):
        pass  # the schema exists: the import starts writing at once
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _imported(cluster_url) < 1 and process.poll() is None:
            assert time.monotonic() < deadline, "the import stored nothing"
            time.sleep(0.005)
        outage(process)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()
        if pg_cluster.postmaster_pid() is None:
            pg_cluster.start()
    assert pg_cluster.password not in out + err
    return subprocess.CompletedProcess(command, process.returncode, out, err), command


def test_import_wandb_across_a_restart(
    pg_cluster: PgCluster, cluster_url: URL, offline_runs: tuple[Path, list[str]]
) -> None:
    runs, ids = offline_runs
    outage = lambda _: pg_cluster.restart("fast")  # noqa: E731
    process, command = _import_with_an_outage(pg_cluster, cluster_url, runs, outage)
    err = process.stderr
    assert "Traceback" not in err
    if process.returncode != 0:
        assert process.returncode == 3, err
        assert err.strip().splitlines()[-1].startswith("error: "), err
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with RunRepository.connect(cluster_url) as repo:
        for wandb_id in ids:
            loss = repo.get_history(wandb_id, ["loss"])["loss"]
            assert list(loss.steps) == list(range(STEPS)), f"{wandb_id}: lost or repeated steps"
            assert list(loss.values) == [s / 3 for s in range(STEPS)]
    record("import-wandb across a restart", runs=RUNS, points=RUNS * STEPS,
           first_exit=process.returncode, rerun="complete, nothing twice")  # fmt: skip


def test_import_wandb_cut_by_a_restart_says_how_to_resume(
    pg_cluster: PgCluster, cluster_url: URL, offline_runs: tuple[Path, list[str]]
) -> None:
    """The server goes away in the middle of the import for longer than the import waits.
    Made certain, not left to a race (the import of the eight runs can finish within a
    restart): the importer is paused once its first run is in, the server is stopped, and
    the importer goes on against no server. It stops with exit code 3 and says how to resume;
    with the server back, the same command completes."""
    runs, ids = offline_runs

    def outage(importer: subprocess.Popen[str]) -> None:
        importer.send_signal(signal.SIGSTOP)
        assert importer.poll() is None, "the import ended before the outage could cut it"
        pg_cluster.stop("fast")
        importer.send_signal(signal.SIGCONT)

    process, command = _import_with_an_outage(pg_cluster, cluster_url, runs, outage)
    out, err = process.stdout, process.stderr
    assert process.returncode == 3, (out, err)
    assert "Traceback" not in err
    assert "again" in err or "resume" in err, err
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with RunRepository.connect(cluster_url) as repo:
        assert sorted(r.wandb_run_id or "" for r in repo.query_runs(limit=100)) == sorted(ids)

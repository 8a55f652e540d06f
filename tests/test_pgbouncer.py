"""Every repository operation through a real PgBouncer in transaction pooling mode gives what the
same operation gives against PostgreSQL directly, with no prepared-statement or session-state
error, while several threads share a small server pool; `db copy` and `reap` work through it.

PgBouncer is Debian's package, started on a free port by tests/pgbouncer_support.py (`.ci/run`
installs it). In CI a missing PgBouncer fails these tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from conftest import REQUIRE_PG, require_postgres
from pgbouncer_support import Bouncer, require_pgbouncer, running_pgbouncer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from test_transfer import _invoke, _url_text, build_source, read_all

from mangodb import MangoDBError, RunCreate, RunRepository, RunStatus
from mangodb.dto import StatusUpdate

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]
MANGODB = [sys.executable, "-c", "from mangodb.cli import main; main()"]
OLD = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

POOL = 3  # server connections PgBouncer may open per database: small, so threads share them


@pytest.fixture(scope="module")
def bouncer(pg_admin_url: URL) -> Iterator[Bouncer]:
    require_postgres()
    require_pgbouncer(REQUIRE_PG)
    assert pg_admin_url.host and pg_admin_url.port
    with running_pgbouncer(
        server_host=pg_admin_url.host, server_port=pg_admin_url.port, pool_size=POOL
    ) as running:
        yield running


@pytest.fixture
def databases(
    bouncer: Bouncer, pg_admin_url: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[URL, URL]]:
    """A fresh database: its URL direct and through PgBouncer (with MANGODB_PGBOUNCER=1)."""
    name = f"pgb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    monkeypatch.setenv("MANGODB_PGBOUNCER", "1")
    try:
        yield pg_admin_url.set(database=name), make_url(bouncer.url(name))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _server_connections(direct: URL) -> int:
    engine = create_engine(direct.set(database="postgres"))
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                    {"d": direct.database},
                )
                or 0
            )
    finally:
        engine.dispose()


def _exercise(repo: RunRepository, prefix: str) -> dict[str, Any]:
    """Every public operation, each read repeated past psycopg's prepare threshold (5)."""
    mine = f"{prefix}-"
    ids = [f"{prefix}-{i:02d}" for i in range(12)]
    for i, run_id in enumerate(ids):
        repo.insert_run(
            run_id=run_id, gradient_method=("mgda", "pcgrad", "uniform")[i % 3], seed=i,
            instance_id=f"i-{prefix}-{i % 4}", config={"opt": {"lr": 10.0 ** -(i % 4)}, "n": i},
        )  # fmt: skip
        repo.insert_objective(run_id, name="seg", direction="max")
        repo.insert_objective(run_id, name="depth", direction="min")
    for i, run_id in enumerate(ids):
        repo.update_run_status(run_id, "running")
        repo.heartbeat(run_id)
        repo.update_objective_metric(run_id, "seg", 0.3 + i / 100, step=10)
        repo.update_objective_metric(run_id, "depth", math.nan if i == 5 else 1.0 - i / 50)
        repo.set_final_metrics(run_id, {"loss": 1.0 / (i + 1), "inf": math.inf, "tag": "x"})
        repo.append_history(
            run_id, {"_step": list(range(50)), "loss": [1 / (s + 1) for s in range(50)]}
        )
        with repo.history_writer(run_id, flush_every=7) as writer:
            for step in range(50, 80):
                writer.log({"loss": 1 / (step + 1), "acc": step / 100}, step=step)
        repo.set_tags(run_id, add=["pgb", f"g{i % 2}"])
    for run_id in ids[:6]:
        repo.update_run_status(run_id, "completed", reason="done")
    repo.update_run_status(ids[6], "crashed", reason="oom")
    repo.attach_crash_data(ids[6], error_type="OOM", message="out of memory", fingerprint="f1")
    repo.attach_conversation(ids[6], "s3://bucket/conv.json", title="analysis")
    repo.record_event(ids[7], "spot interruption warning", details={"in": "2 min"})
    changes = repo.transition_runs(
        [StatusUpdate(run_id=ids[8], status="crashed", reason="instance gone")]
    )
    reaped = repo.reap_stale_runs(
        grace=dt.timedelta(seconds=0), now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    )
    repo.delete_run(ids[11])
    result: dict[str, Any] = {
        "changed": [c.changed for c in changes],
        "reaped": sorted(c.run_id for c in reaped),
    }
    for _ in range(7):  # past psycopg's prepare threshold: a prepared statement would break here
        pages, cursor = [], None
        while True:
            page = repo.query_runs_page(
                limit=4, cursor=cursor, where="config.n >= 0", name_prefix=mine
            )
            pages.append([r.run_id for r in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        result["pages"] = pages
        result["count"] = repo.count_runs(gradient_method="mgda", name_prefix=mine)
        result["by_status"] = repo.count_by_status(name_prefix=mine)
        result["compare"] = [
            c.model_dump() for c in repo.compare_gradient_methods("seg", name_prefix=mine)
        ]
        # Its settings are local to its transaction (JIT, work_mem): fine in transaction mode.
        report = repo.method_report("uniform", where=f"run_id like '{mine}%'").model_dump()
        for row in report["rows"]:
            row.pop("delta_m_ci95")  # a bootstrap: its last digits follow the read order
        result["method_report"] = report
        result["by_objectives"] = [
            r.run_id
            for r in repo.query_runs_by_objectives(
                {"seg": {"min": 0.3, "max": 0.35}}, name_prefix=mine
            )
        ]
        result["instance"] = [r.run_id for r in repo.find_runs_by_instance(f"i-{prefix}-1")]
        result["without_crash"] = repo.runs_without_crash_data(status="crashed", name_prefix=mine)
        result["active"] = [
            sorted(r.run_id for r in batch) for batch in repo.iter_active_instance_runs()
        ]
        result["history"] = {
            k: s.model_dump() for k, s in repo.get_history(ids[0], max_points=20).items()
        }
        result["many"] = {
            run_id: series.model_dump()
            for run_id, series in repo.get_history_many(ids[:4], "loss").items()
        }
        result["keys"] = repo.history_keys(ids[1])
        result["summary"] = {k: s.model_dump() for k, s in repo.history_summary(ids[2]).items()}
        result["runs"] = [r.model_dump() for r in repo.query_runs(name_prefix=mine)]
    return result


def _canon(value: Any) -> Any:
    """NaN compares equal to NaN, so whole results can be compared with ==."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    return value


def test_every_operation_through_pgbouncer_matches_direct(databases: tuple[URL, URL]) -> None:
    direct, bounced = databases
    with RunRepository.connect(bounced) as repo:  # migrates the empty database through it
        through = _exercise(repo, "pgb")
    with RunRepository.connect(direct) as repo:
        history = repo.get_history("pgb-00", max_points=20)
        reads = {
            "runs": [r.model_dump() for r in repo.query_runs(name_prefix="pgb-")],
            "history": {k: s.model_dump() for k, s in history.items()},
            "by_status": repo.count_by_status(name_prefix="pgb-"),
        }
    assert _canon(reads["runs"]) == _canon(through["runs"])
    assert _canon(reads["history"]) == _canon(through["history"])
    assert reads["by_status"] == through["by_status"]
    assert [len(p) for p in through["pages"]] == [4, 4, 3]
    assert through["changed"] == [True]
    assert through["reaped"] == ["pgb-07", "pgb-09", "pgb-10", "pgb-11"]
    assert through["count"] == 4
    assert len(through["history"]["loss"]["steps"]) <= 20
    assert through["summary"]["loss"]["points"] == 80
    # the same work on PostgreSQL directly gives the same answers
    with RunRepository.connect(direct) as repo:
        again = _exercise(repo, "dir")
    for key in ("pages", "count", "changed", "keys", "without_crash", "by_objectives"):
        renamed = _canon(again[key])
        assert str(renamed).replace("dir-", "pgb-") == str(_canon(through[key])), key


def test_threads_share_a_small_server_pool_without_errors(databases: tuple[URL, URL]) -> None:
    """Twelve threads, each its own repository (as twelve hosts would be), through a pool of
    three server connections: no error, every point stored, never more than three server
    connections to the database."""
    direct, bounced = databases
    with RunRepository.connect(bounced) as repo:
        repo.insert_runs([])  # schema in place before the threads start
    errors: list[BaseException] = []
    peak = [0]
    stop = threading.Event()

    def host(n: int) -> None:
        try:
            with RunRepository.connect(bounced) as repo:
                run_id = f"host-{n:02d}"
                repo.insert_run(run_id=run_id, gradient_method="mgda")
                repo.update_run_status(run_id, "running")
                with repo.history_writer(run_id, flush_every=25) as writer:
                    for step in range(300):
                        writer.log({f"k{j}": step * j for j in range(10)}, step=step)
                        if step % 60 == 0:
                            repo.heartbeat(run_id)
                            repo.query_runs_page(limit=5, status="running")
                repo.update_run_status(run_id, "completed")
        except BaseException as error:
            errors.append(error)

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _server_connections(direct))
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=host, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    stop.set()
    watcher.join()
    assert not errors, errors[:3]
    with RunRepository.connect(direct) as repo:
        assert repo.count_by_status() == {"completed": 12}
        for n in range(12):
            summary = repo.history_summary(f"host-{n:02d}")
            assert {k: s.points for k, s in summary.items()} == {f"k{j}": 300 for j in range(10)}
    assert 1 <= peak[0] <= POOL


def test_db_copy_into_pgbouncer_verifies(databases: tuple[URL, URL], sqlite_url: URL) -> None:
    direct, bounced = databases
    ids = build_source(sqlite_url, runs=30)
    result = _invoke("db", "copy", _url_text(sqlite_url), _url_text(bounced), "--batch-size", "7")
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert read_all(direct, ids) == read_all(sqlite_url, ids)


def test_reap_command_through_pgbouncer(databases: tuple[URL, URL], aws: AwsClients) -> None:
    """`mangodb reap` against EC2 (moto's server) with the database behind PgBouncer."""
    direct, bounced = databases
    instances = aws.launch(3)
    aws.ec2.stop_instances(InstanceIds=instances[:2])
    with RunRepository.connect(bounced) as repo:
        for n, instance in enumerate(instances):
            repo.insert_run(RunCreate(run_id=f"reap-{n}", instance_id=instance, created_at=OLD))
    env = dict(os.environ, AWS_ENDPOINT_URL=aws.endpoint, MANGODB_PGBOUNCER="1")
    done = subprocess.run([*MANGODB, "reap", "--url", _url_text(bounced)], capture_output=True,
                          text=True, env=env, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with RunRepository.connect(direct) as repo:
        assert [repo.get_run(f"reap-{n}").status for n in range(3)] == [
            RunStatus.TERMINATED, RunStatus.TERMINATED, RunStatus.CRASHED,  # live, silent
        ]  # fmt: skip


def test_read_only_sessions_through_pgbouncer(databases: tuple[URL, URL]) -> None:
    """``connect(read_only=True)`` (what ``mangodb ui`` uses) through PgBouncer: PgBouncer
    refuses the ``options`` startup parameter that makes sessions read-only directly, so each
    transaction is made read-only instead, autocommit reads included. Reads work, and the
    server itself refuses every write, whichever pooled connection the transaction lands on."""
    _, pooled = databases
    with RunRepository.connect(pooled) as writer:
        writer.insert_run(RunCreate(run_id="r1", gradient_method="mgda"))
        writer.append_history("r1", {"loss": ([0, 1], [1.0, 0.5])})
    with RunRepository.connect(pooled, read_only=True) as reader:
        for _ in range(3):  # several transactions, over the pool's server connections
            assert reader.get_run("r1").gradient_method == "mgda"
            assert reader.count_runs(where="method = mgda") == 1
            assert reader.get_history("r1")["loss"].values == [1.0, 0.5]
            assert [r.run_id for r in reader.query_runs()] == ["r1"]
            with pytest.raises(MangoDBError, match="read-only"):
                reader.insert_run(RunCreate(run_id="r2"))
            with pytest.raises(MangoDBError, match="read-only"):
                reader.set_tags("r1", add=["x"])
        with reader.engine.connect() as connection:  # the session itself is left as it was
            assert connection.scalar(text("SHOW default_transaction_read_only")) == "off"
    with RunRepository.connect(pooled) as writer:
        writer.set_tags("r1", add=["after"])  # the pool's connections still take writes
        assert writer.get_run("r1").tags == ("after",)
        assert writer.count_runs() == 1

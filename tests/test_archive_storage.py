"""How archiving is stored (migration 0009): the triggers keep ``run_objectives``' copy of the
mark in step with ``runs.archived_at`` whoever writes it; the migration goes up and down with
data in place; the default questions stay index-only on the widened indexes; ``v_runs`` shows
the mark; and the CLI archives, lists and brings back. Both dialects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import RunCreate, RunRepository
from mangodb.cli import app
from mangodb.db import schema
from mangodb.db.engine import make_engine

COVERING = "ix_run_objectives_name_status_method_value_dir_pk_archived"


def _seed(repo: RunRepository, n: int = 6) -> None:
    for i in range(n):
        run_id = f"s{i}"
        repo.insert_run(RunCreate(run_id=run_id, gradient_method=("mgda", "pcgrad")[i % 2]))
        repo.insert_objective(run_id, name="hop")
        repo.update_objective_metric(run_id, "hop", float(i))
        repo.update_run_status(run_id, "running")
        repo.update_run_status(run_id, "completed")


@pytest.fixture
def seeded(db_url: URL) -> Iterator[RunRepository]:
    with RunRepository.connect(db_url) as repo:
        _seed(repo)
        yield repo


def _scalar(engine: Engine, sql: str) -> Any:
    with engine.begin() as connection:
        return connection.execute(text(sql)).scalar()


def _out_of_step(engine: Engine) -> int:
    """Objective rows whose copy of the mark differs from their run's."""
    differs = "IS DISTINCT FROM" if engine.dialect.name == "postgresql" else "IS NOT"
    sql = ("SELECT count(*) FROM run_objectives o JOIN runs r ON r.id = o.run_pk "
           f"WHERE o.run_archived_at {differs} r.archived_at")  # fmt: skip
    return int(_scalar(engine, sql))


def _marked(engine: Engine) -> int:
    sql = "SELECT count(*) FROM run_objectives WHERE run_archived_at IS NOT NULL"
    return int(_scalar(engine, sql))


def test_triggers_keep_the_objectives_copy_in_step(seeded: RunRepository) -> None:
    repo, engine = seeded, seeded.engine
    repo.archive_runs("method = mgda")
    assert _out_of_step(engine) == 0 and _marked(engine) == 3
    repo.insert_objective("s0", name="seg", direction="max")  # after archiving: marked too
    repo.update_objective_metric("s0", "seg", 0.5)
    assert _out_of_step(engine) == 0 and _marked(engine) == 4
    repo.update_run_status("s0", "failed", force=True)  # the status copy still follows
    assert _scalar(engine, "SELECT count(*) FROM run_objectives WHERE run_status = 'failed'") == 2
    with engine.begin() as connection:  # any writer, raw SQL included
        connection.execute(text("UPDATE runs SET archived_at = NULL WHERE run_id = 's2'"))
        connection.execute(
            text("UPDATE runs SET archived_at = CURRENT_TIMESTAMP WHERE run_id = 's1'")
        )
    assert _out_of_step(engine) == 0 and _marked(engine) == 4  # s2's row out, s1's in
    repo.unarchive_runs("run_id like 's%'")
    assert _out_of_step(engine) == 0 and _marked(engine) == 0


def test_migration_0009_down_and_up_with_data(db_url: URL) -> None:
    with RunRepository.connect(db_url) as repo:
        _seed(repo)
        repo.archive_runs("method = mgda")
    engine = make_engine(db_url)
    try:
        schema.downgrade(engine, "0008")
        assert _scalar(engine, "SELECT count(*) FROM runs") == 6
        assert _scalar(engine, "SELECT count(*) FROM v_runs") == 6  # 0006's view again
        with engine.begin() as connection:  # the 0003 triggers still copy status and method
            connection.execute(text("UPDATE runs SET status = 'failed' WHERE run_id = 's0'"))
        assert _scalar(engine, "SELECT run_status FROM run_objectives WHERE run_pk = "
                               "(SELECT id FROM runs WHERE run_id = 's0')") == "failed"  # fmt: skip
        schema.upgrade(engine)
        assert schema.schema_state(engine).is_current
        assert _scalar(engine, "SELECT count(*) FROM runs WHERE archived_at IS NOT NULL") == 0
    finally:
        engine.dispose()
    with RunRepository.connect(db_url) as repo:
        assert repo.count_runs() == 6
        assert len(repo.archive_runs("method = pcgrad").run_ids) == 3
        assert _out_of_step(repo.engine) == 0 and _marked(repo.engine) == 3


def test_v_runs_shows_the_mark_as_its_last_column(seeded: RunRepository, db_url: URL) -> None:
    seeded.archive_runs("run_id = 's1'")
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            result = connection.execute(text("SELECT * FROM v_runs ORDER BY run_id"))
            assert list(result.keys())[-1] == "archived_at"
            rows = list(result.mappings())
    finally:
        engine.dispose()
    assert [r["run_id"] for r in rows if r["archived_at"] is not None] == ["s1"]


def _statements(repo: RunRepository, ask: Any) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    event.listen(repo.engine, "before_cursor_execute", record)
    try:
        ask()
    finally:
        event.remove(repo.engine, "before_cursor_execute", record)
    return [(s, p) for s, p in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def _plan(repo: RunRepository, statement: str, params: Any) -> str:
    with repo.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if repo.dialect == "postgresql":
            cursor.execute("SET enable_seqscan = off")  # a table this small is scanned else
            cursor.execute("EXPLAIN " + statement, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
        return "\n".join(row[3] for row in cursor.fetchall())


def test_default_analysis_stays_index_only(seeded: RunRepository) -> None:
    """With archived runs hidden, method analysis still reads run_objectives alone through
    its covering index, and the runs per method and the counts read runs' indexes alone."""
    repo = seeded
    repo.archive_runs("run_id = 's0'")
    asked = _statements(repo, lambda: repo.method_report("pcgrad", where="status = completed"))
    asked += _statements(repo, lambda: repo.compare_gradient_methods("hop"))
    asked += _statements(repo, lambda: (repo.count_runs(), repo.count_runs(status="completed")))
    alone = [(s, p) for s, p in asked if "FROM run_objectives" in s and "JOIN" not in s
             and "FROM runs" not in s.split("FROM run_objectives")[0]]  # fmt: skip
    assert alone, "method analysis should read run_objectives alone"
    postgres = repo.dialect == "postgresql"
    for statement, params in alone:
        plan = _plan(repo, statement, params)
        if not postgres and "GROUP BY run_objectives.run_pk" in statement:
            # Δm's moments group each run's objectives (with scipy): SQLite walks the
            # (name, run_pk) index in run order, which measured faster than the covering
            # index plus a sort (mangodb/runs/method_report.py).
            assert "USING INDEX ix_run_objectives_name_run_pk_value" in plan, plan
            continue
        assert COVERING in plan, plan
        assert ("Index Only Scan" in plan) if postgres else ("COVERING INDEX" in plan), plan
    counts = [(s, p) for s, p in asked if s.lstrip().startswith("SELECT count(*)")]
    assert len(counts) == 2
    for statement, params in counts:
        plan = _plan(repo, statement, params)
        assert ("Index Only Scan" in plan) if postgres else ("COVERING INDEX" in plan), plan


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_archive_list_and_unarchive(seeded: RunRepository, db_url: URL) -> None:
    url = db_url.render_as_string(hide_password=False)
    dry = _invoke("runs", "archive", "method = mgda", "--dry-run", "--url", url)
    assert dry.exit_code == 0, dry.output
    assert "3 runs to archive" in dry.output and "s0" in dry.output
    assert "3 of 6 runs" not in _invoke("runs", "ls", "--url", url).output
    done = _invoke("runs", "archive", "method = mgda", "--url", url)
    assert done.exit_code == 0 and "archived 3 runs" in done.output, done.output
    listed = _invoke("runs", "ls", "--url", url)
    assert "3 of 3 runs" in listed.output and "s0" not in listed.output, listed.output
    assert "6 of 6 runs" in _invoke("runs", "ls", "--archived", "--url", url).output
    only = _invoke("runs", "ls", "archived_at is not null", "--url", url)
    assert "3 of 3 runs" in only.output and "s0" in only.output, only.output
    compared = _invoke("compare", "-o", "hop", "--json", "--url", url)
    assert [r["gradient_method"] for r in json.loads(compared.output)["hop"]] == ["pcgrad"]
    every = _invoke("compare", "-o", "hop", "--json", "--archived", "--url", url)
    assert [r["n"] for r in json.loads(every.output)["hop"]] == [3, 3]
    shown = _invoke("runs", "show", "s0", "--url", url)
    assert shown.exit_code == 0 and "archived" in shown.output, shown.output
    back = _invoke("runs", "unarchive", "run_id = 's0'", "--json", "--url", url)
    assert json.loads(back.output) == {"dry_run": False, "archived": False,
                                       "run_ids": ["s0"], "batches": 1}  # fmt: skip
    blank = _invoke("runs", "archive", " ", "--url", url)
    assert blank.exit_code != 0 and "never selects all" in blank.output

"""A query is built from its criteria when it runs: relative times mean "before now" at that
moment, in every call of a long-lived process; cursors and cut-offs are bound parameters, so
SQLAlchemy compiles a page's statement once per shape and reuses it for every page, and nothing
is kept per question or per page (both dialects)."""

from __future__ import annotations

import datetime as dt
import gc
import time
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from mangodb import RunCreate, RunRepository, RunStatus
from mangodb.language import parse, to_text
from mangodb.runs import cursors, planning
from mangodb.runs.filters import Ago, And, FieldFilter


def test_relative_times_are_evaluated_when_the_query_runs(repo: RunRepository) -> None:
    created = repo.insert_run(RunCreate(run_id="fresh")).created_at
    repo.insert_run(RunCreate(run_id="old", created_at=created - dt.timedelta(hours=1)))
    where = "created > 3s"
    for _ in range(3):  # asked again and again, as a dashboard does
        assert [r.run_id for r in repo.query_runs(where=where)] == ["fresh"]
        assert [r.run_id for r in repo.query_runs_page(where=where).items] == ["fresh"]
        assert repo.count_runs(where=where) == 1
    # Past the window (3 s after the run was created), the same question has another answer.
    time.sleep(max(0.0, (created + dt.timedelta(seconds=3.2) - _now()).total_seconds()))
    assert repo.query_runs(where=where) == []
    assert repo.query_runs_page(where=where).items == ()
    assert repo.count_runs(where=where) == 0
    assert [r.run_id for r in repo.query_runs(where="created > 1h")] == ["fresh"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _sql(criteria: dict[str, Any], cursor: str | None, dialect: str) -> tuple[str, list[Any]]:
    plan = planning.plan(criteria, dialect=dialect)
    page = planning.page_statement(plan, limit=5, cursor=cursor, dialect=dialect)
    compiled = page.statement.compile(
        dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    )
    return str(compiled), list(compiled.params.values())


def test_cut_offs_and_cursors_are_bound_parameters() -> None:
    """Two cursors, two moments of a relative time: the same SQL text, other parameters."""
    at = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    keys = [[(at + dt.timedelta(days=i)).isoformat(), i] for i in (1, 2)]
    tokens = [cursors.encode({"k": key}) for key in keys]
    for dialect in ("sqlite", "postgresql"):
        for criteria in ({"where": "created > 7d and status = completed"}, {"where": "seed = 3"}):
            first_sql, first_params = _sql(criteria, tokens[0], dialect)
            time.sleep(0.01)  # "7d" ago moves on
            second_sql, second_params = _sql(criteria, tokens[1], dialect)
            assert first_sql == second_sql
            assert first_params != second_params
            assert at.isoformat()[:10] not in first_sql and "2026" not in first_sql


def test_paging_reuses_one_compiled_statement_and_keeps_nothing(repo: RunRepository) -> None:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    repo.insert_runs(
        RunCreate(run_id=f"r{i:03d}", status=RunStatus.COMPLETED, config={"seed": i % 3},
                  created_at=start + dt.timedelta(seconds=i))
        for i in range(300)
    )  # fmt: skip
    criteria: dict[str, Any] = {"where": "created > 2h and status = completed"}
    other = repo.query_runs(config={"seed": 1}, limit=500)  # another question, asked before
    compiled_cache = repo.engine._compiled_cache  # SQLAlchemy's cache of compiled statements
    assert compiled_cache is not None

    def walk() -> list[str]:
        seen, cursor = [], None
        while True:
            page = repo.query_runs_page(limit=3, cursor=cursor, **criteria)
            seen.extend(r.run_id for r in page.items)
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    before = len(compiled_cache)
    assert walk() == [f"r{i:03d}" for i in reversed(range(300))]  # 100 pages: every run once
    compiled = len(compiled_cache)
    assert compiled - before <= 4  # the first page, the next ones (a cursor), their children
    assert walk() == [f"r{i:03d}" for i in reversed(range(300))]
    assert len(compiled_cache) == compiled  # the 100 pages added no compiled statement
    assert repo.query_runs(config={"seed": 1}, limit=500) == other
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, planning.PageStatement)]
    assert kept == []  # no statement is kept per question or per page


def test_a_question_asked_again_reuses_its_plan_and_its_page_statement() -> None:
    """The built statement is kept per question (not per page), and a caller changing its
    own criteria afterwards asks another question rather than changing the kept one."""
    statuses = ["completed"]
    criteria: dict[str, Any] = {"status": statuses, "where": "created > 7d"}
    first = planning.plan(criteria, dialect="sqlite")
    assert planning.plan(dict(criteria), dialect="sqlite") is first
    page = planning.page_statement(first, limit=5, cursor=None, dialect="sqlite")
    assert planning.page_statement(first, limit=5, cursor=None, dialect="sqlite").statement is (
        page.statement
    )
    statuses.append("failed")
    other = planning.plan(criteria, dialect="sqlite")
    assert other is not first
    kept = page.statement.compile(dialect=sqlite.dialect()).params
    assert ["completed"] in kept.values() and ["completed", "failed"] not in kept.values()


def test_a_relative_time_is_an_ago_printed_back_as_written() -> None:
    parsed = parse("created > 7d and updated_at >= 1d12h30m")
    assert parsed == And((
        FieldFilter("created", ">", Ago(dt.timedelta(days=7))),
        FieldFilter("updated_at", ">=", Ago(dt.timedelta(days=1, hours=12, minutes=30))),
    ))  # fmt: skip
    assert to_text(parsed) == "created > 7d and updated_at >= 1d12h30m"
    assert parse(to_text(parsed)) == parsed

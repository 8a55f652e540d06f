"""A page of runs and its child rows: the runs read back in a page equal the runs read one by
one, whichever child tables are empty for the page; child values (floats incl. NaN/±Inf/-0.0,
times, documents, unicode) read back exactly; PostgreSQL reads a page in one statement."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import psycopg
from equality import same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from mangodb import ObjectiveCreate, RunCreate, RunRepository, RunStatus


def test_page_equals_single_reads_whichever_children_exist(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="bare"))
    assert list(repo.query_runs_page(limit=5).items) == [repo.get_run("bare")]
    repo.insert_run(
        RunCreate(run_id="full", objectives=[ObjectiveCreate(name="hop")], tags=["a", "b"])
    )
    repo.update_run_status("full", RunStatus.RUNNING)
    repo.update_run_status("full", RunStatus.CRASHED, final_metrics={"loss": 0.5})
    repo.attach_crash_data("full", error_type="OOM", message="out of memory")
    repo.attach_conversation("full", "s3://bucket/chat.json", title="chat")
    repo.insert_run(RunCreate(run_id="tagged", tags=["c"]))
    page = repo.query_runs_page(limit=10, order_by="run_id")
    assert list(page.items) == [repo.get_run(r) for r in ("bare", "full", "tagged")]
    full = repo.get_run("full")
    assert full.tags == ("a", "b") and len(full.crash_reports) == 1 and len(full.attachments) == 1
    # A page whose runs have no rows in some child tables: those are empty, not missing.
    only_bare = repo.query_runs_page(limit=10, name_prefix="bare")
    assert list(only_bare.items) == [repo.get_run("bare")]
    assert only_bare.items[0].tags == () and only_bare.items[0].events


# -- the child rows read back exactly (PostgreSQL carries them as JSON in the page's statement)
# What validation accepts: no NUL, no lone surrogates (both refused before any write).
storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
special_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1]),
)
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 5e-324, 1e-310, 1.7976931348623157e308, 1e16]),
)
documents = st.dictionaries(
    st.text(storable, max_size=6),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        special_floats,
        st.text(storable, max_size=8),
        st.lists(special_floats, max_size=3),
    ),
    max_size=5,
)
times = st.datetimes(
    min_value=dt.datetime(1990, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [
            dt.timezone.utc,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=special_floats,
    weight=finite_floats,
    target=finite_floats,
    step=st.integers(min_value=0, max_value=2**63 - 1),
    at=times,
    metric=special_floats,
    crash_details=documents,
    event_details=documents,
    text=st.text(storable, min_size=1, max_size=20).filter(lambda s: s.strip() == s != ""),
)
def test_child_rows_read_back_exactly(
    repo: RunRepository,
    value: float,
    weight: float,
    target: float,
    step: int,
    at: dt.datetime,
    metric: float,
    crash_details: dict[str, Any],
    event_details: dict[str, Any],
    text: str,
) -> None:
    run_id = uuid.uuid4().hex
    repo.insert_run(
        RunCreate(
            run_id=run_id,
            tags=[text],
            objectives=[ObjectiveCreate(name="hop", metric=text, weight=weight, target=target)],
        )
    )
    repo.update_objective_metric(run_id, "hop", value, step=step, at=at)
    repo.update_run_status(run_id, RunStatus.RUNNING, reason=text, details=event_details or None)
    repo.update_run_status(run_id, RunStatus.COMPLETED, final_metrics={"m": metric})
    repo.attach_crash_data(run_id, error_type=text, message=text, occurred_at=at,
                           details=crash_details or None)  # fmt: skip
    repo.attach_conversation(run_id, "s3://bucket/" + uuid.uuid4().hex, title=text)

    for run in (repo.get_run(run_id), repo.query_runs(name_prefix=run_id)[0]):
        (objective,) = run.objectives
        assert (objective.metric, objective.step) == (text, step)
        assert same(objective.value, value)
        # Weights and targets are plain finite floats: -0.0 is stored (and read) as 0.0.
        assert same(objective.weight, weight + 0.0) and same(objective.target, target + 0.0)
        assert objective.updated_at == at and objective.updated_at.tzinfo is not None
        assert objective.updated_at.utcoffset() == dt.timedelta(0)
        assert same(run.final_metrics["m"], metric)
        assert run.tags == (text,)
        running = [e for e in run.events if e.to_status == RunStatus.RUNNING]
        assert len(running) == 1 and running[0].reason == text
        assert same(running[0].details, event_details or None)
        (crash,) = run.crash_reports
        assert (crash.error_type, crash.message, crash.occurred_at) == (text, text, at)
        assert same(crash.details, crash_details or None)
        (attachment,) = run.attachments
        assert attachment.title == text


def test_a_page_is_one_statement_outside_any_transaction_on_postgresql(
    repo: RunRepository,
) -> None:
    """PostgreSQL: a page (and get_run) is one statement, run in autocommit (no BEGIN and
    ROLLBACK round trips). SQLite: one statement plus one per child table in use."""
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")], tags=["t"]))
    repo.update_run_status("r", RunStatus.RUNNING)
    statements: list[str] = []
    in_transaction: list[bool] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)
        if repo.dialect == "postgresql":
            status = conn.connection.driver_connection.info.transaction_status
            in_transaction.append(status != psycopg.pq.TransactionStatus.IDLE)

    event.listen(repo.engine, "after_cursor_execute", seen)
    try:
        for read in (lambda: repo.query_runs_page(limit=10), lambda: repo.get_run("r")):
            statements.clear()
            read()
            if repo.dialect == "postgresql":
                assert len(statements) == 1, statements
                assert in_transaction == [False]
                in_transaction.clear()
            else:  # BEGIN (local), the runs row, then events, objectives and tags
                assert len(statements) == 5, statements
                assert statements[0] == "BEGIN DEFERRED" and "run_tags" in statements[-1]
    finally:
        event.remove(repo.engine, "after_cursor_execute", seen)

"""The run lifecycle contract: insert, read, status transitions, events, heartbeats, the
reaper, tags, deletion and the legacy ``update_run_status`` call, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from mangodb import (
    InvalidTransition,
    MangoDBError,
    ObjectiveCreate,
    RunAlreadyExists,
    RunCreate,
    RunNotFound,
    RunRepository,
    RunStatus,
    ValidationError,
)
from mangodb.status import ALLOWED_TRANSITIONS, TERMINAL_STATUSES

UTC = dt.timezone.utc
ALL = list(RunStatus)
PAIRS = [(a, b) for a, b in itertools.product(ALL, ALL) if a is not b]
ALLOWED = [(a, b) for a, b in PAIRS if b in ALLOWED_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in PAIRS if b not in ALLOWED_TRANSITIONS[a]]


def _ids(pair: tuple[RunStatus, RunStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def _new(repo: RunRepository, run_id: str = "run-1", **fields: Any) -> str:
    repo.insert_run(RunCreate(run_id=run_id, **fields))
    return run_id


def _bring_to(repo: RunRepository, run_id: str, status: RunStatus) -> None:
    """Insert ``run_id`` and move it to ``status`` through allowed transitions."""
    _new(repo, run_id)
    if status is not RunStatus.LAUNCHED:
        repo.update_run_status(run_id, status)


# -- insert / get -------------------------------------------------------------------------------
def test_insert_run_returns_the_stored_run(repo: RunRepository) -> None:
    created = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    inserted = repo.insert_run(
        RunCreate(
            run_id="r1",
            config={"optimizer": {"lr": 0.001}, "data": {"batch_size": 96}},
            gradient_method="mgda",
            instance_id="i-0abc",
            wandb_run_id="hzg69uzq",
            batch_size=96,
            learning_rate=1e-3,
            tags=["b", "a", "b"],
            objectives=[ObjectiveCreate(name="hop", metric="val/hop", direction="min")],
            created_at=created,
        )
    )
    stored = repo.get_run("r1")
    assert inserted == stored
    assert stored.status is RunStatus.LAUNCHED
    assert stored.config == {"optimizer": {"lr": 0.001}, "data": {"batch_size": 96}}
    assert stored.created_at == created and stored.created_at.tzinfo is not None
    assert stored.tags == ("a", "b")
    assert [o.name for o in stored.objectives] == ["hop"]
    assert stored.objectives[0].value is None
    assert [(e.from_status, e.to_status, e.reason) for e in stored.events] == [
        (None, RunStatus.LAUNCHED, "inserted")
    ]


def test_insert_run_accepts_keywords(repo: RunRepository) -> None:
    run = repo.insert_run(run_id="kw", gradient_method="pcgrad", status="running")
    assert run.status is RunStatus.RUNNING and run.started_at is not None
    assert repo.get_run("kw") == run


def test_insert_run_twice_raises_run_already_exists(repo: RunRepository) -> None:
    _new(repo, "dup", config={"a": 1})
    with pytest.raises(RunAlreadyExists) as caught:
        repo.insert_run(RunCreate(run_id="dup", config={"a": 2}))
    assert caught.value.run_id == "dup"
    assert repo.get_run("dup").config == {"a": 1}
    assert len(repo.get_run("dup").events) == 1


def test_insert_runs_bulk(repo: RunRepository) -> None:
    runs = [
        RunCreate(
            run_id=f"bulk-{i:03d}",
            config={"i": i},
            gradient_method=["mgda", "pcgrad"][i % 2],
            tags=["bulk"],
            objectives=[ObjectiveCreate(name="hop")],
        )
        for i in range(250)
    ]
    assert repo.insert_runs(runs, batch_size=100) == 250
    assert repo.count_runs() == 250
    one = repo.get_run("bulk-007")
    assert one.config == {"i": 7} and one.tags == ("bulk",) and one.objectives[0].name == "hop"
    assert one.events[0].to_status is RunStatus.LAUNCHED


def test_insert_runs_with_a_taken_id_keeps_nothing_of_that_batch(repo: RunRepository) -> None:
    _new(repo, "taken")
    batch = [RunCreate(run_id="fresh-1"), RunCreate(run_id="taken"), RunCreate(run_id="fresh-2")]
    with pytest.raises(RunAlreadyExists):
        repo.insert_runs(batch)
    with pytest.raises(RunAlreadyExists):
        repo.insert_runs([RunCreate(run_id="x"), RunCreate(run_id="x")])
    assert repo.count_runs() == 1


def test_get_run_unknown_raises_run_not_found(repo: RunRepository) -> None:
    with pytest.raises(RunNotFound) as caught:
        repo.get_run("nope")
    assert caught.value.run_id == "nope"
    assert isinstance(caught.value, MangoDBError)


# -- transitions --------------------------------------------------------------------------------
@pytest.mark.parametrize("pair", ALLOWED, ids=_ids)
def test_allowed_transition(repo: RunRepository, pair: tuple[RunStatus, RunStatus]) -> None:
    start, target = pair
    _bring_to(repo, "r", start)
    run = repo.update_run_status("r", target.value, reason="because", source="test")
    assert run.status is target
    last = run.events[-1]
    assert (last.from_status, last.to_status, last.reason, last.source) == (
        start,
        target,
        "because",
        "test",
    )
    assert last.applied and not last.forced and last.at.tzinfo is not None
    assert (run.ended_at is not None) is (target in TERMINAL_STATUSES)
    if target is RunStatus.RUNNING:
        assert run.started_at is not None and run.heartbeat_at is not None


@pytest.mark.parametrize("pair", FORBIDDEN, ids=_ids)
def test_forbidden_transition(repo: RunRepository, pair: tuple[RunStatus, RunStatus]) -> None:
    start, target = pair
    _bring_to(repo, "r", start)
    before = repo.get_run("r")
    with pytest.raises(InvalidTransition) as caught:
        repo.update_run_status("r", target, reason="late", source="trainer", exit_code=3)
    assert (caught.value.from_status, caught.value.to_status) == (start.value, target.value)
    assert start.value in str(caught.value) and target.value in str(caught.value)
    after = repo.get_run("r")
    assert after.status is start
    # The refused attempt is on record; the data that came with it is kept.
    refused = after.events[-1]
    assert len(after.events) == len(before.events) + 1
    assert (refused.from_status, refused.to_status, refused.applied) == (start, target, False)
    assert refused.reason == "late" and refused.source == "trainer"
    assert after.exit_code == 3


@pytest.mark.parametrize("pair", FORBIDDEN, ids=_ids)
def test_force_allows_any_transition(
    repo: RunRepository, pair: tuple[RunStatus, RunStatus]
) -> None:
    start, target = pair
    _bring_to(repo, "r", start)
    run = repo.update_run_status("r", target, force=True, reason="fixed by hand", source="human")
    assert run.status is target
    assert run.events[-1].forced and run.events[-1].applied
    assert (run.ended_at is not None) is (target in TERMINAL_STATUSES)


@pytest.mark.parametrize("status", ALL, ids=lambda s: s.value)
def test_repeating_the_current_status_is_a_no_op(repo: RunRepository, status: RunStatus) -> None:
    _bring_to(repo, "r", status)
    before = repo.get_run("r")
    run = repo.update_run_status("r", status, wandb_run_id="abc123")
    assert run.status is status
    assert run.events == before.events
    assert run.wandb_run_id == "abc123"


def test_status_accepts_strings_case_insensitively(repo: RunRepository) -> None:
    _new(repo, "r")
    assert repo.update_run_status("r", " Running ").status is RunStatus.RUNNING
    with pytest.raises(ValidationError, match="unknown status 'finished'"):
        repo.update_run_status("r", "finished")


def test_update_unknown_run_raises_run_not_found(repo: RunRepository) -> None:
    with pytest.raises(RunNotFound):
        repo.update_run_status("ghost", "running")


def test_expected_status_is_compare_and_set(repo: RunRepository) -> None:
    _bring_to(repo, "r", RunStatus.RUNNING)
    repo.update_run_status("r", "crashed", source="reaper", expected_status="running")
    with pytest.raises(InvalidTransition, match="expected status launched or running"):
        repo.update_run_status("r", "failed", expected_status=["running", "launched"])
    with pytest.raises(InvalidTransition):
        # Without expected_status the terminal rule refuses it too.
        repo.update_run_status("r", "completed", source="trainer")
    run = repo.get_run("r")
    assert run.status is RunStatus.CRASHED
    applied = [(e.from_status, e.to_status) for e in run.events if e.applied]
    assert applied == [
        (None, RunStatus.LAUNCHED),
        (RunStatus.LAUNCHED, RunStatus.RUNNING),
        (RunStatus.RUNNING, RunStatus.CRASHED),
    ]
    refused = [e for e in run.events if not e.applied]
    assert [e.to_status for e in refused] == [RunStatus.FAILED, RunStatus.COMPLETED]
    assert refused[0].details is not None and refused[0].details["expected"] == [
        "launched",
        "running",
    ]


def test_late_completion_keeps_its_metrics_but_not_the_status(repo: RunRepository) -> None:
    _bring_to(repo, "r", RunStatus.RUNNING)
    repo.update_run_status("r", "crashed", source="reaper")
    with pytest.raises(InvalidTransition):
        repo.update_run_status(
            "r", "completed", final_metrics={"val/loss": 0.25}, total_training_steps=900
        )
    run = repo.get_run("r")
    assert run.status is RunStatus.CRASHED
    assert run.final_metrics == {"val/loss": 0.25} and run.total_training_steps == 900


def test_events_details_and_timestamps(repo: RunRepository) -> None:
    _new(repo, "r")
    moment = dt.datetime.now(UTC)
    run = repo.update_run_status(
        "r", "failed", reason="exception", source="trainer", details={"exc": "ValueError"}
    )
    last = run.events[-1]
    assert last.details == {"exc": "ValueError"}
    assert abs((last.at - moment).total_seconds()) < 60
    assert [e.at for e in run.events] == sorted(e.at for e in run.events)


def test_fields_update_without_status(repo: RunRepository) -> None:
    _new(repo, "r")
    ended = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    run = repo.update_run_status(
        "r", instance_type="g5.xlarge", learning_rate="0.5", ended_at=ended, config={"x": [1]}
    )
    assert run.status is RunStatus.LAUNCHED and len(run.events) == 1
    assert run.instance_type == "g5.xlarge" and run.learning_rate == 0.5
    assert run.ended_at == ended and run.config == {"x": [1]}
    with pytest.raises(ValidationError, match="unknown run field"):
        repo.update_run_status("r", colour="red")


# -- heartbeat and reaper -------------------------------------------------------------------------
def test_heartbeat_is_one_update(repo: RunRepository) -> None:
    _bring_to(repo, "r", RunStatus.RUNNING)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.strip().split()[0].upper())

    event.listen(repo.engine, "before_cursor_execute", record)
    try:
        when = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
        repo.heartbeat("r", at=when)
    finally:
        event.remove(repo.engine, "before_cursor_execute", record)
    assert [s for s in statements if s not in ("BEGIN", "COMMIT", "SELECT")] == ["UPDATE"]
    assert "SELECT" not in statements
    assert repo.get_run("r").heartbeat_at == when
    with pytest.raises(RunNotFound):
        repo.heartbeat("ghost")
    with pytest.raises(ValidationError, match="naive"):
        repo.heartbeat("r", at=dt.datetime(2024, 1, 1))


def test_reap_stale_runs(repo: RunRepository) -> None:
    now = dt.datetime.now(UTC)
    for name in ("stale", "fresh", "launched-only"):
        _new(repo, name)
    repo.update_run_status("stale", "running")
    repo.update_run_status("fresh", "running")
    old = now - dt.timedelta(hours=2)
    repo.heartbeat("stale", at=old)
    repo.heartbeat("fresh", at=now)
    grace = dt.timedelta(minutes=30)

    planned = repo.reap_stale_runs(grace, now=now, dry_run=True)
    assert [(c.run_id, c.changed) for c in planned] == [("stale", False)]
    assert repo.get_run("stale").status is RunStatus.RUNNING

    reaped = repo.reap_stale_runs(grace, now=now, source="reaper-test")
    assert [(c.run_id, c.to_status, c.changed) for c in reaped] == [
        ("stale", RunStatus.CRASHED, True)
    ]
    stale = repo.get_run("stale")
    assert stale.status is RunStatus.CRASHED
    last = stale.events[-1]
    assert last.source == "reaper-test" and last.reason == "heartbeat lost"
    assert last.details is not None
    assert last.details["evidence"] == "heartbeat lost"
    assert dt.datetime.fromisoformat(last.details["last_heartbeat"]) == old
    assert last.details["grace_seconds"] == 1800
    assert repo.get_run("fresh").status is RunStatus.RUNNING
    assert repo.get_run("launched-only").status is RunStatus.LAUNCHED
    assert repo.reap_stale_runs(grace, now=now) == []  # nothing left to reap
    with pytest.raises(ValidationError, match="naive"):
        repo.reap_stale_runs(grace, now=dt.datetime(2024, 1, 1))


# -- tags, deletion --------------------------------------------------------------------------------
def test_set_tags(repo: RunRepository) -> None:
    _new(repo, "r", tags=["keep", "drop"])
    run = repo.set_tags("r", add=["new", "keep", " new "], remove=["drop", "absent"])
    assert run.tags == ("keep", "new")
    assert repo.get_run("r").tags == ("keep", "new")
    with pytest.raises(RunNotFound):
        repo.set_tags("ghost", add=["x"])
    with pytest.raises(ValidationError):
        repo.set_tags("r", add=["x" * 300])
    with pytest.raises(ValidationError):
        repo.set_tags("r", add="single-string")


def test_tags_are_stripped_whichever_way_they_come(repo: RunRepository) -> None:
    """insert_run kept " a\\r\\n" while set_tags stored "a": the same tag twice."""
    _new(repo, "r", tags=[" a\r\n", "b "])
    assert repo.get_run("r").tags == ("a", "b")
    assert repo.set_tags("r", add=["a "], remove=["\tb"]).tags == ("a",)
    with pytest.raises(ValidationError):
        repo.insert_run(RunCreate(run_id="blank", tags=["  "]))


def test_delete_run_removes_everything(repo: RunRepository) -> None:
    _new(repo, "gone", tags=["t"], objectives=[ObjectiveCreate(name="hop")])
    _new(repo, "stays", tags=["t"])
    repo.update_run_status("gone", "failed", final_metrics={"loss": 1.0, "note": "x"})
    repo.attach_crash_data("gone", error_type="ValueError", message="boom")
    repo.attach_conversation("gone", "s3://bucket/conv.json")
    repo.delete_run("gone")
    with pytest.raises(RunNotFound):
        repo.get_run("gone")
    with pytest.raises(RunNotFound):
        repo.delete_run("gone")
    assert [r.run_id for r in repo.query_runs(tags=["t"])] == ["stays"]
    _new(repo, "gone")  # the id is free again, with nothing left over
    again = repo.get_run("gone")
    assert again.tags == () and again.crash_reports == () and again.final_metrics == {}
    assert len(again.events) == 1


# -- the legacy call ---------------------------------------------------------------------------
def test_legacy_update_run_status_call(repo: RunRepository) -> None:
    _bring_to(repo, "legacy", RunStatus.RUNNING)
    summary = {"val/loss": 0.125, "epoch": 12, "best": {"step": 3}, "nan_metric": math.nan}
    ended = dt.datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
    history = {"_step": [0, 10, 20], "loss": [1.0, 0.5, 0.25], "lr": [0.1, 0.1, 0.05]}
    repo.update_run_status(
        run_id="legacy",
        status="completed",
        final_metrics_json=summary,
        history_json=history,
        ended_at=ended,
        total_training_steps=20,
    )
    run = repo.get_run("legacy")
    assert run.status is RunStatus.COMPLETED
    assert run.ended_at == ended and run.total_training_steps == 20
    assert run.final_metrics["val/loss"] == 0.125 and run.final_metrics["epoch"] == 12
    assert type(run.final_metrics["epoch"]) is int
    assert run.final_metrics["best"] == {"step": 3}
    assert math.isnan(run.final_metrics["nan_metric"])
    series = repo.get_history("legacy")
    assert set(series) == {"loss", "lr"}  # ``_step`` gives the steps, it is not a series
    assert list(series["loss"].steps) == [0, 10, 20]
    assert list(series["loss"].values) == [1.0, 0.5, 0.25]
    assert list(series["lr"].values) == [0.1, 0.1, 0.05]


def test_legacy_history_without_steps_counts_from_zero(repo: RunRepository) -> None:
    _bring_to(repo, "legacy", RunStatus.RUNNING)
    repo.update_run_status(
        run_id="legacy", status="failed", history_json={"loss": [1.0, math.nan, 0.25]}
    )
    loss = repo.get_history("legacy")["loss"]
    assert list(loss.steps) == [0, 1, 2]
    values = list(loss.values)
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2] == 0.25


def test_legacy_call_accepts_json_text(repo: RunRepository) -> None:
    _new(repo, "r")
    run = repo.update_run_status(
        run_id="r", status="failed", final_metrics_json='{"loss": 2.5, "tag": "x"}'
    )
    assert run.final_metrics == {"loss": 2.5, "tag": "x"}
    with pytest.raises(ValidationError, match="not valid JSON"):
        repo.update_run_status(run_id="r", final_metrics_json="{nope")


# -- datetimes and connecting ------------------------------------------------------------------
def test_naive_datetimes_are_rejected(repo: RunRepository) -> None:
    naive = dt.datetime(2024, 1, 1, 12, 0)
    with pytest.raises(ValidationError, match="created_at"):
        RunCreate(run_id="n", created_at=naive)
    _new(repo, "r")
    for name in ("ended_at", "started_at", "heartbeat_at"):
        with pytest.raises(ValidationError, match="naive"):
            repo.update_run_status("r", **{name: naive})
    with pytest.raises(ValidationError):
        repo.query_runs(created_after=naive)
    with pytest.raises(ValidationError):
        repo.update_objective_metric("r", "x", 1.0, at=naive)
    assert repo.get_run("r").ended_at is None


def test_connect_twice_to_the_same_database(db_url: URL) -> None:
    first = RunRepository.connect(db_url)
    try:
        first.insert_run(RunCreate(run_id="shared"))
        second = RunRepository.connect(db_url)
        try:
            assert second.get_run("shared").run_id == "shared"
            second.update_run_status("shared", "running")
            assert first.get_run("shared").status is RunStatus.RUNNING
        finally:
            second.close()
    finally:
        first.close()


# -- smaller helpers -------------------------------------------------------------------------------
def test_run_exists_find_by_instance_and_set_final_metrics(repo: RunRepository) -> None:
    _new(repo, "a", instance_id="i-1")
    _new(repo, "b", instance_id="i-1")
    _new(repo, "c", instance_id="i-2")
    repo.update_run_status("b", "completed")
    assert repo.run_exists("a") and not repo.run_exists("zzz")
    assert {r.run_id for r in repo.find_runs_by_instance("i-1")} == {"a", "b"}
    assert [r.run_id for r in repo.find_runs_by_instance("i-1", active_only=True)] == ["a"]
    run = repo.set_final_metrics("a", {"loss": -math.inf, "label": "best"})
    assert run.final_metrics == {"loss": -math.inf, "label": "best"}
    assert repo.set_final_metrics("a", {"acc": 0.5}).final_metrics == {"acc": 0.5}  # replaced
    assert [r.run_id for r in repo.query_runs(metrics={"acc": ("=", 0.5)})] == ["a"]
    assert repo.query_runs(metrics={"loss": ("is not null", None)}) == []

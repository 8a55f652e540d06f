"""``run_objectives`` holds copies of its run's status and gradient method (migration 0003, kept
by triggers) so ``compare_gradient_methods`` reads one index: every way a run or an objective
is written keeps the copies equal to the run, and the comparison read on the copies equals the
one read through the join with ``runs``."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mangodb import (
    InvalidTransition,
    ObjectiveCreate,
    RunCreate,
    RunRepository,
    RunStatus,
)
from mangodb.dto import MethodComparison, StatusUpdate

UTC = dt.timezone.utc
_STALE = text(
    "SELECT count(*) FROM run_objectives o JOIN runs r ON r.id = o.run_pk "
    "WHERE o.run_status IS DISTINCT FROM r.status "
    "OR o.run_gradient_method IS DISTINCT FROM r.gradient_method"
)
_COUNT = text("SELECT count(*) FROM run_objectives")


def _stale_copies(repo: RunRepository) -> int:
    with repo.engine.connect() as connection:
        assert connection.execute(_COUNT).scalar_one() > 0
        return int(connection.execute(_STALE).scalar_one())


def _objectives(*names: str) -> list[ObjectiveCreate]:
    return [ObjectiveCreate(name=name) for name in names]


def _assert_same(ours: list[MethodComparison], theirs: list[MethodComparison]) -> None:
    """Equal, except the mean and std up to rounding (the rows are summed in another order)."""
    rounded = {"mean", "std"}
    assert [r.model_dump(exclude=rounded) for r in ours] == [
        r.model_dump(exclude=rounded) for r in theirs
    ]
    for mine, other in zip(ours, theirs, strict=True):
        for name in rounded:
            expected = getattr(other, name)
            assert getattr(mine, name) == (
                expected if expected is None else pytest.approx(expected, nan_ok=True)
            )


def _through_join(repo: RunRepository, objective: str) -> list[MethodComparison]:
    """The same comparison with one more criterion that every run meets: read via the join."""
    return repo.compare_gradient_methods(
        objective, created_after=dt.datetime(1970, 1, 1, tzinfo=UTC)
    )


def test_every_write_path_keeps_the_copies(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="one", gradient_method="mgda", objectives=_objectives("hop")))
    repo.insert_runs(
        [
            RunCreate(run_id=f"bulk-{i}", gradient_method="pcgrad", objectives=_objectives("hop"))
            for i in range(3)
        ]
    )
    repo.insert_objective("one", name="seg")  # a new objective row of an existing run
    for run_id in ("one", "bulk-0", "bulk-1", "bulk-2"):
        repo.update_objective_metric(run_id, "hop", 0.5)
    assert _stale_copies(repo) == 0
    repo.update_run_status("one", RunStatus.RUNNING)
    assert _stale_copies(repo) == 0
    repo.update_run_status("one", gradient_method="famo")  # a field change, no status change
    repo.update_run_status("bulk-0", RunStatus.RUNNING, gradient_method=None)
    assert _stale_copies(repo) == 0
    repo.transition_runs(
        [
            StatusUpdate(run_id="one", status=RunStatus.COMPLETED),
            StatusUpdate(run_id="bulk-1", status=RunStatus.RUNNING),
        ]
    )
    assert _stale_copies(repo) == 0
    with pytest.raises(InvalidTransition):  # refused: nothing changes, copies included
        repo.update_run_status("one", RunStatus.RUNNING)
    repo.update_run_status("one", RunStatus.RUNNING, force=True)
    changes = repo.reap_stale_runs(dt.timedelta(0), now=dt.datetime.now(UTC) + dt.timedelta(1))
    assert {c.run_id for c in changes} == {"one", "bulk-0", "bulk-1"}
    assert _stale_copies(repo) == 0
    with repo.engine.begin() as connection:  # a write that bypasses mangodb entirely
        connection.execute(text("UPDATE runs SET status = 'completed', gradient_method = 'x'"))
    assert _stale_copies(repo) == 0
    assert {r.gradient_method: r.n for r in repo.compare_gradient_methods("hop")} == {"x": 4}


def test_comparison_follows_status_and_method_changes(repo: RunRepository) -> None:
    for i, method in enumerate(["mgda", "mgda", "pcgrad"]):
        repo.insert_run(
            RunCreate(run_id=f"r{i}", gradient_method=method, objectives=_objectives("hop"))
        )
        repo.update_objective_metric(f"r{i}", "hop", 0.1 * (i + 1))
    assert repo.compare_gradient_methods("hop") == []  # none completed yet
    repo.update_run_status("r0", RunStatus.COMPLETED)
    repo.update_run_status("r2", RunStatus.COMPLETED)
    rows = {r.gradient_method: r for r in repo.compare_gradient_methods("hop")}
    assert {m: (r.n, r.best_run_id) for m, r in rows.items()} == {
        "mgda": (1, "r0"),
        "pcgrad": (1, "r2"),
    }
    repo.update_run_status("r2", gradient_method="mgda")
    rows = {r.gradient_method: r for r in repo.compare_gradient_methods("hop")}
    assert {m: (r.n, r.best_run_id, r.max) for m, r in rows.items()} == {
        "mgda": (2, "r0", pytest.approx(0.3))
    }
    _assert_same(repo.compare_gradient_methods("hop"), _through_join(repo, "hop"))


_METHODS = st.sampled_from(["mgda", "pcgrad", None])
_STATUSES = st.sampled_from(list(RunStatus))
_STEP = st.tuples(st.integers(0, 3), _STATUSES, _METHODS, st.floats(-1, 1))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_STEP, min_size=1, max_size=8))
def test_copies_and_join_agree_after_any_changes(
    repo: RunRepository, steps: list[tuple[int, RunStatus, str | None, float]]
) -> None:
    """Forced status changes, method changes and values in any order: the copies stay equal to
    the runs, and the comparison on the copies equals the one through the join, for several
    status selections."""
    prefix = f"h{repo.count_runs()}-"
    for i in range(4):
        repo.insert_run(
            RunCreate(run_id=f"{prefix}{i}", gradient_method="mgda", objectives=_objectives("hop"))
        )
    for index, status, method, value in steps:
        run_id = f"{prefix}{index}"
        repo.update_run_status(run_id, status, force=True, gradient_method=method)
        repo.update_objective_metric(run_id, "hop", value)
    assert _stale_copies(repo) == 0
    for statuses in ([RunStatus.COMPLETED], [RunStatus.RUNNING, RunStatus.FAILED], None):
        fast = repo.compare_gradient_methods("hop", statuses=statuses)
        joined = repo.compare_gradient_methods(
            "hop", statuses=statuses, created_after=dt.datetime(1970, 1, 1, tzinfo=UTC)
        )
        _assert_same(fast, joined)

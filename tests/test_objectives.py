"""Objectives: definition, lossless values, selection by bounds and the per-method comparison."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest

from mangodb import (
    ObjectiveCreate,
    ObjectiveNotFound,
    RunCreate,
    RunNotFound,
    RunRepository,
    ValidationError,
)

UTC = dt.timezone.utc


def test_insert_and_redefine_objective(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r"))
    created = repo.insert_objective("r", ObjectiveCreate(name="hop", metric="val/hop_loss"))
    assert (created.name, created.metric, created.direction, created.value) == (
        "hop",
        "val/hop_loss",
        "min",
        None,
    )
    redefined = repo.insert_objective("r", name="hop", metric="val/hop", direction="max", weight=2)
    assert (redefined.metric, redefined.direction, redefined.weight) == ("val/hop", "max", 2.0)
    assert [o.name for o in repo.get_run("r").objectives] == ["hop"]
    with pytest.raises(RunNotFound):
        repo.insert_objective("ghost", ObjectiveCreate(name="hop"))
    with pytest.raises(ValidationError):
        repo.insert_objective("r", name="hop", direction="sideways")


@pytest.mark.parametrize("value", [0.42, math.nan, math.inf, -math.inf, -0.0, 5e-324, 7])
def test_update_objective_metric_keeps_the_value_exactly(repo: RunRepository, value: float) -> None:
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")]))
    at = dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    returned = repo.update_objective_metric("r", "hop", value, step=2000, at=at)
    stored = repo.get_run("r").objective("hop")
    assert stored is not None
    for objective in (returned, stored):
        assert objective.value is not None
        if math.isnan(value):
            assert math.isnan(objective.value)
        else:
            assert objective.value == value
            assert math.copysign(1, objective.value) == math.copysign(1, value)
        assert objective.step == 2000 and objective.updated_at == at


def test_update_objective_metric_errors(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")]))
    with pytest.raises(ObjectiveNotFound) as caught:
        repo.update_objective_metric("r", "seg", 0.1)
    assert (caught.value.run_id, caught.value.name) == ("r", "seg")
    with pytest.raises(RunNotFound):
        repo.update_objective_metric("ghost", "hop", 0.1)
    for bad_value in ("0.1", None, True):
        with pytest.raises(ValidationError):
            repo.update_objective_metric("r", "hop", bad_value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        repo.update_objective_metric("r", "hop", 0.1, step=-1)
    assert repo.get_run("r").objective("hop").value is None  # type: ignore[union-attr]


def test_query_runs_by_objectives(repo: RunRepository) -> None:
    values = {"a": (0.3, 0.8), "b": (0.6, 0.9), "c": (0.4, 0.7), "d": (math.nan, 0.95), "e": None}
    for run_id, pair in values.items():
        repo.insert_run(
            RunCreate(
                run_id=run_id,
                objectives=[ObjectiveCreate(name="hop"), ObjectiveCreate(name="seg")],
            )
        )
        if pair:
            repo.update_objective_metric(run_id, "hop", pair[0])
            repo.update_objective_metric(run_id, "seg", pair[1])
    found = repo.query_runs_by_objectives({"hop": ("<", 0.5), "seg": (">", 0.7)})
    assert [r.run_id for r in found] == ["a"]
    assert {r.run_id for r in repo.query_runs_by_objectives({"hop": {"max": 0.4}})} == {"a", "c"}
    assert {r.run_id for r in repo.query_runs_by_objectives({"seg": {"min": 0.9}})} == {"b", "d"}
    # NaN satisfies no bound; "is null" finds runs without a usable value.
    unmeasured = repo.query_runs_by_objectives({"hop": ("is null", None)})
    assert {r.run_id for r in unmeasured} == {"d", "e"}


def _campaign(repo: RunRepository) -> dict[str, list[float]]:
    """Four methods, completed runs with hop values, plus runs that must not count."""
    completed = {
        "mgda": [0.50, 0.40, 0.45, 0.55],
        "pcgrad": [0.30, 0.35],
        "cagrad": [0.60],
        "nash": [0.20, math.inf, 0.25],
    }
    for method, hops in completed.items():
        for i, hop in enumerate(hops):
            run_id = f"{method}-{i}"
            repo.insert_run(
                RunCreate(
                    run_id=run_id,
                    gradient_method=method,
                    objectives=[
                        ObjectiveCreate(name="hop"),
                        ObjectiveCreate(name="seg", direction="max"),
                    ],
                )
            )
            repo.update_objective_metric(run_id, "hop", hop)
            repo.update_objective_metric(run_id, "seg", 1 - hop if math.isfinite(hop) else 0.0)
            repo.update_run_status(run_id, "completed")
    # Not completed, or NaN: excluded by default.
    repo.insert_run(
        RunCreate(run_id="mgda-crashed", gradient_method="mgda", objectives=[{"name": "hop"}])
    )
    repo.update_objective_metric("mgda-crashed", "hop", 0.01)
    repo.update_run_status("mgda-crashed", "crashed")
    repo.insert_run(
        RunCreate(run_id="mgda-nan", gradient_method="mgda", objectives=[{"name": "hop"}])
    )
    repo.update_objective_metric("mgda-nan", "hop", math.nan)
    repo.update_run_status("mgda-nan", "completed")
    return completed


def test_compare_gradient_methods(repo: RunRepository) -> None:
    completed = _campaign(repo)
    rows = {row.gradient_method: row for row in repo.compare_gradient_methods("hop")}
    assert set(rows) == set(completed)
    mgda = rows["mgda"]
    values = completed["mgda"]
    assert mgda.n == 4 and mgda.objective == "hop" and mgda.direction == "min"
    assert mgda.mean == pytest.approx(statistics.fmean(values))
    assert mgda.std == pytest.approx(statistics.stdev(values))
    assert (mgda.min, mgda.max) == (0.40, 0.55)
    assert mgda.median == pytest.approx(statistics.median(values))
    assert (mgda.best_run_id, mgda.best_value) == ("mgda-1", 0.40)
    cagrad = rows["cagrad"]
    assert (cagrad.n, cagrad.std, cagrad.median, cagrad.best_run_id) == (1, None, 0.6, "cagrad-0")
    nash = rows["nash"]
    assert nash.n == 3 and nash.max == math.inf and nash.mean == math.inf
    assert nash.best_run_id == "nash-0"
    # All statuses: the crashed run's 0.01 now counts and wins.
    everything = {r.gradient_method: r for r in repo.compare_gradient_methods("hop", statuses=None)}
    assert everything["mgda"].n == 5 and everything["mgda"].best_run_id == "mgda-crashed"


def test_compare_gradient_methods_direction_max(repo: RunRepository) -> None:
    _campaign(repo)
    rows = {row.gradient_method: row for row in repo.compare_gradient_methods("seg")}
    assert rows["mgda"].direction == "max"
    assert (rows["mgda"].best_run_id, rows["mgda"].best_value) == ("mgda-1", pytest.approx(0.6))
    assert rows["pcgrad"].best_run_id == "pcgrad-0"
    assert repo.compare_gradient_methods("nonexistent") == []

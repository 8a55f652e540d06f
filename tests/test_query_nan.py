"""``metric.x = nan``, ``!= nan``, ``is nan`` and ``is not nan`` (and the same on objectives)
select exactly the runs whose value is NaN (or is not), never confusing NaN with a value that
was never set, on both dialects."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mangodb import ObjectiveCreate, RunCreate, RunRepository
from mangodb.errors import QuerySyntaxError
from mangodb.language import parse
from mangodb.language.printer import to_text

# What a run holds for metric "val/loss" and objective "hop": NaN, a number, or nothing (for an
# objective: no objective at all, or an objective whose value was never set).
METRIC_STATES = st.sampled_from(["nan", "finite", "inf", "missing"])
OBJECTIVE_STATES = st.sampled_from(["nan", "finite", "missing", "unset"])
VALUES = {"nan": math.nan, "finite": 0.25, "inf": math.inf}

EXPECTED = {  # filter -> the states it selects
    "{f} = nan": {"nan"},
    "{f} is nan": {"nan"},
    "{f} is not nan": {"finite", "inf", "missing", "unset"},
    "{f} != nan": {"finite", "inf"},
    "not {f} = nan": {"finite", "inf", "missing", "unset"},
    "{f} is null": {"nan", "missing", "unset"},  # no number: NaN or never set (unchanged)
}


def _store(repo: RunRepository, run_id: str, metric: str, objective: str) -> None:
    objectives = [] if objective == "missing" else [ObjectiveCreate(name="hop", metric="x")]
    repo.insert_run(RunCreate(run_id=run_id, objectives=objectives))
    if metric != "missing":
        repo.set_final_metrics(run_id, {"val/loss": VALUES[metric]})
    if objective in VALUES:
        repo.update_objective_metric(run_id, "hop", value=VALUES[objective], step=1)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=st.lists(st.tuples(METRIC_STATES, OBJECTIVE_STATES), min_size=1, max_size=6))
def test_nan_filters_select_exactly_the_nan_runs(
    repo: RunRepository, runs: list[tuple[str, str]]
) -> None:
    prefix = uuid.uuid4().hex[:10]
    states: dict[str, tuple[str, str]] = {}
    for i, (metric, objective) in enumerate(runs):
        run_id = f"{prefix}-{i}"
        _store(repo, run_id, metric, objective)
        states[run_id] = (metric, objective)
    for field, position in (("metric.val/loss", 0), ("objective.hop", 1)):
        for template, selected in EXPECTED.items():
            where = f"({template.format(f=field)}) and run_id like '{prefix}-%'"
            found = {r.run_id for r in repo.query_runs(where=where, limit=100)}
            expected = {r for r, state in states.items() if state[position] in selected}
            assert found == expected, (where, states)
            assert repo.count_runs(where=where) == len(expected)


def test_nan_is_read_back_as_nan_on_the_selected_runs(repo: RunRepository) -> None:
    _store(repo, "diverged", "nan", "nan")
    _store(repo, "fine", "finite", "unset")
    (run,) = repo.query_runs(where="metric.val/loss is nan and objective.hop = nan")
    assert run.run_id == "diverged" and math.isnan(run.final_metrics["val/loss"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("metric.x < nan", "NaN is not ordered"),
        ("objective.hop >= NaN", "NaN is not ordered"),
        ("metric.x in (1, nan)", "nan cannot be in a list"),
        ("status is nan", "'is nan' applies to metric"),
        ("config.lr is not nan", "'is not nan' applies to metric"),
        ("metric.x is nul", "expected 'null' or 'nan'"),
    ],
)
def test_nan_misuse_is_an_error_at_the_right_place(query: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        parse(query)


@pytest.mark.parametrize(
    "query",
    ["metric.x is nan", "objective.hop is not nan", "metric.x = NaN", "not metric.x is nan"],
)
def test_nan_queries_print_back_to_an_equivalent_query(query: str) -> None:
    printed = to_text(parse(query))
    assert parse(printed) == parse(query)

"""``method_report``: the rows of the selected runs' objectives read in one fetch, the figures
computed by :mod:`mangodb.runs.method_maths`. On PostgreSQL the per-objective aggregates (n,
mean, std, declared directions, runs per method) are one statement, and the per-run values are
fetched only when scipy is there to use them (Welch's test, Δm's bootstrap); SQLite has no
standard deviation, so it always fetches the values and aggregates in Python.

Runs without a gradient method are left out; NaN and never-set values are left out of their
objective; the direction of an objective is the one most of its rows declare (``min`` unless
``max`` is in the majority), as in ``compare_gradient_methods``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunObjective
from mangodb.dto import Direction, MethodReport
from mangodb.errors import MethodNotFound, ValidationError
from mangodb.language.semantics import suggest
from mangodb.runs import method_maths
from mangodb.runs.analysis import _on_objectives
from mangodb.runs.planning import Plan


def _source(plan: Plan, names: Sequence[str] | None) -> tuple[Any, Any, tuple[Any, ...]]:
    """The method column, the run key column and the WHERE of the objective rows selected:
    on ``run_objectives`` alone when the criteria are on status and method only."""
    chosen: tuple[ColumnElement[bool], ...] = ()
    if names is not None:
        chosen = (RunObjective.name.in_(list(names)),)
    moved = _on_objectives(plan)
    if moved is None:
        method: Any = Run.gradient_method
        where = (RunObjective.run_pk == Run.id, *chosen, *plan.where, method.is_not(None))
    else:
        method = RunObjective.run_gradient_method
        where = (*chosen, *moved, method.is_not(None))
    return method, RunObjective.run_pk, where


def _directions(counts: Mapping[str, list[int]], names: Sequence[str] | None) -> dict[str, Any]:
    order = list(names) if names is not None else sorted(counts)
    return {n: ("max" if counts[n][0] > counts[n][1] else "min") for n in order if n in counts}


def _fetch_runs(
    session: Session, plan: Plan, names: Sequence[str] | None
) -> tuple[dict[str, dict[int, dict[str, float]]], dict[str, list[int]]]:
    """One query: method, run, objective, value, direction of every selected objective row."""
    method, run_pk, where = _source(plan, names)
    statement = select(
        method, run_pk, RunObjective.name, RunObjective.value, RunObjective.direction
    ).where(*where)
    runs: dict[str, dict[int, dict[str, float]]] = defaultdict(dict)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m, pk, name, value, declared in session.execute(statement):
        counts[name][0 if declared == "max" else 1] += 1
        run = runs[m].setdefault(pk, {})
        if value is not None:  # NaN and never-set values are NULL
            run[name] = float(value)
    return runs, counts


def _postgres_aggregates(
    session: Session, plan: Plan, names: Sequence[str] | None
) -> tuple[dict[tuple[str, str], method_maths.Aggregate], dict[str, int], dict[str, list[int]]]:
    """One statement: per (method, objective) n, mean, std and declared directions, and per
    method the number of runs (a second grouping set)."""
    method, run_pk, where = _source(plan, names)
    value = RunObjective.value
    statement = (
        select(
            method.label("method"),
            RunObjective.name,
            func.grouping(RunObjective.name).label("per_method"),
            func.count(value).label("n"),
            func.avg(value).label("mean"),
            func.stddev_samp(value).label("std"),
            func.count(func.distinct(run_pk)).label("runs"),
            func.count().filter(RunObjective.direction == "max").label("says_max"),
            func.count().filter(RunObjective.direction != "max").label("says_min"),
        )
        .where(*where)
        .group_by(func.grouping_sets(tuple_(method, RunObjective.name), tuple_(method)))
    )
    aggregates: dict[tuple[str, str], method_maths.Aggregate] = {}
    run_counts: dict[str, int] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in session.execute(statement):
        if row.per_method:
            run_counts[row.method] = int(row.runs)
            continue
        counts[row.name][0] += int(row.says_max)
        counts[row.name][1] += int(row.says_min)
        mean = None if row.mean is None else float(row.mean)
        std = None if row.std is None or row.n < 2 else float(row.std)
        if mean is not None and not (abs(mean) < float("inf")):
            std = None
        aggregates[(row.method, row.name)] = method_maths.Aggregate(int(row.n), mean, std)
    return aggregates, run_counts, counts


def _check_objectives(
    session: Session, plan: Plan, names: Sequence[str] | None, found: Mapping[str, Any]
) -> None:
    if names is not None and not names:
        raise ValidationError("objectives is empty: name some, or pass None for all of them")
    unknown = [n for n in names or () if n not in found]
    if not unknown:
        return
    _, _, where = _source(plan, None)  # the error path only: which names would there be?
    known = sorted(session.scalars(select(RunObjective.name).where(*where).distinct()))
    raise ValidationError(
        f"no selected run has an objective {unknown[0]!r}{suggest(unknown[0], known)}"
        + (f" (objectives: {', '.join(known)})" if known else "")
    )


def _check_baseline(baseline: str, methods: Sequence[str]) -> None:
    if baseline not in methods:
        known = sorted(methods)
        listed = f" (methods: {', '.join(known)})" if known else " (no run selected has one)"
        raise MethodNotFound(
            baseline,
            f"no selected run has the gradient method {baseline!r}{suggest(baseline, known)}"
            + listed,
        )


def method_report(
    session: Session, plan: Plan, baseline: str, names: Sequence[str] | None
) -> MethodReport:
    names = None if names is None else list(dict.fromkeys(names))
    statistics = method_maths.scipy_stats() is not None
    aggregates = run_counts = None
    if session.get_bind().dialect.name == "postgresql":
        aggregates, run_counts, counts = _postgres_aggregates(session, plan, names)
        runs: Mapping[str, Any] = {}
        if statistics:
            fetched, _ = _fetch_runs(session, plan, names)
            runs = {m: list(r.values()) for m, r in fetched.items()}
        methods = sorted(run_counts)
    else:
        fetched, counts = _fetch_runs(session, plan, names)
        runs = {m: list(r.values()) for m, r in fetched.items()}
        methods = sorted(runs)
    _check_objectives(session, plan, names, counts)
    _check_baseline(baseline, methods)
    directions: dict[str, Direction] = _directions(counts, names)
    return method_maths.build_report(
        baseline,
        directions,
        runs,
        aggregates=aggregates,
        run_counts=run_counts,
        statistics=statistics,
    )

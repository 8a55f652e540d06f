"""Objective statistics per gradient method, in one query on each dialect. PostgreSQL computes
them in SQL (stddev_samp, percentile_cont, the best run looked up by the extreme value);
SQLite has neither, so it fetches the values in one query and uses ``statistics``. Inf values
count; NaN values (stored as NULL) are excluded. The direction is the one most objectives of
that name declare (``min`` unless ``max`` is in the majority); the best run is the one with the
lowest (``min``) or highest (``max``) value, ties going to the run inserted first."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import replacement_traverse

from mangodb.db.models import Run, RunObjective
from mangodb.dto import MethodComparison
from mangodb.runs.filters import FIELDS, FieldFilter
from mangodb.runs.planning import Plan


def _direction(max_count: int, min_count: int) -> str:
    return "max" if max_count > min_count else "min"


def _finite_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# Memory for this query's sort by method (PostgreSQL's default, 4 MB, spills ~60K values of
# 100K runs to disk); set for its transaction only.
_WORK_MEM = "64MB"


_COPIES = {
    "status": RunObjective.run_status,
    "gradient_method": RunObjective.run_gradient_method,
    "archived_at": RunObjective.run_archived_at,
}


def _on_objectives(plan: Plan) -> tuple[ColumnElement[bool], ...] | None:
    """The plan's criteria moved onto the copies of the run's status, method and archive
    mark that ``run_objectives`` holds (migrations 0003, 0009), when it has no other
    criterion; else None."""
    if not all(isinstance(f, FieldFilter) and FIELDS[f.field].key in _COPIES for f in plan.filters):
        return None

    def swap(element: Any, **_: Any) -> Any:
        if getattr(element, "table", None) is Run.__table__ and element.name in _COPIES:
            return _COPIES[element.name].expression
        return None

    opts: dict[str, Any] = {}
    return tuple(replacement_traverse(w, opts, swap) for w in plan.where)


def _postgres(session: Session, plan: Plan, objective: str) -> tuple[str, dict[Any, Any]]:
    """One statement: one pass over the objective's rows for the statistics and the count of
    each declared direction per method, then the best run both ways as an index lookup of the
    rows holding the method's minimum and maximum (lowest run pk first). Filtered on status
    and method only (the usual call), it reads ``run_objectives`` alone: one index-only scan
    of (name, run_status, run_gradient_method, value), already in method then value order."""
    value = RunObjective.value
    moved = _on_objectives(plan)
    method: Any = Run.gradient_method
    joined: tuple[Any, ...]
    if moved is None:
        joined = (RunObjective.run_pk == Run.id, RunObjective.name == objective, *plan.where)
    else:
        method = RunObjective.run_gradient_method
        joined = (RunObjective.name == objective, *moved)
    stats = (
        select(
            method.label("method"),
            func.count(value).label("n"),
            func.avg(value).label("mean"),
            func.stddev_samp(value).label("std"),
            func.min(value).label("low"),
            func.max(value).label("high"),
            func.percentile_cont(0.5).within_group(value).label("median"),
            func.count().filter(RunObjective.direction == "max").label("says_max"),
            func.count().filter(RunObjective.direction != "max").label("says_min"),
        )
        .where(*joined)
        .group_by(method)
        .cte("stats")
    )

    def best(bound: Any) -> Any:
        at_bound = (*joined, value == bound, method.is_not_distinct_from(stats.c.method))
        if moved is None:
            return select(Run.run_id).where(*at_bound).order_by(Run.id).limit(1).scalar_subquery()
        first = (
            select(RunObjective.run_pk)
            .where(*at_bound)
            .order_by(RunObjective.run_pk)
            .limit(1)
            .correlate_except(RunObjective)  # ``stats``, two levels up
            .scalar_subquery()
        )
        return select(Run.run_id).where(Run.id == first).scalar_subquery()

    statement: Select[Any] = select(stats, best(stats.c.low), best(stats.c.high))
    if moved is None:  # read through the index, the rows come already sorted by method
        session.execute(select(func.set_config("work_mem", _WORK_MEM, True)))
    rows = session.execute(statement).all()
    direction = _direction(sum(r.says_max for r in rows), sum(r.says_min for r in rows))
    result: dict[Any, Any] = {}
    for row in rows:
        if not row.n:
            continue  # only NaN (or no) values
        result[row.method] = {
            "n": int(row.n),
            "mean": _finite_or_none(row.mean),
            "std": _finite_or_none(row.std),
            "min": _finite_or_none(row.low),
            "max": _finite_or_none(row.high),
            "median": _finite_or_none(row.median),
            "best_run_id": row[-2] if direction == "min" else row[-1],
            "best_value": _finite_or_none(row.low if direction == "min" else row.high),
        }
    return direction, result


def _in_python(session: Session, plan: Plan, objective: str) -> tuple[str, dict[Any, Any]]:
    """One query for the values; statistics, best runs and direction computed here."""
    statement = (
        select(Run.gradient_method, Run.id, Run.run_id, RunObjective.value, RunObjective.direction)
        .join(RunObjective, RunObjective.run_pk == Run.id)
        .where(RunObjective.name == objective, *plan.where)
    )
    values: dict[Any, list[float]] = defaultdict(list)
    lowest: dict[Any, tuple[float, int, str]] = {}
    highest: dict[Any, tuple[float, int, str]] = {}
    directions = {"max": 0, "min": 0}
    for method, pk, run_id, value, declared in session.execute(statement):
        directions["max" if declared == "max" else "min"] += 1
        if value is None:
            continue  # NaN
        number = float(value)
        values[method].append(number)
        low = (number, pk, run_id)
        if method not in lowest or low[:2] < lowest[method][:2]:
            lowest[method] = low
        high = (-number, pk, run_id)
        if method not in highest or high[:2] < highest[method][:2]:
            highest[method] = high
    direction = _direction(directions["max"], directions["min"])
    stats: dict[Any, Any] = {}
    for method, items in values.items():
        finite = all(math.isfinite(v) for v in items)
        number, _, run_id = (lowest if direction == "min" else highest)[method]
        stats[method] = {
            "n": len(items),
            "mean": statistics.fmean(items) if finite else sum(items) / len(items),
            "std": statistics.stdev(items)
            if len(items) > 1 and finite
            else (None if len(items) < 2 else math.nan),
            "min": min(items),
            "max": max(items),
            "median": statistics.median(items),
            "best_run_id": run_id,
            "best_value": number if direction == "min" else -number,
        }
    return direction, stats


def compare_methods(session: Session, plan: Plan, objective: str) -> list[MethodComparison]:
    if session.get_bind().dialect.name == "postgresql":
        direction, stats = _postgres(session, plan, objective)
    else:
        direction, stats = _in_python(session, plan, objective)
    return [
        MethodComparison(
            gradient_method=method, objective=objective, direction=direction, **stats[method]
        )
        for method in sorted(stats, key=lambda m: (m is None, m or ""))
    ]

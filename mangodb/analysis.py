"""Objective statistics per gradient method, in one query on each dialect. PostgreSQL computes
them in SQL (stddev_samp, percentile_cont, the best run as the first of the values in order);
SQLite has neither, so it fetches the values in one query and uses ``statistics``. Inf values
count; NaN values (stored as NULL) are excluded. The direction is the one most objectives of
that name declare (``min`` unless ``max`` is in the majority); the best run is the one with the
lowest (``min``) or highest (``max``) value, ties going to the run inserted first."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunObjective
from mangodb.dto import MethodComparison
from mangodb.queries import Plan


def _direction(max_count: int, min_count: int) -> str:
    return "max" if max_count > min_count else "min"


def _finite_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _postgres(session: Session, plan: Plan, objective: str) -> tuple[str, dict[Any, Any]]:
    """One pass over the objective's rows: the statistics, the best run both ways and the
    count of each declared direction, per method."""
    value = RunObjective.value
    measured = value.is_not(None)

    def best(*order: Any) -> Any:
        ranked = func.array_agg(aggregate_order_by(Run.run_id, *order)).filter(measured)
        return ranked[1]

    statement: Select[Any] = (
        select(
            Run.gradient_method,
            func.count(value),
            func.avg(value),
            func.stddev_samp(value),
            func.min(value),
            func.max(value),
            func.percentile_cont(0.5).within_group(value),
            best(value.asc(), Run.id.asc()),
            best(value.desc(), Run.id.asc()),
            func.count().filter(RunObjective.direction == "max"),
            func.count().filter(RunObjective.direction != "max"),
        )
        .join(RunObjective, RunObjective.run_pk == Run.id)
        .where(RunObjective.name == objective, *plan.where)
        .group_by(Run.gradient_method)
    )
    rows = session.execute(statement).all()
    direction = _direction(sum(r[9] for r in rows), sum(r[10] for r in rows))
    stats: dict[Any, Any] = {}
    for method, n, mean, std, low, high, median, best_min, best_max, _, _ in rows:
        if not n:
            continue  # only NaN (or no) values
        best_value = low if direction == "min" else high
        stats[method] = {
            "n": int(n),
            "mean": _finite_or_none(mean),
            "std": _finite_or_none(std),
            "min": _finite_or_none(low),
            "max": _finite_or_none(high),
            "median": _finite_or_none(median),
            "best_run_id": best_min if direction == "min" else best_max,
            "best_value": _finite_or_none(best_value),
        }
    return direction, stats


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

"""Objective statistics per gradient method. PostgreSQL computes them in SQL (stddev_samp,
percentile_cont); SQLite has neither, so it fetches the values in one query and uses
``statistics``. Inf values count; NaN values (stored as NULL) are excluded."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunObjective
from mangodb.dto import MethodComparison
from mangodb.queries import Plan


def _direction(session: Session, plan: Plan, objective: str) -> str:
    direction = session.scalar(
        select(RunObjective.direction)
        .join(Run, Run.id == RunObjective.run_pk)
        .where(RunObjective.name == objective, *plan.where)
        .group_by(RunObjective.direction)
        .order_by(func.count().desc())
        .limit(1)
    )
    return direction or "min"


def _best(
    session: Session, plan: Plan, objective: str, direction: str
) -> dict[Any, tuple[str, float]]:
    value = RunObjective.value
    ranked = (
        select(
            Run.gradient_method.label("method"),
            Run.run_id.label("run_id"),
            value.label("value"),
            func.row_number()
            .over(
                partition_by=Run.gradient_method,
                order_by=(value.asc() if direction == "min" else value.desc(), Run.id.asc()),
            )
            .label("rank"),
        )
        .join(RunObjective, RunObjective.run_pk == Run.id)
        .where(RunObjective.name == objective, value.is_not(None), *plan.where)
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.method, ranked.c.run_id, ranked.c.value).where(ranked.c.rank == 1)
    )
    return {method: (run_id, float(v)) for method, run_id, v in rows}


def _finite_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def compare_methods(session: Session, plan: Plan, objective: str) -> list[MethodComparison]:
    direction = _direction(session, plan, objective)
    best = _best(session, plan, objective, direction)
    base = (
        select(Run.gradient_method, RunObjective.value)
        .join(RunObjective, RunObjective.run_pk == Run.id)
        .where(RunObjective.name == objective, RunObjective.value.is_not(None), *plan.where)
    )
    stats: dict[Any, dict[str, Any]] = {}
    if session.get_bind().dialect.name == "postgresql":
        sub = base.subquery()
        rows = session.execute(
            select(
                sub.c.gradient_method,
                func.count(),
                func.avg(sub.c.value),
                func.stddev_samp(sub.c.value),
                func.min(sub.c.value),
                func.max(sub.c.value),
                func.percentile_cont(0.5).within_group(sub.c.value),
            ).group_by(sub.c.gradient_method)
        )
        for method, n, mean, std, low, high, median in rows:
            stats[method] = {
                "n": int(n),
                "mean": _finite_or_none(mean),
                "std": _finite_or_none(std),
                "min": _finite_or_none(low),
                "max": _finite_or_none(high),
                "median": _finite_or_none(median),
            }
    else:
        values: dict[Any, list[float]] = defaultdict(list)
        for method, value in session.execute(base):
            values[method].append(float(value or 0.0))  # NULLs were filtered out above
        for method, items in values.items():
            finite = all(math.isfinite(v) for v in items)
            stats[method] = {
                "n": len(items),
                "mean": statistics.fmean(items) if finite else sum(items) / len(items),
                "std": statistics.stdev(items)
                if len(items) > 1 and finite
                else (None if len(items) < 2 else math.nan),
                "min": min(items),
                "max": max(items),
                "median": statistics.median(items),
            }
    result = []
    for method in sorted(stats, key=lambda m: (m is None, m or "")):
        run_id, value = best.get(method, (None, None))
        result.append(
            MethodComparison(
                gradient_method=method,
                objective=objective,
                direction=direction,
                best_run_id=run_id,
                best_value=value,
                **stats[method],
            )
        )
    return result

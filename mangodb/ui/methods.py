"""The methods side of Compare and of the report: ``method_report`` as a table, each
objective's run values per method (strip plot), curves per method (mean ± std band over
seeds, from ``history_by_method``) and a scatter of two objectives with the Pareto front."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mangodb.dto import MethodCurves, MethodReport, ObjectiveStats, RunRead
from mangodb.errors import MethodNotFound, ValidationError
from mangodb.repository import RunRepository
from mangodb.ui import views

STRIP_RUNS = 500  # run values drawn per strip plot: the newest matching runs
CURVE_POINTS = 1000


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


GUESS_RUNS = 100  # newest runs whose methods are tried as the default baseline
BASELINE_NAMES = ("uniform", "linear", "equal", "ls", "sum")  # a default baseline, if present


def newest_runs(
    repo: RunRepository, where: str | None, include_archived: bool = False
) -> list[RunRead] | None:
    """The newest ``STRIP_RUNS`` matching runs, read once per page: the strips draw them, the
    default baseline is guessed from the first ``GUESS_RUNS`` and the offered history keys come
    from the first few. None when the language refuses the query (the section says why)."""
    try:
        page = repo.query_runs_page(
            where=where, limit=STRIP_RUNS, include_archived=include_archived
        )
    except ValidationError:
        return None
    return list(page.items)


def method_section(
    repo: RunRepository,
    *,
    where: str | None,
    baseline: str | None,
    keys: Sequence[str] = (),
    x_objective: str | None = None,
    y_objective: str | None = None,
    include_archived: bool = False,
    newest: Sequence[RunRead] | None = None,
) -> dict[str, Any]:
    """Everything the methods view draws (archived runs only with ``include_archived``).
    Without ``baseline``, a method named like a usual baseline (uniform, linear, …) is
    taken, else the newest run's. ``newest``: :func:`newest_runs`, when the caller has them."""
    where = (where or "").strip() or None
    section: dict[str, Any] = {
        "available": True,
        "baseline": baseline,
        "report": None,
        "objectives": [],
        "curves": [],
        "strips": [],
        "strip_runs": STRIP_RUNS,
        "scatter": None,
        "methods": [],
        "error": None,
    }
    try:
        if newest is None:
            page = repo.query_runs_page(
                where=where, limit=STRIP_RUNS, include_archived=include_archived
            )
            newest = page.items
        report = _report(repo, where, baseline, include_archived, newest[:GUESS_RUNS])
        if report is None:
            return section
        section["baseline"] = report.baseline
        section["methods"] = sorted(row.method for row in report.rows)
        section["report"] = _report_rows(report)
        names = [o.name for o in report.objectives]
        section["objectives"] = [
            {"name": o.name, "direction": o.direction} for o in report.objectives
        ]
        section["strips"] = _strips(newest, names)
        if len(names) >= 2:
            x = x_objective if x_objective is not None and x_objective in names else names[0]
            others = [n for n in names if n != x]
            y = y_objective if y_objective is not None and y_objective in others else others[0]
            section["scatter"] = _scatter(section["report"], x, y)
        for key in keys:
            curves = repo.history_by_method(
                key,
                where=where,
                baseline=report.baseline,
                max_points=CURVE_POINTS,
                include_archived=include_archived,
            )
            section["curves"].append(_curves(key, curves))
    except ValidationError as error:
        section["error"] = views.query_error(error)
    return section


def _report(
    repo: RunRepository,
    where: str | None,
    baseline: str | None,
    archived: bool,
    newest: Sequence[RunRead],
) -> MethodReport | None:
    """The report against ``baseline``; without one, against a usual baseline among the
    ``newest`` runs' methods, else their most frequent method that has objective values."""
    if baseline:
        return repo.method_report(baseline, where=where, include_archived=archived)
    counts = Counter(r.gradient_method for r in newest if r.gradient_method)
    usual = [m for m in counts if m.lower() in BASELINE_NAMES]
    for method in [*usual, *(m for m, _ in counts.most_common() if m not in usual)][:5]:
        try:
            return repo.method_report(method, where=where, include_archived=archived)
        except MethodNotFound:  # e.g. runs of this method have no objective values
            continue
    return None


def _interval(ci: tuple[float, float] | None) -> list[float | None] | None:
    return None if ci is None else [_number(ci[0]), _number(ci[1])]


def _stats_cell(stats: ObjectiveStats | None) -> dict[str, Any]:
    if stats is None:
        return {"mean": None, "std": None, "n": 0, "ci95": None, "p_value": None}
    return {
        "mean": _number(stats.mean),
        "std": _number(stats.std),
        "n": stats.n,
        "ci95": _interval(stats.ci95),
        "p_value": _number(stats.p_value),
    }


def _report_rows(report: MethodReport) -> dict[str, Any]:
    names = [o.name for o in report.objectives]
    rows = [
        {
            "method": row.method,
            "runs": row.runs,
            "objectives": {n: _stats_cell(row.objectives.get(n)) for n in names},
            "delta_m": _number(row.delta_m),
            "delta_m_ci95": _interval(row.delta_m_ci95),
            "mean_rank": _number(row.mean_rank),
            "pareto_optimal": row.pareto_optimal,
            "missing": list(row.missing),
            "note": row.delta_m_note,
        }
        for row in report.rows
    ]
    return {
        "baseline": report.baseline,
        "objectives": [{"name": o.name, "direction": o.direction} for o in report.objectives],
        "statistics": report.statistics,
        "rows": rows,
    }


def _strips(newest: Sequence[RunRead], names: Sequence[str]) -> list[Any]:
    by_method: dict[str, dict[str, list[float]]] = {}
    for run in newest:
        method = run.gradient_method or "(none)"
        for objective in run.objectives:
            value = _number(objective.value)
            if objective.name in names and value is not None:
                by_method.setdefault(objective.name, {}).setdefault(method, []).append(value)
    return [
        {
            "title": name,
            "groups": [
                {"label": m, "values": v} for m, v in sorted(by_method.get(name, {}).items())
            ],
        }
        for name in names
        if by_method.get(name)
    ]


def _scatter(report: dict[str, Any], x: str, y: str) -> dict[str, Any]:
    return {
        "title": f"{x} vs {y} (method means; Pareto front in red)",
        "xLabel": x,
        "yLabel": y,
        "points": [
            {
                "label": row["method"],
                "x": row["objectives"][x]["mean"],
                "y": row["objectives"][y]["mean"],
                "front": row["pareto_optimal"],
            }
            for row in report["rows"]
        ],
    }


def _curves(key: str, curves: MethodCurves) -> dict[str, Any]:
    series = []
    for curve in curves.curves:
        mean = [_number(v) for v in curve.mean]
        std = [_number(v) for v in curve.std]
        pairs = list(zip(mean, std, strict=True))
        lo = [m - s if m is not None and s is not None else m for m, s in pairs]
        hi = [m + s if m is not None and s is not None else m for m, s in pairs]
        series.append(
            {
                "label": f"{curve.method} (n={curve.runs})",
                "steps": list(curve.steps),
                "values": mean,
                "lo": lo,
                "hi": hi,
            }
        )
    return {"title": f"{key}: mean ± std over runs, per method", "series": series}

"""The methods side of Compare and of the report: ``method_report`` as a table, each
objective's run values per method (strip plot), curves per method (mean ± std band over
seeds, from ``history_by_method``) and a scatter of two objectives with the Pareto front."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mangodb.errors import ValidationError
from mangodb.repository import RunRepository
from mangodb.ui import views

STRIP_RUNS = 2000  # run values drawn per strip plot: the newest matching runs
CURVE_POINTS = 1000


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def method_section(
    repo: RunRepository,
    *,
    where: str | None,
    baseline: str | None,
    keys: Sequence[str] = (),
    x_objective: str | None = None,
    y_objective: str | None = None,
) -> dict[str, Any]:
    """Everything the methods view draws; ``available`` is False when this mangodb has no
    ``method_report`` (nothing else is then filled)."""
    where = (where or "").strip() or None
    section: dict[str, Any] = {
        "available": hasattr(repo, "method_report"),
        "baseline": baseline,
        "report": None,
        "objectives": [],
        "curves": [],
        "strips": [],
        "scatter": None,
        "methods": [],
        "error": None,
    }
    methods = _methods(repo, where)
    section["methods"] = methods
    if not section["available"]:
        return section
    baseline = baseline or (methods[0] if methods else None)
    section["baseline"] = baseline
    if baseline is None:
        return section
    try:
        report = repo.method_report(baseline, where=where)  # type: ignore[attr-defined]
    except ValidationError as error:
        section["error"] = views.query_error(error)
        return section
    section["report"] = _report_rows(report)
    objectives = [(o.name, o.direction) for o in report.objectives]
    section["objectives"] = [{"name": n, "direction": d} for n, d in objectives]
    section["strips"] = _strips(repo, where, [n for n, _ in objectives])
    if len(objectives) >= 2:
        names: list[str] = [str(n) for n, _ in objectives]
        x = x_objective if x_objective is not None and x_objective in names else names[0]
        others = [n for n in names if n != x]
        y = y_objective if y_objective is not None and y_objective in others else others[0]
        section["scatter"] = _scatter(section["report"], x, y)
    for key in keys:
        curves = repo.history_by_method(  # type: ignore[attr-defined]
            key, where=where, baseline=None, max_points=CURVE_POINTS
        )
        section["curves"].append(_curves(key, curves))
    return section


def _methods(repo: RunRepository, where: str | None) -> list[str]:
    """The gradient methods among the newest matching runs (the baseline's choices)."""
    page = repo.query_runs_page(where=where, limit=STRIP_RUNS)
    return sorted({r.gradient_method for r in page.items if r.gradient_method})


def _stats_cell(stats: Any) -> dict[str, Any]:
    if stats is None:
        return {"mean": None, "std": None, "n": 0, "ci95": None, "p_value": None}
    ci = getattr(stats, "ci95", None)
    ci = [_number(v) for v in ci] if isinstance(ci, (list, tuple)) else _number(ci)
    return {
        "mean": _number(stats.mean),
        "std": _number(getattr(stats, "std", None)),
        "n": int(getattr(stats, "n", 0) or 0),
        "ci95": ci,
        "p_value": _number(getattr(stats, "p_value", None)),
    }


def _report_rows(report: Any) -> dict[str, Any]:
    names = [o.name for o in report.objectives]
    rows = []
    for row in report.rows:
        ci = getattr(row, "delta_m_ci95", None)
        rows.append(
            {
                "method": row.method,
                "runs": row.runs,
                "objectives": {n: _stats_cell(row.objectives.get(n)) for n in names},
                "delta_m": _number(row.delta_m),
                "delta_m_ci95": [_number(v) for v in ci] if isinstance(ci, (list, tuple))
                else _number(ci),
                "mean_rank": _number(row.mean_rank),
                "pareto_optimal": bool(row.pareto_optimal),
                "missing": list(getattr(row, "missing", ()) or ()),
                "note": getattr(row, "delta_m_note", None),
            }
        )
    return {
        "baseline": getattr(report, "baseline", None),
        "objectives": [{"name": o.name, "direction": o.direction} for o in report.objectives],
        "statistics": bool(getattr(report, "statistics", False)),
        "rows": rows,
    }


def _strips(repo: RunRepository, where: str | None, names: Sequence[str]) -> list[Any]:
    page = repo.query_runs_page(where=where, limit=STRIP_RUNS)
    by_method: dict[str, dict[str, list[float]]] = {}
    for run in page.items:
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


def _curves(key: str, curves: Any) -> dict[str, Any]:
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

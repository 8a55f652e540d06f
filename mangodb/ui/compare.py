"""The Compare page and its API: an explicit set of runs (their curves overlaid) or, over a
query, the methods (``method_report`` and ``history_by_method``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse

from mangodb.dto import RunRead
from mangodb.errors import ValidationError
from mangodb.frames import column_value
from mangodb.repository import RunRepository
from mangodb.ui import views
from mangodb.ui.methods import method_section, newest_runs
from mangodb.ui.rendering import JSONBody, render

MAX_RUNS = 50  # an explicit comparison is of runs someone ticked, not of a query's thousands
CURVE_POINTS = 1000


def selected_runs(
    repo: RunRepository, run_ids: Sequence[str], *, key: str | None
) -> dict[str, Any]:
    """The chosen runs side by side: their records' main columns and one history key of
    each overlaid (the first key they share, unless ``key`` is given)."""
    ids = list(dict.fromkeys(run_ids))
    if len(ids) > MAX_RUNS:
        raise ValidationError(f"compare at most {MAX_RUNS} runs at a time (got {len(ids)})")
    runs = [repo.get_run(run_id) for run_id in ids]
    keys: list[str] = []
    for run in runs:
        for name in repo.history_keys(run.run_id):
            if name not in keys:
                keys.append(name)
    chosen = key or (keys[0] if keys else None)
    columns = ["run_id", "status", "method", "model", "dataset", "batch_size", "created"]
    metric_names = sorted({m for run in runs for m in run.final_metrics})[:8]
    columns += [f"metric.{m}" for m in metric_names]
    page = {
        "columns": columns,
        "sortable": [],
        "sort": "",
        "rows": [
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "cells": [views.jsonable(column_value(run, c)) for c in columns],
            }
            for run in runs
        ],
    }
    curves: list[dict[str, Any]] = []
    if chosen is not None:
        got = repo.get_history_many(ids, chosen, max_points=CURVE_POINTS)
        curves.append(
            {
                "title": chosen,
                "series": [
                    {"label": run_id, **_points(got[run_id])} for run_id in ids if run_id in got
                ],
            }
        )
    return {"page": page, "history_keys": keys, "key": chosen, "curves": curves, "run_ids": ids}


def _points(series: Any) -> dict[str, Any]:
    points = views.series_points(series)
    return {"steps": points["steps"], "values": points["values"]}


def query_keys(
    repo: RunRepository,
    where: str | None,
    sample: int = 20,
    archived: bool = False,
    newest: Sequence[RunRead] | None = None,
) -> list[str]:
    """History keys offered for the curves: those of the newest ``sample`` matching runs
    (``newest``: those runs, when the caller has read them)."""
    keys: dict[str, None] = {}
    try:
        if newest is None:
            newest = repo.query_runs_page(
                where=where, limit=sample, include_archived=archived
            ).items
        for run in newest[:sample]:
            keys.update(dict.fromkeys(repo.history_keys(run.run_id)))
    except ValidationError:
        return []
    return sorted(keys)


def default_key(keys: Sequence[str]) -> str | None:
    return next((k for k in keys if "loss" in k), keys[0] if keys else None)


def methods_view(
    repo: RunRepository,
    *,
    q: str,
    baseline: str,
    key: str,
    x: str = "",
    y: str = "",
    archived: bool = False,
) -> dict[str, Any]:
    where = q.strip() or None
    newest = newest_runs(repo, where, archived)
    keys = query_keys(repo, where, archived=archived, newest=newest)
    chosen = key or default_key(keys)
    section = method_section(
        repo,
        where=where,
        baseline=baseline or None,
        keys=[chosen] if chosen else [],
        x_objective=x or None,
        y_objective=y or None,
        include_archived=archived,
        newest=newest,
    )
    section["history_keys"] = keys
    section["include_archived"] = archived
    section["key"] = chosen
    return section


def compare_page(
    request: Request,
    repo: RunRepository,
    *,
    q: str,
    baseline: str,
    key: str,
    runs: Sequence[str],
    x: str = "",
    y: str = "",
    archived: bool = False,
) -> HTMLResponse:
    if runs:
        data = selected_runs(repo, runs, key=key or None)
        chart_data = {"curves": data["curves"]}
        html = render(
            request, "compare_runs.html", title="Compare runs", data=data, chart_data=chart_data
        )
        return HTMLResponse(html)
    methods = methods_view(repo, q=q, baseline=baseline, key=key, x=x, y=y, archived=archived)
    chart_data = {
        "curves": methods["curves"],
        "strips": methods["strips"],
        "scatter": methods["scatter"],
    }
    html = render(
        request,
        "compare.html",
        title="Compare",
        q=q,
        methods=methods,
        chart_data=chart_data,
    )
    return HTMLResponse(html, status_code=200 if methods["error"] is None else 400)


def compare_api(app: FastAPI, repo: RunRepository) -> None:
    @app.get("/api/compare/runs", tags=["compare"])
    def api_compare_runs(
        run: list[str] = Query(..., description="Run ids (at most 50)"),  # noqa: B008
        key: str | None = Query(None, description="History key to overlay"),
    ) -> JSONBody:
        """Chosen runs side by side, and one history key of each overlaid."""
        return JSONBody(selected_runs(repo, run, key=key))

    @app.get("/api/compare", tags=["compare"])
    def api_compare(
        q: str = Query("", description="A query selecting the runs"),
        baseline: str = Query("", description="Baseline method (default: a usual one)"),
        key: str = Query("", description="History key for the curves per method"),
        archived: bool = Query(False, description="Include archived runs (`compare --archived`)"),
    ) -> JSONBody:
        """The method report, each objective's run values per method, the Pareto scatter of
        two objectives and the curves per method of one history key."""
        data = methods_view(repo, q=q, baseline=baseline, key=key, archived=archived)
        return JSONBody(data, status_code=200 if data["error"] is None else 400)

    @app.get("/api/curves", tags=["compare"])
    def api_curves(
        key: str = Query(..., description="History key"),
        q: str = Query("", description="A query selecting the runs"),
        baseline: str | None = Query(None, description="Method listed first"),
        max_points: int = Query(CURVE_POINTS, ge=2, le=views.MAX_POINTS),
        archived: bool = Query(False, description="Include archived runs"),
    ) -> Any:
        """``history_by_method``: per gradient method the mean, std, min, max and count of
        the runs' values at each step."""
        curves = repo.history_by_method(
            key,
            where=q.strip() or None,
            baseline=baseline,
            max_points=max_points,
            include_archived=archived,
        )
        return views.jsonable(curves)

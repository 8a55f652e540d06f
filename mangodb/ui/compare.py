"""The Compare page and its API: an explicit set of runs (their curves overlaid) or, over a
query, the methods (``method_report`` and ``history_by_method``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse

from mangodb.errors import ValidationError
from mangodb.frames import column_value
from mangodb.repository import RunRepository
from mangodb.ui import views
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


def compare_page(
    request: Request,
    repo: RunRepository,
    *,
    q: str,
    baseline: str,
    key: str,
    runs: Sequence[str],
) -> HTMLResponse:
    if runs:
        data = selected_runs(repo, runs, key=key or None)
        chart_data = {"curves": data["curves"]}
        html = render(
            request, "compare_runs.html", title="Compare runs", data=data, chart_data=chart_data
        )
        return HTMLResponse(html)
    html = render(
        request,
        "compare.html",
        title="Compare",
        q=q,
        baseline=baseline,
        key=key,
        data=None,
        chart_data=None,
    )
    return HTMLResponse(html)


def compare_api(app: FastAPI, repo: RunRepository) -> None:
    @app.get("/api/compare/runs", tags=["compare"])
    def api_compare_runs(
        run: list[str] = Query(..., description="Run ids (at most 50)"),  # noqa: B008
        key: str | None = Query(None, description="History key to overlay"),
    ) -> JSONBody:
        """Chosen runs side by side, and one history key of each overlaid."""
        return JSONBody(selected_runs(repo, run, key=key))

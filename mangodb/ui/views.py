"""What the pages, the JSON API and the HTML report show, as plain JSON-able values built from
``RunRepository`` calls only (the same calls the CLI makes). One function per view, so the
server's pages, its ``/api/`` routes and ``mangodb report`` cannot disagree."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from mangodb.codecs import plain
from mangodb.errors import QuerySyntaxError, ValidationError
from mangodb.frames import check_columns, column_value
from mangodb.history import Series
from mangodb.repository import RunRepository
from mangodb.runs.filters import FIELDS
from mangodb.status import RunStatus

DEFAULT_COLUMNS = ("run_id", "status", "method", "model", "dataset", "batch_size", "created")
STATUSES = tuple(s.value for s in RunStatus)
PAGE_LIMIT = 50
MAX_LIMIT = 1000
MAX_POINTS = 10_000  # per key and request: a chart is at most a few thousand pixels wide
DEFAULT_POINTS = 1000


def jsonable(value: Any) -> Any:
    """Plain JSON: datetimes as ISO text, enums by value, NaN/±Inf as their names (text)."""
    return plain.jsonable(value, plain.nonfinite_as_name)


def query_error(error: ValidationError) -> dict[str, Any]:
    """A refused query as the page shows it: the message, and for a syntax error the query
    text and the 1-based column the caret points at."""
    if isinstance(error, QuerySyntaxError):
        return {"message": error.reason, "text": error.text, "column": error.column}
    return {"message": str(error), "text": None, "column": None}


def sortable(column: str) -> bool:
    """Whether ``query_runs`` can sort by the column: every column the table can show (fields,
    final metrics, objectives and config paths)."""
    return column in FIELDS or column.startswith(("metric.", "objective.", "config."))


def split_columns(text: str | None) -> list[str]:
    names = [c.strip() for c in (text or "").split(",") if c.strip()]
    return list(dict.fromkeys(names)) or list(DEFAULT_COLUMNS)


def runs_page(
    repo: RunRepository,
    *,
    where: str | None,
    columns: Sequence[str],
    sort: str = "-created",
    cursor: str | None = None,
    limit: int = PAGE_LIMIT,
    include_archived: bool = False,
) -> dict[str, Any]:
    """One page of the runs table with the total and the counts by status (archived runs
    only with ``include_archived``; each row has its ``archived_at``). A query the
    language refuses gives ``error`` (and no rows) instead of raising."""
    where = (where or "").strip() or None
    result: dict[str, Any] = {
        "where": where,
        "include_archived": include_archived,
        "columns": list(columns),
        "sortable": [c for c in columns if sortable(c)],
        "sort": sort,
        "rows": [],
        "total": 0,
        "by_status": {},
        "next_cursor": None,
        "error": None,
    }
    try:
        check_columns(columns)
        page = repo.query_runs_page(
            where=where,
            order_by=sort,
            cursor=cursor,
            limit=limit,
            include_archived=include_archived,
        )
        # The total is their sum: one count.
        by_status = repo.count_by_status(where=where, include_archived=include_archived)
    except ValidationError as error:
        result["error"] = query_error(error)
        return result
    result["by_status"] = {s: by_status.get(s, 0) for s in STATUSES if by_status.get(s)}
    result["total"] = sum(by_status.values())
    result["next_cursor"] = page.next_cursor
    result["rows"] = [
        {
            "run_id": run.run_id,
            "status": run.status.value,
            "archived_at": jsonable(run.archived_at),
            "cells": [jsonable(column_value(run, c)) for c in columns],
        }
        for run in page.items
    ]
    return result


def run_record(repo: RunRepository, run_id: str) -> dict[str, Any]:
    """Everything stored about one run, with the exact summary of each history key."""
    run = repo.get_run(run_id)
    summary = repo.history_summary(run_id)
    record: dict[str, Any] = jsonable(run)
    record["history"] = [jsonable(s) for s in summary.values()]
    return record


def series_points(series: Series) -> dict[str, Any]:
    """A series for a chart: numbers or null (JSON has no NaN), and the steps where the value
    was NaN or ±Inf listed apart so the chart can mark them."""
    numeric = series.kind == "numeric"
    if numeric and all(map(math.isfinite, series.values)):  # the usual case, in C
        return {
            "key": series.key,
            "kind": series.kind,
            "steps": list(series.steps),
            "values": list(series.values),
            "nonfinite": [],
        }
    values: list[float | None] = []
    nonfinite: list[list[Any]] = []
    for step, value in zip(series.steps, series.values, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            values.append(None)
            continue
        if math.isfinite(value):
            values.append(value)
            continue
        values.append(None)
        nonfinite.append([step, jsonable(float(value))])
    return {
        "key": series.key,
        "kind": series.kind if numeric else "mixed",
        "steps": list(series.steps),
        "values": values,
        "nonfinite": nonfinite,
    }


def history(
    repo: RunRepository,
    run_id: str,
    *,
    keys: Sequence[str] | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    max_points: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """Key -> points of a step range, downsampled by the repository (first/last/min/max per
    bucket) to ``max_points`` per key."""
    if not 2 <= max_points <= MAX_POINTS:
        raise ValidationError(f"max_points must be between 2 and {MAX_POINTS}")
    got = repo.get_history(
        run_id, keys or None, min_step=min_step, max_step=max_step, max_points=max_points
    )
    return {
        "run_id": run_id,
        "min_step": min_step,
        "max_step": max_step,
        "max_points": max_points,
        "series": {key: series_points(s) for key, s in got.items()},
    }


def crashes(
    repo: RunRepository, *, where: str | None = None, include_archived: bool = False
) -> dict[str, Any]:
    """Crash reports grouped by class and fingerprint, with runs without any report
    (of archived runs only with ``include_archived``)."""
    where = (where or "").strip() or None
    try:
        groups = repo.crash_groups(where=where, include_archived=include_archived)
        missing = repo.runs_without_crash_data(where=where, include_archived=include_archived)
    except ValidationError as error:
        return {"where": where, "groups": [], "without_report": [], "error": query_error(error)}
    return {
        "where": where,
        "groups": [jsonable(g) for g in groups],
        "without_report": missing[:200],
        "without_report_count": len(missing),
        "error": None,
    }


def fleet(
    repo: RunRepository, *, grace: dt.timedelta, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Runs still launched or running, how stale each heartbeat is, and what the heartbeat
    reaper (``reap_stale_runs``) would do now: a dry run, nothing is written."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    verdicts = {c.run_id: c for c in repo.reap_stale_runs(grace, now=moment, dry_run=True)}
    rows = []
    for status in ("running", "launched"):
        cursor = None
        while True:
            page = repo.query_runs_page(
                status=status, order_by="-created_at", cursor=cursor, limit=MAX_LIMIT
            )
            for run in page.items:
                last = run.heartbeat_at or run.started_at
                change = verdicts.get(run.run_id)
                rows.append(
                    {
                        "run_id": run.run_id,
                        "status": run.status.value,
                        "method": run.gradient_method,
                        "instance_id": run.instance_id,
                        "instance_type": run.instance_type,
                        "region": run.region,
                        "created_at": run.created_at.isoformat(),
                        "age_s": (moment - run.created_at).total_seconds(),
                        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
                        "stale_s": (moment - last).total_seconds() if last else None,
                        "reaper": (
                            f"would mark {change.to_status.value}" if change else "leave alone"
                        ),
                    }
                )
            cursor = page.next_cursor
            if cursor is None or len(rows) >= 10 * MAX_LIMIT:
                break
    return {
        "checked_at": moment.isoformat(),
        "grace_s": grace.total_seconds(),
        "runs": rows,
        "would_change": len(verdicts),
    }


def duration(seconds: float | None) -> str:
    """``93784`` -> ``1d 2h``; short, for a table cell."""
    if seconds is None:
        return ""
    s = int(max(seconds, 0))
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if s >= size:
            rest = (s % size) // subsize
            return f"{s // size}{unit} {rest}{sub}" if rest else f"{s // size}{unit}"
    if s >= 60:
        return f"{s // 60}m {s % 60}s" if s % 60 else f"{s // 60}m"
    return f"{s}s"

"""``mangodb report``: one self-contained HTML file (styles, scripts and data inlined) with the
runs table, the crash summary and curves, drawn by the same templates and chart code as the
server. It opens from ``file://`` with no network."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from mangodb.repository import RunRepository
from mangodb.settings import mask_url
from mangodb.ui import views
from mangodb.ui.compare import default_key, query_keys
from mangodb.ui.methods import method_section, newest_runs
from mangodb.ui.rendering import render

REPORT_RUNS = 500  # rows of the runs table; the total is always shown


def describe(url: URL) -> str:
    """The database as a person wrote it: a read-only SQLite URI back to its file path."""
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database.startswith("file:"):
        return database.removeprefix("file:")
    return mask_url(url)


def build_report(
    repo: RunRepository,
    *,
    where: str | None = None,
    baseline: str | None = None,
    keys: Sequence[str] = (),
    columns: Sequence[str] = views.DEFAULT_COLUMNS,
    include_archived: bool = False,
) -> str:
    """The report's HTML text (archived runs only with ``include_archived``). A query the
    language refuses raises its ``ValidationError``."""
    archived = include_archived
    page = views.runs_page(
        repo, where=where, columns=columns, limit=REPORT_RUNS, include_archived=archived
    )
    if page["error"] is not None:
        repo.count_runs(where=where)  # raises the refusal with its message and caret
    crashes = views.crashes(repo, where=where, include_archived=archived)
    newest = newest_runs(repo, where, archived)
    if not keys:
        chosen = default_key(query_keys(repo, where, archived=archived, newest=newest))
        keys = [chosen] if chosen else []
    methods = method_section(
        repo, where=where, baseline=baseline, keys=keys, include_archived=archived, newest=newest
    )
    return render(
        None,
        "report.html",
        title="mangodb report",
        page=page,
        crashes=crashes,
        methods=methods,
        where=where,
        chart_data={"curves": methods["curves"], "strips": methods["strips"],
                    "scatter": methods["scatter"]},
        generated_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        source=describe(repo.engine.url),
        sort_urls={},
    )


def write_report(
    repo: RunRepository,
    out: Path,
    *,
    where: str | None = None,
    baseline: str | None = None,
    keys: Sequence[str] = (),
    include_archived: bool = False,
) -> dict[str, Any]:
    """Write the report to ``out``; returns what it holds (runs, groups, bytes)."""
    text = build_report(
        repo, where=where, baseline=baseline, keys=keys, include_archived=include_archived
    )
    out.write_text(text, encoding="utf-8")
    return {"path": str(out), "bytes": len(text.encode())}

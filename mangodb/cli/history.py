"""``mangodb history RUN_ID [KEYS…]``: a run's metric history as a summary, CSV or JSON."""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from mangodb.cli.app import app
from mangodb.cli.db import UrlOption
from mangodb.cli.render import open_repo, out, print_json, sparkline, text
from mangodb.cli.tables import Column, TableSpec
from mangodb.errors import ValidationError
from mangodb.history import SeriesSummary
from mangodb.history.downsample import MIN_POINTS

# In a narrow terminal the curve goes first, then min and max, then the step range.
_SUMMARY_COLUMNS = (
    Column("key", kind="id"),
    Column("points", justify="right"),
    Column("steps", drop=2),
    Column("last", justify="right"),
    Column("min", justify="right", drop=3),
    Column("max", justify="right", drop=3),
    Column("curve", drop=4),
)


def history_summary(
    summaries: Mapping[str, SeriesSummary],
    curves: Mapping[str, Any],
    title: str | None = None,
) -> TableSpec:
    """One row per key: points, step range, last/min/max from the series' stored summaries
    (exact, whatever ``curves`` was downsampled to) and a sparkline of ``curves``."""
    table = TableSpec(_SUMMARY_COLUMNS, title=title)
    for key, summary in summaries.items():
        series = curves.get(key)
        values = series.values if series is not None else []
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        steps = f"{summary.first_step}–{summary.last_step}" if summary.points else ""
        last = summary.last_value
        if last is None and series is not None and series.steps:
            # Not a number (a string, a media dict): the read's last point, which every read
            # keeps (downsampled or not), is the last stored point.
            last = series.values[-1] if series.steps[-1] == summary.last_step else None
        table.add_row(
            *map(
                text,
                (
                    key,
                    summary.points,
                    steps,
                    last,
                    summary.min_value,
                    summary.max_value,
                    sparkline(numbers),
                ),
            )
        )
    return table


def write_csv(history: Mapping[str, Any]) -> None:
    """Wide CSV on stdout: ``step`` then one column per key (empty where a key has no point)."""
    columns: dict[str, dict[int, Any]] = {
        key: dict(zip(series.steps, series.values, strict=True)) for key, series in history.items()
    }
    steps = sorted({step for points in columns.values() for step in points})
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["step", *columns])
    for step in steps:
        writer.writerow([step, *(points.get(step, "") for points in columns.values())])


@app.command("history")
def history(
    run_id: str,
    keys: Annotated[list[str] | None, typer.Argument(help="Keys to show (default: all).")] = None,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print the points as CSV.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    max_points: Annotated[
        int | None,
        typer.Option(
            min=MIN_POINTS,
            help=f"Downsample the points of each key to at most this many (at least {MIN_POINTS}: "
            "each bucket keeps its first, last, min and max point and a NaN). The summary's "
            "counts, ranges and last values stay exact.",
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Show the metric history of RUN_ID: a summary with sparklines, or the points."""
    with open_repo(url, must_exist=True) as repo:
        series = repo.get_history(run_id, keys or None, max_points=max_points)
        summaries = repo.history_summary(run_id) if not (csv_output or json_output) else {}
    if keys:
        missing = [k for k in keys if k not in series]
        if missing:

            raise ValidationError(f"run {run_id!r} has no history key(s): {', '.join(missing)}")
        series = {key: series[key] for key in keys}  # in the order asked for
    if csv_output:
        write_csv(series)
    elif json_output:
        print_json({k: {"steps": s.steps, "values": s.values} for k, s in series.items()})
    elif not series:
        typer.echo(f"run {run_id!r} has no history")
    else:
        shown = {key: summaries[key] for key in series if key in summaries}
        out(history_summary(shown, series, title=f"history of {run_id}"))

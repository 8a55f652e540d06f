"""``mangodb history RUN_ID [KEYS…]``: a run's metric history as a summary, CSV or JSON."""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from mangodb.cli.app import app
from mangodb.cli.db import UrlOption
from mangodb.cli.render import open_repo, out, print_json, sparkline, text
from mangodb.cli.tables import Column, TableSpec
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


def history_summary(history: Mapping[str, Any], title: str | None = None) -> TableSpec:
    """One row per key: points, step range, last/min/max and a sparkline."""
    table = TableSpec(_SUMMARY_COLUMNS, title=title)
    for key, series in history.items():
        numbers = [
            v for v in series.values if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        finite = [v for v in numbers if math.isfinite(v)]
        steps = f"{series.steps[0]}–{series.steps[-1]}" if series.steps else ""
        table.add_row(
            *map(
                text,
                (
                    key,
                    len(series.steps),
                    steps,
                    series.values[-1] if series.values else None,
                    min(finite) if finite else None,
                    max(finite) if finite else None,
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
            help=f"Downsample each key to at most this many points (at least {MIN_POINTS}).",
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Show the metric history of RUN_ID: a summary with sparklines, or the points."""
    with open_repo(url, must_exist=True) as repo:
        series = repo.get_history(run_id, keys or None, max_points=max_points)
    if keys:
        missing = [k for k in keys if k not in series]
        if missing:
            from mangodb.errors import ValidationError

            raise ValidationError(f"run {run_id!r} has no history key(s): {', '.join(missing)}")
        series = {key: series[key] for key in keys}  # in the order asked for
    if csv_output:
        write_csv(series)
    elif json_output:
        print_json({k: {"steps": s.steps, "values": s.values} for k, s in series.items()})
    elif not series:
        typer.echo(f"run {run_id!r} has no history")
    else:
        out(history_summary(series, title=f"history of {run_id}"))

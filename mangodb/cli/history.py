"""``mangodb history RUN_ID [KEYS…]``: a run's metric history as a summary, CSV or JSON;
``mangodb history --by-method KEY [QUERY]``: one key per gradient method over the runs."""

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
from mangodb.dto import MethodCurves
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


_METHOD_COLUMNS = (
    Column("method", kind="id"),
    Column("runs", justify="right"),
    Column("steps", drop=2),
    Column("mean (curve)", drop=3),
    Column("last mean ± std", justify="right"),
    Column("runs at end", justify="right", drop=1),
)
DEFAULT_METHOD_POINTS = 1000


def method_curves_table(result: MethodCurves) -> TableSpec:
    """One row per method: runs with the key, step range, a sparkline of the mean (the
    helper that never hides a spike), the last step's mean ± std and how many runs reach it."""
    table = TableSpec(_METHOD_COLUMNS, title=f"{result.key} per gradient method")
    for curve in result.curves:
        steps = f"{curve.steps[0]}–{curve.steps[-1]}" if curve.steps else ""
        last = ""
        if curve.steps:
            mean, std = curve.mean[-1], curve.std[-1]
            last = text(mean).plain + ("" if std is None else f" ± {text(std).plain}")
        final = curve.count[-1] if curve.count else ""
        row = (curve.method, curve.runs, steps, sparkline(curve.mean), last, final)
        table.add_row(*map(text, row))
    return table


@app.command("history")
def history(
    run_id: Annotated[
        str | None,
        typer.Argument(
            help="The run to show; with --by-method, a query selecting the runs "
            '(e.g. "status = completed"; words after it are joined to it).',
            show_default=False,
        ),
    ] = None,
    keys: Annotated[list[str] | None, typer.Argument(help="Keys to show (default: all).")] = None,
    by_method: Annotated[
        str | None,
        typer.Option(
            "--by-method",
            metavar="KEY",
            help="Show KEY per gradient method over the runs (mean, std, min, max and runs "
            "counted at each step).",
        ),
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="With --by-method: only runs matching this query.")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="With --by-method: the gradient method listed first."),
    ] = None,
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
    """Show the metric history of RUN_ID: a summary with sparklines, or the points. With
    --by-method KEY: that key per gradient method over the runs matching QUERY."""
    if by_method is not None:
        query = " ".join([run_id, *(keys or [])]) if run_id is not None else None
        if query is not None and where is not None:
            raise ValidationError("give the query either as an argument or with --where")
        if csv_output:
            raise ValidationError("--csv shows one run's points; --by-method has --json")
        with open_repo(url, must_exist=True) as repo:
            result = repo.history_by_method(
                by_method,
                where=where if query is None else query,
                baseline=baseline,
                max_points=DEFAULT_METHOD_POINTS if max_points is None else max_points,
            )
        if json_output:
            print_json(result)
        elif not result.curves:
            typer.echo("no run with a gradient method matches")
        else:
            out(method_curves_table(result))
        return
    if run_id is None:
        raise ValidationError("give a RUN_ID, or --by-method KEY (see mangodb history --help)")
    if where is not None or baseline is not None:
        raise ValidationError("--where and --baseline go with --by-method KEY")
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

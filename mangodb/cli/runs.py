"""``mangodb runs …`` (list, show, set-status, tag) and the top-level ``compare`` and
``export`` commands: everything that reads or changes runs as a whole."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from mangodb.cli.app import app, console
from mangodb.cli.db import UrlOption
from mangodb.cli.exporting import check_destination, export_format, export_runs
from mangodb.cli.history import history_summary
from mangodb.cli.render import open_repo, out, print_json, split_columns, status_cell, text
from mangodb.cli.report import print_report
from mangodb.cli.show import comparison_table, render_run
from mangodb.cli.tables import Column, TableSpec
from mangodb.errors import InvalidTransition, ValidationError
from mangodb.frames import check_columns, column_value
from mangodb.language.semantics import STATUSES, suggest

runs_app = typer.Typer(help="List, inspect and change runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

DEFAULT_COLUMNS = ("run_id", "status", "method", "batch_size", "created")
# What the next command needs, never shortened; in a narrow terminal other columns are
# shortened, then dropped from the right.
IDENTIFIER_COLUMNS = ("run_id", "status", "method")
WhereArgument = Annotated[
    str | None,
    typer.Argument(
        help='A query, e.g. "status = crashed and method = pcgrad and created > 7d" '
        "(see docs/query-language.md).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ArchivedOption = Annotated[
    bool,
    typer.Option(
        "--archived",
        help='Include archived runs (see runs archive); only them: "archived_at is not null".',
    ),
]


@runs_app.command("ls")
def list_runs(
    where: WhereArgument = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Comma-separated columns: fields (status, method, created, …), tags, "
            "config.<path>, metric.<key>, objective.<name>.",
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="Sort key, '-' for descending: -created, run_id, metric.<key>, "
            "objective.<name>, config.<path>"
        ),
    ] = "-created",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many runs.")] = 50,
    archived: ArchivedOption = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """List runs matching WHERE, newest first (archived runs only with --archived)."""

    chosen = split_columns(columns) or list(DEFAULT_COLUMNS)
    check_columns(chosen)
    with open_repo(url, must_exist=True) as repo:
        page = repo.query_runs_page(
            where=where, order_by=sort, limit=limit, include_archived=archived
        )
        total = repo.count_runs(where=where, include_archived=archived)
    rows = [{c: column_value(run, c) for c in chosen} for run in page.items]
    if json_output:
        print_json(rows)
        return
    out(runs_table(chosen, rows))
    console.print(f"{len(rows)} of {total} runs", style="dim", highlight=False, markup=False)


def runs_table(chosen: Sequence[str], rows: Sequence[dict[str, Any]]) -> TableSpec:
    """The ``runs ls`` table: identifiers whole, the other columns dropped from the right when
    a terminal is too narrow."""
    columns = [
        Column(name, kind="id") if name in IDENTIFIER_COLUMNS else Column(name, drop=1 + i)
        for i, name in enumerate(chosen)
    ]
    table = TableSpec(columns)
    for row in rows:
        table.add_row(*(status_cell(row[c]) if c == "status" else text(row[c]) for c in chosen))
    return table


@runs_app.command("show")
def show_run(run_id: str, json_output: JsonOption = False, url: UrlOption = None) -> None:
    """Everything about one run, with history sparklines.

    Fields, config, final metrics, objectives, status events, crash reports, attachments and
    the history keys with a sparkline each."""

    with open_repo(url, must_exist=True) as repo:
        run = repo.get_run(run_id)
        summaries = repo.history_summary(run_id)  # exact counts, ranges and values
        curves = repo.get_history(run_id, max_points=60) if not json_output else {}
    if json_output:
        data = run.model_dump()
        data["history_keys"] = {k: s.points for k, s in summaries.items()}
        print_json(data)
        return

    render_run(run)
    if summaries:
        out(history_summary(summaries, curves, title="history"))


@runs_app.command("set-status")
def set_status(
    run_id: str,
    status: Annotated[str, typer.Argument(help="launched, running, completed, failed, …")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the event log).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow leaving a terminal status (recovery).")
    ] = False,
    wandb_run_id: Annotated[
        str | None, typer.Option("--wandb-run-id", help="Also record the W&B run id.")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Move a run to STATUS (recorded as an event with source 'cli')."""
    fields: dict[str, Any] = {"wandb_run_id": wandb_run_id} if wandb_run_id else {}

    with open_repo(url, must_exist=True) as repo:
        before = repo.get_run(run_id).status.value
        try:
            run = repo.update_run_status(
                run_id, status, reason=reason or "set by hand", force=force, **fields
            )
        except InvalidTransition as error:
            if force or "force=True" not in str(error):
                raise
            hint = "terminal statuses are final; add --force to recover a run by hand"
            raise InvalidTransition(run_id, error.from_status, error.to_status, hint) from error
    after = run.status.value
    note = " (forced)" if run.events and run.events[-1].forced else ""
    change = f"{before} -> {after}{note}" if before != after else f"already {after}"
    console.print(f"{run_id}: {change}", highlight=False, markup=False)


@runs_app.command("tag")
def tag_run(
    run_id: str,
    tags: Annotated[list[str], typer.Argument(help="Tags to add (or remove).")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove the tags instead.")] = False,
    url: UrlOption = None,
) -> None:
    """Add TAGS to a run (or remove them with --remove)."""
    with open_repo(url, must_exist=True) as repo:
        run = repo.set_tags(run_id, add=() if remove else tags, remove=tags if remove else ())
    console.print(
        f"{run_id}: tags {', '.join(run.tags) or '(none)'}", highlight=False, markup=False
    )


@app.command("compare")
def compare(
    query: WhereArgument = None,
    objective: Annotated[
        list[str] | None,
        typer.Option("--objective", "-o", help="Objective name (repeatable; default: all)."),
    ] = None,
    where: Annotated[str | None, typer.Option(help="Only runs matching this query.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Statuses to include (repeatable; default: completed)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            "-b",
            help="Compare every method with this one on all objectives at once: Δm%, mean "
            "rank, Pareto front, p-values (see docs/analysis.md).",
            show_default=False,
        ),
    ] = None,
    archived: ArchivedOption = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Compare gradient methods on objectives: n, mean, std, median, min, max, best run; with
    --baseline, one table of all objectives against that method. Archived runs count only
    with --archived."""

    if query is not None and where is not None:
        raise ValidationError("give the query once: as an argument or as --where, not both")
    where = where if query is None else query
    statuses = status or ["completed"]
    if baseline is not None:
        selection = f"status in ({', '.join(_quoted(s) for s in statuses)})"
        if where:
            selection += f" and ({where})"
        with open_repo(url, must_exist=True) as repo:
            if where:
                repo.filter(where)  # a syntax error points at the user's text, not ours
            report = repo.method_report(
                baseline, objectives=objective, where=selection, include_archived=archived
            )
        print_report(report, json_output)
        return
    with open_repo(url, must_exist=True) as repo:
        names = objective or _objective_names(repo, where, statuses, archived)
        results = {
            name: repo.compare_gradient_methods(
                name, statuses=statuses, where=where, include_archived=archived
            )
            for name in names
        }
        for name in objective or ():
            if not results[name]:
                _check_objective(repo, name)
    if json_output:
        print_json({name: [r.model_dump() for r in rows] for name, rows in results.items()})
        return
    if not results:
        console.print("no objectives on the matching runs", style="dim")
    for name, rows in results.items():
        out(comparison_table(name, rows))


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_objective(repo: Any, name: str) -> None:
    """An objective no run has is a typo, not an empty comparison."""

    present = _objective_names(repo, None, list(STATUSES), True)
    if name not in present:
        known = f" (objectives: {', '.join(present)})" if present else ""
        raise ValidationError(f"no run has an objective {name!r}{suggest(name, present)}{known}")


def _objective_names(
    repo: Any, where: str | None, statuses: list[str], archived: bool
) -> list[str]:
    """Objective names found on the newest 500 matching runs."""
    runs = repo.query_runs(where=where, status=statuses, include_archived=archived, limit=500)
    return sorted({o.name for run in runs for o in run.objectives})


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("--out", help="File to write.", show_default=False)],
    where: WhereArgument = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv, jsonl or parquet (parquet needs pandas); default: from the --out "
            "extension (.csv, .jsonl, .parquet), else csv.",
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        str | None, typer.Option("--columns", "-c", help="Comma-separated columns (default: all).")
    ] = None,
    archived: ArchivedOption = False,
    url: UrlOption = None,
) -> None:
    """Export matching runs, one row per run (config flattened to config.* columns;
    archived runs only with --archived)."""

    fmt = export_format(output, output_format)
    check_destination(output)
    with open_repo(url, must_exist=True) as repo:
        count = export_runs(
            repo, where, fmt, output, split_columns(columns), include_archived=archived
        )
    console.print(f"wrote {count} runs to {output}", highlight=False, markup=False)

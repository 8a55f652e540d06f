"""``mangodb runs purge``: delete old or unwanted runs for good, with everything that belongs to
them, and optionally their S3 crash artefacts; ``runs archive``/``unarchive``: hide runs from
listings and analysis, or bring them back."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from mangodb.cli.app import console, err_console
from mangodb.cli.aws import EndpointOption, parse_duration
from mangodb.cli.db import UrlOption
from mangodb.cli.render import open_repo, out, print_json
from mangodb.cli.runs import JsonOption, WhereArgument, runs_app
from mangodb.cli.tables import Column, TableSpec
from mangodb.dto import ArchiveReport, PurgeReport
from mangodb.errors import ValidationError
from mangodb.integrations.aws.artifacts import DEFAULT_BUCKET, delete_keys
from mangodb.integrations.aws.clients import s3_client


def _table(report: PurgeReport, title: str) -> TableSpec:
    spec = TableSpec(columns=(Column("table", kind="id"), Column("rows", justify="right")),
                     title=title)  # fmt: skip
    for table, count in report.rows.items():
        spec.add_row(Text(table), Text(f"{count:,}"))
    return spec


@runs_app.command("purge")
def purge_runs(
    where: WhereArgument = None,
    older_than: Annotated[
        str | None,
        typer.Option(help="Only runs created longer ago than this (e.g. 90d, 12h)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    with_artifacts: Annotated[
        bool, typer.Option("--with-artifacts", help="Also delete the runs' S3 crash artefacts.")
    ] = False,
    bucket: Annotated[str, typer.Option(help="Bucket of the crash artefacts.")] = DEFAULT_BUCKET,
    batch: Annotated[int, typer.Option(min=1, help="Runs deleted per transaction.")] = 200,
    json_output: JsonOption = False,
    url: UrlOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Delete the runs matching WHERE (never launched or running ones) with their events,
    objectives, crash reports, attachments and history, in short batches."""

    if where is None and older_than is None:
        raise ValidationError("give a query, --older-than, or both: purge never deletes all runs")
    age = parse_duration(older_than) if older_than is not None else None
    criteria = {"where": where} if where is not None else {}
    with open_repo(url, must_exist=True) as repo:
        plan = repo.purge_runs(older_than=age, dry_run=True, runs_per_batch=batch, **criteria)
        if not json_output:
            out(_table(plan, f"{len(plan.run_ids):,} runs to purge"))
            if with_artifacts:
                console.print(f"{len(plan.artifacts):,} S3 objects in s3://{bucket}",
                              highlight=False, markup=False)  # fmt: skip
        if dry_run or not plan.run_ids:
            if json_output:
                print_json(plan.model_dump(mode="json"))
            return
        if not yes:
            if not sys.stdin.isatty():
                raise ValidationError("not deleting without --yes (stdin is not a terminal)")
            typer.confirm(f"Delete {len(plan.run_ids):,} runs for good?", abort=True)
        done = repo.purge_runs(older_than=age, runs_per_batch=batch, **criteria)
    deleted, refused = 0, list[str]()
    if with_artifacts and done.artifacts:
        deleted, refused = delete_keys(s3_client(endpoint_url=endpoint_url), bucket,
                                       done.artifacts)  # fmt: skip
    if json_output:
        print_json({**done.model_dump(mode="json"), "artifacts_deleted": deleted,
                    "artifacts_refused": refused})  # fmt: skip
    else:
        out(_table(done, f"purged {len(done.run_ids):,} runs in {done.batches} batches"))
        if with_artifacts:
            console.print(f"deleted {deleted:,} S3 objects", highlight=False, markup=False)
    for line in refused:
        err_console.print(f"not deleted: {line}", highlight=False, markup=False)
    if refused:
        raise typer.Exit(4)


_SHOWN = 20  # run ids printed; --json lists them all


def _print_archive(report: ArchiveReport, json_output: bool) -> None:
    if json_output:
        print_json(report.model_dump(mode="json"))
        return
    verb = "archive" if report.archived else "unarchive"
    n = len(report.run_ids)
    head = f"{n:,} runs to {verb}" if report.dry_run else f"{verb}d {n:,} runs"
    spec = TableSpec(columns=(Column("run_id", kind="id"),), title=head)
    for run_id in report.run_ids[:_SHOWN]:
        spec.add_row(Text(run_id))
    out(spec)
    if n > _SHOWN:
        console.print(f"… and {n - _SHOWN:,} more", style="dim", highlight=False, markup=False)


@runs_app.command("archive")
def archive_runs(
    where: Annotated[
        str, typer.Argument(help='A query, e.g. "created < 90d and status = failed".')
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be archived.")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Hide the runs matching WHERE from listings and analysis (kept whole; `runs show` and
    --archived still read them; `runs unarchive` brings them back)."""
    with open_repo(url, must_exist=True) as repo:
        report = repo.archive_runs(where, dry_run=dry_run)
    _print_archive(report, json_output)


@runs_app.command("unarchive")
def unarchive_runs(
    where: Annotated[str, typer.Argument(help='A query, e.g. "archived_at > 1d".')],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would come back.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Bring the archived runs matching WHERE back into listings and analysis."""
    with open_repo(url, must_exist=True) as repo:
        report = repo.unarchive_runs(where, dry_run=dry_run)
    _print_archive(report, json_output)

"""AWS commands: ``mangodb reap`` (EC2 reconciliation), ``mangodb crash backfill`` (crash
artefacts from S3) and ``mangodb runs mark-terminated`` (the instance shutdown hook)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mangodb.cli.app import app, console, err_console
from mangodb.cli.db import UrlOption
from mangodb.cli.render import open_repo, print_json
from mangodb.cli.render import text as plain_cell
from mangodb.cli.runs import runs_app
from mangodb.cli.tables import Column, TableSpec, print_table
from mangodb.errors import CloudError, ValidationError
from mangodb.integrations.aws.backfill import BackfillSummary, backfill_crash_data
from mangodb.integrations.aws.clients import s3_client
from mangodb.integrations.aws.reconcile import ReapReport, reconcile
from mangodb.integrations.aws.termination import terminate_instance_runs, terminate_run

crash_app = typer.Typer(help="Crash data: attach artefacts from S3.", no_args_is_help=True)
app.add_typer(crash_app, name="crash")

ROW_LIMIT = 50  # rows of detail printed before "... and N more"
# Run and instance ids stay whole in any terminal (mangodb/cli/tables.py); reasons fold.
_REAP_COLUMNS = (
    Column("run", kind="id"),
    Column("instance", kind="id"),
    Column("region", drop=2),
    Column("ec2 state", floor=7),
    Column("verdict", kind="id"),
    Column("reason", kind="text"),
    Column("written", drop=1),
)
_BACKFILL_COLUMNS = (
    Column("run", kind="id"),
    Column("outcome", kind="id"),
    Column("attached"),
    Column("detail", kind="text"),
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.I)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="AWS endpoint (LocalStack, moto); default: AWS_ENDPOINT_URL or the real AWS.",
    ),
]


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` or a plain number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValidationError(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h or 1d")
    value, unit = float(match.group(1)), (match.group(2) or "s").lower()
    try:
        return dt.timedelta(seconds=value * _UNITS[unit])
    except OverflowError:
        raise ValidationError(f"duration {text!r} is too long") from None


def parse_since(text: str | None) -> dt.datetime | None:
    """An ISO date/time (UTC when no zone is given) or a duration ago (``7d``)."""
    if text is None:
        return None
    if _DURATION.match(text):
        try:
            return dt.datetime.now(dt.timezone.utc) - parse_duration(text)
        except OverflowError:
            raise ValidationError(f"--since {text!r} is before year 1") from None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"invalid --since {text!r}: give an ISO date (2026-11-01) or a duration (7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


# -- mangodb reap --------------------------------------------------------------------------
@app.command("reap")
def reap(
    region: Annotated[
        str | None,
        typer.Option(help="Region of runs that have none recorded (default: AWS_DEFAULT_REGION)."),
    ] = None,
    grace: Annotated[
        str, typer.Option(help="A run whose instance EC2 does not know is gone after this age.")
    ] = "15m",
    heartbeat_grace: Annotated[
        str, typer.Option(help="A live instance whose run is silent this long: crashed.")
    ] = "30m",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the verdicts, change nothing.")
    ] = False,
    loop: Annotated[
        float | None,
        typer.Option(help="Repeat every SECONDS until interrupted (Ctrl-C).", min=0.0),
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(help="With --loop: stop after this many sweeps.", min=1)
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Reconcile active runs with EC2 (safe to run from several machines).

    A stopped, terminated or vanished instance ends its runs as terminated; a live instance
    whose run stopped sending heartbeats ends it as crashed."""

    grace_delta, heartbeat_delta = parse_duration(grace), parse_duration(heartbeat_grace)
    done, failed = 0, False
    with open_repo(url) as repo:
        try:
            while True:
                report = reconcile(
                    repo,
                    region=region,
                    grace=grace_delta,
                    heartbeat_grace=heartbeat_delta,
                    dry_run=dry_run,
                    endpoint_url=endpoint_url,
                )
                if json_output:
                    print_json(reap_json(report))
                else:
                    print_reap_report(report)
                failed = failed or bool(report.failed_regions)
                done += 1
                if loop is None or (iterations is not None and done >= iterations):
                    break
                time.sleep(loop)
        except KeyboardInterrupt:
            console.print(f"interrupted after {done} sweep(s)", highlight=False)
    if failed:
        raise CloudError("EC2 could not be asked about some regions; their runs were left alone")


def reap_json(report: ReapReport) -> dict[str, Any]:
    return {
        "checked_at": report.checked_at,
        "dry_run": report.dry_run,
        "counts": report.counts(),
        "failed_regions": report.failed_regions,
        "verdicts": [
            {
                "run_id": v.run_id,
                "instance_id": v.instance_id,
                "region": v.region,
                "status": v.status,
                "verdict": v.verdict,
                "ec2_state": v.ec2_state,
                "reason": v.reason,
                "applied": v.applied,
                "lost_race": v.lost_race,
            }
            for v in report.verdicts
            if v.verdict.changes_run
        ],
    }


def print_reap_report(report: ReapReport) -> None:
    mode = "dry run: nothing changed" if report.dry_run else f"{len(report.applied)} changed"
    summary = TableSpec(
        (Column("verdict", kind="id"), Column("runs", justify="right")),
        title=f"reap at {report.checked_at:%Y-%m-%d %H:%M:%S} UTC ({mode})",
    )
    for verdict, count in report.counts().items():
        summary.add_row(plain_cell(verdict), plain_cell(str(count)))
    print_table(summary, console)
    for region, error in sorted(report.failed_regions.items()):
        err_console.print(f"region {region}: {error}", highlight=False, markup=False)
    changing = [v for v in report.verdicts if v.verdict.changes_run]
    if not changing:
        return
    detail = TableSpec(_REAP_COLUMNS)
    for v in changing[:ROW_LIMIT]:
        written = "dry run" if report.dry_run else ("lost race" if v.lost_race else "yes")
        detail.add_row(  # cells never read as markup: run ids and AWS errors hold [brackets]
            *map(
                plain_cell,
                (
                    v.run_id,
                    v.instance_id,
                    v.region,
                    v.ec2_state or "absent",
                    v.verdict.value,
                    v.reason or "",
                    written,
                ),
            )
        )
    print_table(detail, console)
    if len(changing) > ROW_LIMIT:
        console.print(f"... and {len(changing) - ROW_LIMIT} more", highlight=False)


# -- mangodb crash backfill ----------------------------------------------------------------
@crash_app.command("backfill")
def backfill(
    bucket: Annotated[str, typer.Option(help="Bucket holding the crash artefacts.")] = (
        "training-context"
    ),
    prefix: Annotated[
        str, typer.Option(help="Key prefix; runs live under PREFIX/RUN_ID/.")
    ] = "crash-reports",
    since: Annotated[
        str | None,
        typer.Option(help="Only runs created since (ISO date or duration ago, e.g. 7d)."),
    ] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="Archived runs too (they are skipped by default).")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Attach S3 crash artefacts to every crashed/failed/terminated run lacking crash data."""

    after = parse_since(since)
    s3 = s3_client(endpoint_url=endpoint_url)
    progress = Progress(
        TextColumn("crash backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=json_output,  # scripts get clean JSON on stdout
    )
    with open_repo(url) as repo, progress:
        task = progress.add_task("runs", total=None)
        summary = backfill_crash_data(
            repo,
            s3=s3,
            bucket=bucket,
            prefix=prefix,
            since=after,
            on_start=lambda total: progress.update(task, total=total),
            on_outcome=lambda _: progress.advance(task),
            include_archived=archived,
        )
    if json_output:
        print_json(
            {
                "counts": summary.counts(),
                "outcomes": [
                    {
                        "run_id": o.run_id,
                        "outcome": o.status.value,
                        "attached": o.attached,
                        "detail": o.detail,
                        "error_type": o.error_type,
                    }
                    for o in summary.outcomes
                ],
            }
        )
        return
    print_backfill_summary(summary)


def print_backfill_summary(summary: BackfillSummary) -> None:
    table = TableSpec(
        (Column("outcome", kind="id"), Column("runs", justify="right")), title="crash backfill"
    )
    for status, count in summary.counts().items():
        table.add_row(plain_cell(status), plain_cell(str(count)))
    print_table(table, console)
    notable = [o for o in summary.outcomes if o.status.value != "attached"]
    if not notable:
        return
    detail = TableSpec(_BACKFILL_COLUMNS)
    for outcome in notable[:ROW_LIMIT]:
        detail.add_row(  # never markup: an S3 error can quote a regex like [/:]
            *map(
                plain_cell,
                (
                    outcome.run_id,
                    outcome.status.value,
                    "yes" if outcome.attached else "no",
                    outcome.detail,
                ),
            )
        )
    print_table(detail, console)
    if len(notable) > ROW_LIMIT:
        console.print(f"... and {len(notable) - ROW_LIMIT} more", highlight=False)


# -- mangodb runs mark-terminated ----------------------------------------------------------
@runs_app.command("mark-terminated")
def mark_terminated(
    run_id: Annotated[
        str | None, typer.Argument(help="The run (or give --instance-id).", show_default=False)
    ] = None,
    instance_id: Annotated[
        str | None,
        typer.Option("--instance-id", help="Terminate every active run on this EC2 instance."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the event log).")] = "shutdown",
    url: UrlOption = None,
) -> None:
    """Mark a run, or every active run of an instance, terminated (the shutdown hook).

    Runs that already ended are left alone; that is not an error."""

    if (run_id is None) == (instance_id is None):
        raise ValidationError("give either a RUN_ID or --instance-id, not both")
    details: dict[str, Any] = {"evidence": "shutdown hook", "reason": reason}
    with open_repo(url) as repo:
        if instance_id is not None:
            details["instance_id"] = instance_id
            results = terminate_instance_runs(
                repo, instance_id, reason=reason, source="shutdown-hook", details=details
            )
            if not results:
                console.print(f"no active run on {instance_id}: nothing to do", highlight=False)
        else:
            assert run_id is not None
            run = repo.get_run(run_id)
            if run.status.is_terminal:
                console.print(f"{run_id}: already {run.status.value}", highlight=False)
                return
            result = terminate_run(
                repo, run, reason=reason, source="shutdown-hook", details=details
            )
            results = [result]
    for result in results:
        state = "terminated" if result.applied else "already ended (left alone)"
        console.print(f"{result.run_id}: {state} (reason: {result.reason})", highlight=False)

"""``mangodb import-wandb`` (local run directories) and ``mangodb backfill-wandb`` (W&B cloud)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from mangodb.cli.app import app, console
from mangodb.errors import DatabaseUnavailable, ValidationError
from mangodb.integrations.wandb import backfill, find_run_logs, import_run
from mangodb.repository import RunRepository

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Database URL (default: MANGODB_URL, TRAINING_DB_PATH, ./mangodb.sqlite3)."
    ),
]
RunIdOption = Annotated[
    str | None,
    typer.Option(
        "--run-id",
        help="The mangodb run to import into (one W&B run only). Default: the run that "
        "records this W&B run id, else a new run named by it.",
    ),
]


@contextmanager
def _resumable(runs: int) -> Iterator[None]:
    """An unreachable database says that importing again completes the import (it is
    idempotent: points already stored are skipped)."""
    try:
        yield
    except DatabaseUnavailable as error:
        raise error.with_hint(
            f"run the same command again to finish importing the {runs} W&B run(s) "
            "(points already stored are skipped)"
        ) from error


@app.command("import-wandb")
def import_wandb(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="run-<id>.wandb files, W&B run directories, or directories holding them "
            "(such as ./wandb)."
        ),
    ],
    run_id: RunIdOption = None,
    url: UrlOption = None,
    keep_status: Annotated[
        bool,
        typer.Option(
            "--keep-status",
            help="Do not change run statuses (by default a file without an exit record "
            "marks an active run crashed).",
        ),
    ] = False,
) -> None:
    """Import local W&B runs: config, summary, full history and exit status.

    Idempotent: only points mangodb does not hold yet are added, so importing twice, or after
    live tracking, duplicates nothing. Torn tails of killed processes are ignored."""

    logs = find_run_logs(paths)
    if run_id is not None and len(logs) != 1:
        raise ValidationError(f"--run-id needs exactly one W&B run, found {len(logs)}")
    with _resumable(len(logs)), RunRepository.connect(url, source="cli") as repo:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        with progress:
            total = progress.add_task("reading", total=sum(p.stat().st_size for p in logs))
            results = []
            for log in logs:
                progress.update(total, description=log.name)
                before = progress.tasks[0].completed
                result = import_run(
                    repo,
                    log,
                    run_id=run_id,
                    set_status=not keep_status,
                    on_progress=lambda n: progress.advance(total, n),
                )
                progress.update(total, completed=before + log.stat().st_size)
                results.append(result)
    for result in results:
        notes = [f"{result.points_written} new points", f"{result.points_skipped} already stored"]
        if result.created:
            notes.append("created")
        if result.torn:
            notes.append("torn tail ignored")
        if not result.has_exit:
            notes.append("no exit record")
        console.print(
            f"{result.path.name} -> run {result.run_id} [{result.status}]: "
            f"{result.rows} rows; " + ", ".join(notes),
            highlight=False,
            markup=False,
        )


@app.command("backfill-wandb")
def backfill_wandb(
    path: Annotated[str, typer.Argument(help="ENTITY/PROJECT (every run) or ENTITY/PROJECT/RUN.")],
    run_id: RunIdOption = None,
    url: UrlOption = None,
) -> None:
    """Backfill runs from W&B's cloud with wandb.Api(): NEEDS NETWORK AND A W&B API KEY
    (WANDB_API_KEY or `wandb login`).

    Full history through scan_history (never the sampled history()); W&B states map to
    mangodb statuses (finished->completed, failed->failed, crashed->crashed,
    killed/preempted->terminated, running->running). Idempotent."""

    with (
        RunRepository.connect(url, source="cli") as repo,
        console.status(f"reading {path} from W&B"),
    ):
        results = backfill(repo, path, run_id=run_id)
    for result in results:
        console.print(
            f"run {result.run_id} [{result.status}]: {result.rows_read} rows, "
            f"{result.points_written} new points" + (" (created)" if result.created else ""),
            highlight=False,
            markup=False,
        )

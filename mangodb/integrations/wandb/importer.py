"""Import local W&B run directories (``run-<id>.wandb`` files) into mangodb.

Works on finished runs, on runs whose process was killed (the torn tail is ignored and the
run, lacking an exit record, is ``crashed``), and on runs mirrored live by :func:`track` (only
the points mangodb lacks are added). Importing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mangodb.errors import ValidationError
from mangodb.integrations.wandb.logfile import RunLog, read_run_log
from mangodb.integrations.wandb.sink import RunData, WriteResult, write_run
from mangodb.integrations.wandb.states import status_for_exit
from mangodb.repository import RunRepository
from mangodb.status import RunStatus

SOURCE = "wandb-import"


@dataclass
class ImportResult:
    path: Path
    run_id: str
    wandb_run_id: str
    rows: int
    points_written: int
    points_skipped: int
    created: bool
    status: RunStatus | None
    torn: bool
    has_exit: bool


def find_run_logs(paths: Iterable[str | Path]) -> list[Path]:
    """The ``.wandb`` files named by ``paths``: a file itself, a run directory, or a directory
    holding run directories (such as ``./wandb``); sorted, without duplicates."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            if path.suffix != ".wandb":
                raise ValidationError(f"{path}: not a .wandb file")
            found[path.resolve()] = None
            continue
        if not path.is_dir():
            raise ValidationError(f"{path}: no such file or directory")
        logs = sorted(path.glob("run-*.wandb")) or sorted(path.glob("*/run-*.wandb"))
        if not logs:
            logs = sorted(path.glob("wandb/*/run-*.wandb"))
        if not logs:
            raise ValidationError(f"{path}: no run-<id>.wandb file in this directory")
        for log in logs:
            found[log.resolve()] = None
    return list(found)


def run_data(log: RunLog) -> RunData:
    """What a ``.wandb`` file says, in the shape the writer takes."""
    run = log.run
    wandb_run_id = run.get("run_id") or log.path.stem.removeprefix("run-")
    return RunData(
        wandb_run_id=wandb_run_id,
        rows=((row.step, row.values) for row in log.history),
        entity=run.get("entity"),
        project=run.get("project"),
        config=log.config,
        summary=log.summary,
        verdict=status_for_exit(log.exit_code, has_exit=log.has_exit),
        exit_code=log.exit_code,
        started_at=run.get("start_time"),
        ended_at=_last_timestamp(log),
        evidence={"file": log.path.name, "torn_tail": log.torn, "history_rows": len(log.history)},
    )


def _last_timestamp(log: RunLog) -> dt.datetime | None:
    """When the run last logged a row (W&B's ``_timestamp``, epoch seconds)."""
    for row in reversed(log.history):
        stamp = row.values.get("_timestamp")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return dt.datetime.fromtimestamp(stamp, dt.timezone.utc)
    return None


def import_run(
    repo: RunRepository,
    path: str | Path,
    *,
    run_id: str | None = None,
    set_status: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import one ``.wandb`` file (or a run directory holding one) into ``repo``.

    The mangodb run is ``run_id`` if given, else the run that records this W&B run id, else
    a new run named by the W&B id. ``on_progress(bytes)`` reports reading progress."""
    logs = find_run_logs([path])
    if len(logs) != 1:
        raise ValidationError(f"{path}: holds {len(logs)} runs; import them one by one")
    log = read_run_log(logs[0], on_progress=on_progress)
    written: WriteResult = write_run(
        repo, run_data(log), run_id=run_id, source=SOURCE, set_status=set_status
    )
    return ImportResult(
        path=logs[0],
        run_id=written.run_id,
        wandb_run_id=log.run.get("run_id") or "",
        rows=written.rows_read,
        points_written=written.points_written,
        points_skipped=written.points_skipped,
        created=written.created,
        status=written.status,
        torn=log.torn,
        has_exit=log.has_exit,
    )

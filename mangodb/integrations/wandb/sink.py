"""Write what W&B knows about one run into mangodb, idempotently.

Shared by the ``.wandb`` importer and the cloud backfill: both turn their source into a
:class:`RunData` and call :func:`write_run`. History is appended only for (key, step) points
mangodb does not hold yet, so re-importing, or importing after live mirroring, never
duplicates a point; config is merged (W&B's values win), the summary becomes the final
metrics, and the status is set only while the run is still active (a verdict already given
by someone else stands).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mangodb.dto import RunCreate
from mangodb.errors import InvalidTransition, RunAlreadyExists, ValidationError
from mangodb.integrations.wandb.states import Verdict
from mangodb.repository import RunRepository
from mangodb.status import RunStatus

BATCH_ROWS = 5000  # rows per append_history call (bounds memory and transaction size)
_ACTIVE = (RunStatus.LAUNCHED, RunStatus.RUNNING)


@dataclass
class RunData:
    """One W&B run, whatever it was read from."""

    wandb_run_id: str
    rows: Iterable[tuple[int, dict[str, Any]]]  # (step, flat values), steps increasing
    entity: str | None = None
    project: str | None = None
    url: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    exit_code: int | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None  # last sign of life, used if the run ends here
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteResult:
    run_id: str
    created: bool = False
    points_written: int = 0
    points_skipped: int = 0
    rows_read: int = 0
    status: RunStatus | None = None
    status_changed: bool = False


def resolve_run_id(repo: RunRepository, wandb_run_id: str, run_id: str | None) -> str:
    """The mangodb run for a W&B run: the given id, else the one run that records this W&B id,
    else the W&B id itself."""
    if run_id:
        return run_id
    matches = repo.query_runs(wandb_run_id=wandb_run_id, include_archived=True, limit=2)
    if len(matches) > 1:
        raise ValidationError(
            f"several mangodb runs record W&B run {wandb_run_id!r}: pass --run-id"
        )
    return matches[0].run_id if matches else wandb_run_id


def write_run(
    repo: RunRepository,
    data: RunData,
    *,
    run_id: str | None = None,
    source: str = "wandb-import",
    set_status: bool = True,
) -> WriteResult:
    target = resolve_run_id(repo, data.wandb_run_id, run_id)
    ids = {
        "wandb_entity": data.entity or None,
        "wandb_project": data.project or None,
        "wandb_run_id": data.wandb_run_id,
        "wandb_url": data.url or None,
    }
    result = WriteResult(run_id=target)
    if not repo.run_exists(target):
        try:
            repo.insert_run(
                RunCreate(
                    run_id=target,
                    config=data.config,
                    created_at=data.started_at,
                    **{k: v for k, v in ids.items() if v is not None},
                )
            )
            result.created = True
        except RunAlreadyExists:  # created meanwhile by another writer: fine
            pass
    _write_history(repo, target, data.rows, result)
    run = repo.get_run(target)
    fields: dict[str, Any] = {k: v for k, v in ids.items() if v is not None}
    status = None
    verdict = data.verdict if set_status else None
    if verdict is not None and run.status in _ACTIVE and verdict.status is not run.status:
        status = verdict.status
        if status.is_terminal and data.exit_code is not None:
            fields["exit_code"] = data.exit_code
        if status.is_terminal and data.ended_at is not None:
            fields["ended_at"] = data.ended_at
    try:
        updated = repo.update_run_status(
            target,
            status,
            reason=data.verdict.reason if status is not None and data.verdict else None,
            source=source,
            details={**data.evidence, "evidence": data.verdict.reason}
            if status is not None and data.verdict
            else None,
            expected_status=_ACTIVE if status is not None else None,
            final_metrics=data.summary or None,
            config={**run.config, **data.config} if data.config else None,
            **fields,
        )
        result.status = updated.status
        result.status_changed = status is not None
    except InvalidTransition:  # another writer decided meanwhile: its verdict stands
        result.status = repo.get_run(target).status
    return result


def _write_history(
    repo: RunRepository,
    run_id: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    result: WriteResult,
) -> None:
    stored = {key: set(series.steps) for key, series in repo.get_history(run_id).items()}
    columns: dict[str, tuple[list[int], list[Any]]] = {}
    pending = 0
    for step, values in rows:
        result.rows_read += 1
        for key, value in values.items():
            if step in stored.get(key, ()):
                result.points_skipped += 1
                continue
            steps, vals = columns.setdefault(key, ([], []))
            steps.append(step)
            vals.append(value)
            pending += 1
        if result.rows_read % BATCH_ROWS == 0 and pending:
            repo.append_history(run_id, columns)
            result.points_written += pending
            columns, pending = {}, 0
    if pending:
        repo.append_history(run_id, columns)
        result.points_written += pending

"""The run lifecycle inside a unit of work: compare-and-set status changes and their events,
heartbeats, reaping of silent runs, batches of transitions and the active instance sweep.

Every change writes an event (from, to, reason, source, host, time); a refused attempt is kept
too (``applied=False``) so both writers' views stay on record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from mangodb import inputs
from mangodb.db.models import Run, RunEvent
from mangodb.db.types import utcnow
from mangodb.dto import InstanceRunRead, RunEventRead, StatusChange, StatusUpdate, json_document
from mangodb.errors import InvalidTransition, RunNotFound
from mangodb.runs.lookup import run_row
from mangodb.status import ACTIVE_STATUSES, RunStatus, is_allowed


@dataclass(frozen=True)
class Actor:
    """Who writes: the default event source of a repository and the machine it runs on."""

    source: str | None
    host: str


def add_event(
    session: Session,
    actor: Actor,
    run: Run,
    from_status: str | None,
    to_status: str,
    *,
    reason: str | None,
    source: str | None,
    forced: bool = False,
    applied: bool = True,
    details: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Record one event of ``run`` (a status change, or a refused attempt: applied=False)."""
    session.add(
        RunEvent(
            run_pk=run.id,
            at=at or utcnow(),
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            source=source or actor.source,
            host=actor.host,
            forced=forced,
            applied=applied,
            details=json_document(details) if details else None,
        )
    )


def apply_transition(
    session: Session,
    actor: Actor,
    run: Run,
    target: RunStatus,
    *,
    reason: str | None,
    source: str | None,
    force: bool,
    expected: frozenset[str] | None,
    details: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> InvalidTransition | None:
    """Apply one status change with compare-and-set; return the refusal, if any."""
    current = RunStatus(run.status)

    def refuse(why: Mapping[str, Any], now_status: str, hint: str) -> InvalidTransition:
        """Keep the refused attempt as an event and return the error naming it."""
        add_event(
            session, actor, run, current.value, target.value, reason=reason, source=source,
            applied=False, details={**(details or {}), **why},
        )  # fmt: skip
        return InvalidTransition(run.run_id, now_status, target.value, hint)

    if expected is not None and current.value not in expected:
        return refuse(
            {"refused": "unexpected status", "expected": sorted(expected)},
            current.value,
            f"expected status {' or '.join(sorted(expected))}",
        )
    if current is target:
        return None
    if not force and not is_allowed(current, target):
        hint = "terminal statuses are final; pass force=True to recover a run by hand"
        if not current.is_terminal:
            hint = f"allowed from {current.value}: " + ", ".join(
                sorted(s.value for s in RunStatus if is_allowed(current, s))
            )
        return refuse({"refused": hint}, current.value, hint)
    now = utcnow()
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    if target is RunStatus.RUNNING:
        if run.started_at is None and "started_at" not in fields:
            values["started_at"] = now
        if "heartbeat_at" not in fields:
            values["heartbeat_at"] = now
    if target.is_terminal and run.ended_at is None and "ended_at" not in fields:
        values["ended_at"] = now
    if not target.is_terminal and force:
        values["ended_at"] = None
    # Compare-and-set: only one writer can move the run out of ``current``.
    changed = cast(
        CursorResult[Any],
        session.execute(
            update(Run)
            .where(Run.id == run.id, Run.status == current.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    session.refresh(run)
    if changed != 1:
        return refuse(
            {"refused": f"run became {run.status} meanwhile"},
            run.status,
            f"another writer moved the run from {current.value} to {run.status} first",
        )
    add_event(
        session, actor, run, current.value, target.value, reason=reason, source=source,
        forced=force and not is_allowed(current, target), details=details, at=now,
    )  # fmt: skip
    return None


# -- heartbeats, reaping, batches of transitions, observations ----------------------------------
def heartbeat(session: Session, run_id: str, at: dt.datetime) -> None:
    """Record that the run is alive (one UPDATE); ``RunNotFound`` if there is no such run."""
    result = cast(
        CursorResult[Any],
        session.execute(update(Run).where(Run.run_id == run_id).values(heartbeat_at=at)),
    )
    if result.rowcount == 0:
        raise RunNotFound(run_id)


def stale_runs(
    session: Session, cutoff: dt.datetime
) -> list[tuple[str, dt.datetime | None, dt.datetime | None]]:
    """``(run_id, heartbeat_at, started_at)`` of running runs silent since before ``cutoff``."""
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    statement = select(Run.run_id, Run.heartbeat_at, Run.started_at).where(
        Run.status == RunStatus.RUNNING.value, last_sign < cutoff
    )
    return [(run_id, beat, started) for run_id, beat, started in session.execute(statement)]


def reap(
    session: Session,
    actor: Actor,
    run_id: str,
    cutoff: dt.datetime,
    *,
    source: str,
    details: Mapping[str, Any],
) -> tuple[bool, InvalidTransition | None]:
    """Crash one stale run, re-checking its heartbeat under the write lock: (reaped, refusal)."""
    run = run_row(session, run_id, lock=True)
    last = run.heartbeat_at or run.started_at or run.created_at
    if run.status == RunStatus.RUNNING.value and last >= cutoff:
        return False, None
    refused = apply_transition(
        session,
        actor,
        run,
        RunStatus.CRASHED,
        reason="heartbeat lost",
        source=source,
        force=False,
        expected=frozenset({RunStatus.RUNNING.value}),
        details=details,
        fields={},
    )
    return refused is None, refused


def transition_many(
    session: Session, actor: Actor, chunk: Sequence[StatusUpdate]
) -> list[StatusChange]:
    """Apply each update as ``update_run_status`` would; unknown run ids are skipped."""
    changes: list[StatusChange] = []
    for update_ in chunk:
        try:
            run = run_row(session, update_.run_id, lock=True)
        except RunNotFound:
            continue
        before = RunStatus(run.status)
        refused = apply_transition(
            session,
            actor,
            run,
            update_.status,
            reason=update_.reason,
            source=update_.source,
            force=False,
            expected=inputs.expected(update_.expected_status),
            details=update_.details,
            fields={},
        )
        changes.append(
            StatusChange(
                run_id=update_.run_id,
                from_status=before,
                to_status=update_.status,
                changed=refused is None and before is not update_.status,
            )
        )
    session.flush()
    return changes


def record_event(
    session: Session,
    actor: Actor,
    run_id: str,
    reason: str,
    *,
    source: str | None,
    details: dict[str, Any] | None,
    at: dt.datetime,
) -> RunEventRead:
    """An event from the run's current status to itself: an observation, not a change."""
    run = run_row(session, run_id)
    add_event(
        session,
        actor,
        run,
        run.status,
        run.status,
        reason=reason,
        source=source,
        details=details,
        at=at,
    )
    session.flush()
    event = session.scalars(
        select(RunEvent).where(RunEvent.run_pk == run.id).order_by(RunEvent.id.desc())
    ).first()
    return RunEventRead.model_validate(event, from_attributes=True)


def instance_runs(session: Session, *, after: int, limit: int) -> list[tuple[int, InstanceRunRead]]:
    """One keyset page of active runs with an instance id: (primary key, DTO)."""
    rows = session.execute(
        select(
            Run.id,
            Run.run_id,
            Run.status,
            Run.instance_id,
            Run.region,
            Run.created_at,
            Run.started_at,
            Run.heartbeat_at,
        )
        .where(
            Run.id > after,
            Run.status.in_([s.value for s in ACTIVE_STATUSES]),
            Run.instance_id.is_not(None),
        )
        .order_by(Run.id)
        .limit(limit)
    )
    return [
        (
            row.id,
            InstanceRunRead(
                run_id=row.run_id,
                status=RunStatus(row.status),
                instance_id=row.instance_id,
                region=row.region,
                created_at=row.created_at,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
            ),
        )
        for row in rows
    ]

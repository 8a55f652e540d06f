"""The run lifecycle inside a unit of work: compare-and-set status changes and their events.

Every change writes an event (from, to, reason, source, host, time); a refused attempt is kept
too (``applied=False``) so both writers' views stay on record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunEvent
from mangodb.dto import json_document
from mangodb.errors import InvalidTransition
from mangodb.status import RunStatus, is_allowed


@dataclass(frozen=True)
class Actor:
    """Who writes: the default event source of a repository and the machine it runs on."""

    source: str | None
    host: str


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


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
            at=at or _utcnow(),
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
    now = _utcnow()
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

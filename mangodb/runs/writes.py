"""Writes to a run inside a unit of work: insert it, change its fields and status, its tags,
delete it. Arguments arrive checked (the repository validates them at its boundary)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete as delete_rows
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunMetric, RunTag
from mangodb.db.types import utcnow
from mangodb.dto import RunCreate, RunRead
from mangodb.errors import InvalidTransition, RunAlreadyExists
from mangodb.history import append_legacy
from mangodb.runs import inserts, lifecycle
from mangodb.runs.assembly import final_metrics_rows, new_run_read
from mangodb.runs.lookup import full_read, run_pk, run_row
from mangodb.status import RunStatus


def insert(session: Session, create: RunCreate, actor: lifecycle.Actor) -> RunRead:
    """Insert one run in few round trips: one INSERT .. RETURNING, one for the event (and tags
    and objectives when given); the read is built from what was written."""
    now = utcnow()
    (row,) = inserts.run_rows((create,), now)
    try:
        (event,) = inserts.insert_run_rows(
            session, (create,), (row,), now=now, source=actor.source, host=actor.host
        )
    except IntegrityError as error:
        # ``run_id`` is the only unique column of ``runs``; objective names are unique per run
        # by validation.
        raise RunAlreadyExists(create.run_id) from error
    return new_run_read(create, row, event)


def update(
    session: Session,
    actor: lifecycle.Actor,
    run_id: str,
    *,
    fields: Mapping[str, Any],
    config: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    history: Any,
    target: RunStatus | None,
    reason: str | None,
    source: str | None,
    force: bool,
    expected: frozenset[str] | None,
    details: dict[str, Any] | None,
) -> tuple[RunRead, InvalidTransition | None]:
    """Set fields, config, final metrics and legacy history, then move to ``target`` (when
    given): the run as it now is, and the lifecycle's refusal if it refused the move (the
    data is kept either way)."""
    run = run_row(session, run_id, lock=True)
    for name, value in fields.items():
        setattr(run, name, value)
    if config is not None:
        run.config = config
    if metrics is not None:
        replace_final_metrics(session, run, metrics)
    if history:
        append_legacy(session, run.id, history)
    refused = None
    if target is not None:
        refused = lifecycle.apply_transition(
            session,
            actor,
            run,
            target,
            reason=reason,
            source=source,
            force=force,
            expected=expected,
            details=details,
            fields=fields,
        )
    run.updated_at = utcnow()
    session.flush()
    return full_read(session, run_id), refused


def set_tags(session: Session, run_id: str, add: Iterable[str], remove: set[str]) -> RunRead:
    pk = run_pk(session, run_id)
    existing = set(session.scalars(select(RunTag.tag).where(RunTag.run_pk == pk)))
    for tag in dict.fromkeys(add):
        if tag not in existing:
            session.add(RunTag(run_pk=pk, tag=tag))
    for tag in remove & existing:
        session.execute(delete_rows(RunTag).where(RunTag.run_pk == pk, RunTag.tag == tag))
    session.flush()
    return full_read(session, run_id)


def delete(session: Session, run_id: str) -> None:
    session.delete(run_row(session, run_id))


def replace_final_metrics(session: Session, run: Run, summary: Mapping[str, Any]) -> None:
    """Numeric final metrics become rows (filterable in SQL), the rest stays a document."""
    rows, document = final_metrics_rows(summary)
    session.execute(delete_rows(RunMetric).where(RunMetric.run_pk == run.id))
    for row in rows:
        row.run_pk = run.id
    session.add_all(rows)
    run.final_metrics = document

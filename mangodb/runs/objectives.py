"""A run's objectives inside a unit of work: define (or redefine) one, set its value."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from mangodb.db.models import RunObjective
from mangodb.dto import ObjectiveCreate, ObjectiveRead
from mangodb.errors import ObjectiveNotFound
from mangodb.runs.assembly import to_objective_read
from mangodb.runs.lookup import run_pk


def upsert(session: Session, run_id: str, spec: ObjectiveCreate) -> ObjectiveRead:
    """Add the objective, or update its definition if the run has one of that name."""
    pk = run_pk(session, run_id, lock=True)
    row = session.scalars(
        select(RunObjective).where(RunObjective.run_pk == pk, RunObjective.name == spec.name)
    ).one_or_none()
    if row is None:
        row = RunObjective(
            run_pk=pk,
            name=spec.name,
            metric=spec.metric,
            direction=spec.direction,
            weight=spec.weight,
            target=spec.target,
        )
        session.add(row)
    else:
        row.metric, row.direction = spec.metric, spec.direction
        row.weight, row.target = spec.weight, spec.target
    session.flush()
    return to_objective_read(row)


def set_value(
    session: Session,
    run_id: str,
    name: str,
    stored: float | None,
    kind: int,
    *,
    step: int | None,
    at: dt.datetime,
) -> ObjectiveRead:
    """Store an objective's current value (already encoded: ``stored`` and its ``kind``).
    The run's row is locked first, as every writer of a run's objective rows does (an archive
    or method change through ``runs``, an upsert): the per-method sums of migration 0010 count
    a row with its run's other rows, so changes to one run's rows must not interleave."""
    pk = run_pk(session, run_id, lock_no_key=True)
    row = session.scalars(
        select(RunObjective).where(RunObjective.run_pk == pk, RunObjective.name == name)
    ).one_or_none()
    if row is None:
        raise ObjectiveNotFound(run_id, name)
    row.value, row.value_kind, row.step, row.updated_at = stored, kind, step, at
    session.flush()
    return to_objective_read(row)

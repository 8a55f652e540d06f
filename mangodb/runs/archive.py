"""Archived runs: which runs a question sees, and marking runs archived or back in view.

An archived run (``runs.archived_at`` set) stays whole in the database, readable by id, but
listings and analysis leave it out unless the caller asks (``include_archived``) or the
question is about archiving itself (a filter that names ``archived_at``). The default is one
more filter, ``archived_at IS NULL``, on the plan like any other, so every reader (pages,
counts, frames, crash groups, method analysis) applies it; method analysis moves it onto the
copy ``run_objectives.run_archived_at`` (migration 0009) and stays on one covering index.

Archiving and unarchiving run in short batches of run ids like purging (``purge.next_batch``);
each batch is one ``UPDATE``, and the triggers of migration 0009 copy the mark onto the runs'
objective rows in the same statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from mangodb.db.models import Run
from mangodb.runs import method_deltas
from mangodb.runs.filters import FIELDS, And, FieldFilter, Filter, Not, Or

_HIDDEN = FieldFilter("archived_at", "is null")


def names_archived(item: Filter) -> bool:
    """Whether ``item`` (or a filter inside it) compares ``archived_at``."""
    if isinstance(item, FieldFilter):
        return FIELDS[item.field] is Run.archived_at
    if isinstance(item, (And, Or)):
        return any(names_archived(inner) for inner in item.items)
    if isinstance(item, Not):
        return names_archived(item.item)
    return False


def visible(filters: list[Filter], include_archived: bool) -> list[Filter]:
    """``filters`` and, unless archived runs are asked for or named, ``archived_at IS NULL``."""
    if include_archived or any(names_archived(f) for f in filters):
        return filters
    return [*filters, _HIDDEN]


def state(archived: bool) -> ColumnElement[bool]:
    """Runs not archived yet (``archived``: the ones to archive), or archived (to bring back)."""
    return Run.archived_at.is_(None) if archived else Run.archived_at.is_not(None)


def mark(session: Session, pks: Sequence[int], at: dt.datetime | None) -> None:
    """Set (or, with None, clear) the archive mark of the runs ``pks``. ``updated_at`` is left
    alone: archiving hides a run, it does not change it."""
    statement = update(Run).where(Run.id.in_(pks)).values(archived_at=at, updated_at=Run.updated_at)
    session.execute(statement.execution_options(synchronize_session=False))
    method_deltas.fold(session)

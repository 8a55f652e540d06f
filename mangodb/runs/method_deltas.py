"""Folding PostgreSQL's waiting changes to the per-method sums (migration 0010) into them.

Writers append their changes to the ``method_*_deltas`` tables and, about once in 256
changes (at most once per transaction), fold them in. Bulk writers fold at the end of each
batch, so a report read right after a bulk load (``insert_runs``, ``db copy``, archiving,
purging) adds up a few delta rows, not a batch's worth. SQLite changes the sums in place:
nothing to fold."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

_FOLD = text("SELECT mangodb_method_sums_fold()")


def fold(bind: Session | Connection) -> None:
    """Fold the waiting deltas into the sums in this transaction (PostgreSQL; the function
    skips when another transaction is folding)."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    if dialect.name == "postgresql":
        bind.execute(_FOLD)

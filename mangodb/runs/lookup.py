"""Find a run inside a unit of work: its ORM row, its primary key or its full read, each
raising ``RunNotFound`` when there is none. ``lock=True`` takes the row lock on PostgreSQL
(SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mangodb.db.models import Run
from mangodb.dto import RunRead
from mangodb.errors import RunNotFound
from mangodb.runs import loading


def run_row(session: Session, run_id: str, *, lock: bool = False) -> Run:
    statement = select(Run).where(Run.run_id == run_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    run = session.scalars(statement).one_or_none()
    if run is None:
        raise RunNotFound(run_id)
    return run


def run_pk(session: Session, run_id: str, *, lock: bool = False, lock_no_key: bool = False) -> int:
    """The run's key. ``lock``: the run's row locked (PostgreSQL; SQLite's BEGIN IMMEDIATE
    serialises writers already) FOR UPDATE; ``lock_no_key``: FOR NO KEY UPDATE, which waits
    for other writers of the run (an archive, a method change, an objective) but not for
    inserts of its children."""
    statement = select(Run.id).where(Run.run_id == run_id)
    if (lock or lock_no_key) and session.get_bind().dialect.name == "postgresql":
        # Serialises get-or-create on the run's children (SQLite's BEGIN IMMEDIATE does).
        statement = statement.with_for_update(key_share=lock_no_key and not lock)
    pk = session.scalar(statement)
    if pk is None:
        raise RunNotFound(run_id)
    return pk


def full_read(session: Session, run_id: str) -> RunRead:
    """The run with everything attached, as the session sees it (pending changes included)."""
    session.flush()  # pending ORM changes must be visible to the Core reads below
    read = loading.load_read(session, run_id)
    if read is None:
        raise RunNotFound(run_id)
    return read

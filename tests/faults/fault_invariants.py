"""What a database must still satisfy after any fault: its storage intact (SQLite
``PRAGMA integrity_check`` and ``foreign_key_check``), its schema exactly the migrations' head
(what ``alembic check`` compares), and every run's applied events one legal chain that ends
at the run's status.
"""

from __future__ import annotations

import itertools
import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL

from mangodb import RunRepository
from mangodb.db import schema
from mangodb.db.base import Base
from mangodb.db.engine import make_engine

TERMINAL = {"completed", "failed", "crashed", "terminated"}


def legal(from_status: str | None, to_status: str) -> bool:
    """The documented lifecycle: launched -> anything, running -> a terminal status,
    a terminal status -> nothing (without force)."""
    if from_status is None:
        return True
    if from_status == "launched":
        return to_status != "launched"
    if from_status == "running":
        return to_status in TERMINAL
    return False


def storage_problems(url: URL) -> list[str]:
    """SQLite's own checks of the file (nothing to check this way on PostgreSQL)."""
    if url.get_backend_name() != "sqlite":
        return []
    assert url.database
    connection = sqlite3.connect(url.database)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchall()
        foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        connection.close()
    problems = [] if integrity == [("ok",)] else [f"integrity_check: {integrity[:5]}"]
    return problems + [f"foreign_key_check: {row}" for row in foreign[:5]]


def schema_problems(url: URL) -> list[str]:
    """The differences ``alembic check`` would report, and a revision other than head."""
    engine = make_engine(url)
    try:
        state = schema.schema_state(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": schema.VERSION_TABLE,
                    "compare_type": True,
                },
            )
            diff = list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()
    problems = [] if state.is_current else [f"revision {state.current}, head {state.head}"]
    return problems + [f"schema differs: {d}" for d in diff[:5]]


def event_chain_problems(repo: RunRepository) -> list[str]:
    """Each run's applied events: the first from nothing, each from where the previous one
    went, each legal unless forced (an observation goes from a status to itself), the last
    at the run's status."""
    problems: list[str] = []
    for run in repo.query_runs():
        applied = [e for e in run.events if e.applied]
        chain = [
            (e.from_status.value if e.from_status else None, e.to_status.value, e.forced)
            for e in applied
        ]
        if not chain or chain[0][0] is not None:
            problems.append(f"{run.run_id!r}: no insert event first: {chain[:3]}")
            continue
        for (_, before, _), (after, to, forced) in itertools.pairwise(chain):
            if after != before:
                problems.append(f"{run.run_id!r}: broken chain {before} then {after}->{to}")
            elif after != to and not forced and not legal(after, to):
                problems.append(f"{run.run_id!r}: illegal unforced {after} -> {to}")
        if chain[-1][1] != run.status.value:
            problems.append(f"{run.run_id!r}: chain ends at {chain[-1][1]}, run is {run.status}")
    return problems


def database_problems(url: URL) -> list[str]:
    """Every invariant above; an empty list when the database is sound."""
    problems = storage_problems(url) + schema_problems(url)
    with RunRepository.connect(url) as repo:
        problems += event_chain_problems(repo)
    return problems

"""``mangodb db status``: schema revision, rows per table, size on disk, the machines that
write, and the advice to move to PostgreSQL once SQLite is past what it is good at."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import URL

from mangodb.db import schema
from mangodb.db.engine import make_engine
from mangodb.db.models import RunEvent
from mangodb.db.translate import translated
from mangodb.settings import mask_url
from mangodb.transfer.checksum import count_rows
from mangodb.transfer.tables import RUNS_TABLE, copied_tables

# Past this many runs, or with more than one writing machine, SQLite is the wrong engine.
SQLITE_RUNS_LIMIT = 10_000
POSTGRES_URL_PLACEHOLDER = "postgresql://USER:PASSWORD@HOST:5432/DBNAME"


@dataclass(frozen=True)
class DatabaseStatus:
    url: str
    dialect: str
    revision: str | None
    head: str
    rows: dict[str, int]
    size_bytes: int | None
    writing_hosts: list[str]
    warnings: list[str] = field(default_factory=list)
    copy_command: str | None = None

    @property
    def runs(self) -> int:
        return self.rows.get(RUNS_TABLE, 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sqlite_size(url: URL) -> int | None:
    if not url.database:
        return None
    base = Path(url.database)
    files = [base, Path(f"{base}-wal"), Path(f"{base}-shm")]
    return sum(p.stat().st_size for p in files if p.exists())


def _postgres_size(engine: Engine, tables: list[str]) -> int:
    """Bytes of mangodb's tables, their indexes and TOAST (the database may hold more)."""
    with engine.connect() as connection:
        total = 0
        for name in tables:
            total += int(
                connection.scalar(
                    text("SELECT pg_total_relation_size(to_regclass(:t))"), {"t": name}
                )
                or 0
            )
        return total


def copy_command(url: URL) -> str:
    return f"mangodb db copy '{mask_url(url)}' '{POSTGRES_URL_PLACEHOLDER}'"


def _advice(url: URL, runs: int, hosts: list[str]) -> list[str]:
    reasons = []
    if runs > SQLITE_RUNS_LIMIT:
        reasons.append(f"{runs:,} runs (past {SQLITE_RUNS_LIMIT:,})")
    if len(hosts) > 1:
        reasons.append(f"{len(hosts)} machines write to it ({', '.join(hosts[:5])})")
    if not reasons:
        return []
    return [
        f"this SQLite database has {' and '.join(reasons)}: move it to PostgreSQL with "
        f"`{copy_command(url)}` (see docs/postgres.md)"
    ]


def database_status(url: URL) -> DatabaseStatus:
    engine = make_engine(url)
    try:
        with translated(url):
            state = schema.schema_state(engine)
            specs = copied_tables() if state.current is not None else ()
            with engine.connect() as connection:
                rows = {s.name: count_rows(connection, s) for s in specs}
                hosts: list[str] = []
                if specs:
                    hosts = sorted(
                        h
                        for h in connection.scalars(select(RunEvent.host).distinct())
                        if h is not None
                    )
            dialect = engine.dialect.name
            size = (
                _sqlite_size(url)
                if dialect == "sqlite"
                else _postgres_size(engine, [s.name for s in specs])
            )
    finally:
        engine.dispose()
    warnings = _advice(url, rows.get(RUNS_TABLE, 0), hosts) if dialect == "sqlite" else []
    if state.current is not None and not state.is_current:
        warnings.insert(
            0, f"schema {state.current} is behind {state.head}: {schema.upgrade_command(engine)}"
        )
    return DatabaseStatus(
        url=mask_url(url),
        dialect=dialect,
        revision=state.current,
        head=state.head,
        rows=rows,
        size_bytes=size,
        writing_hosts=hosts,
        warnings=warnings,
        copy_command=copy_command(url) if warnings and dialect == "sqlite" else None,
    )

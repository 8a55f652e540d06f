"""``mangodb db copy``: move every row of one mangodb database into another, in batches, in
foreign-key order, keeping ids and timestamps; resumable; verified at the end.

What to copy (fresh, resume or merge; rows left per table) is decided in
:mod:`mangodb.transfer.copy_plan`. Progress lives in the target's ``mangodb_copy_state`` (one
row per table, updated in the same transaction as each batch), so a copy killed at any point
resumes from the last committed batch and ends with the same rows. Rows go through SQLAlchemy
Core with the models' column types; history chunks are packed bytes and are copied as bytes,
never decoded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import (
    Connection,
    Engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from mangodb.db.engine import make_engine, write_engine
from mangodb.db.models import RunObjective
from mangodb.db.translate import translate
from mangodb.errors import (
    DatabaseUnavailable,
    MangoDBError,
)
from mangodb.runs import method_deltas
from mangodb.settings import mask_url, resolve_url
from mangodb.transfer.copy_plan import (
    STATE_TABLE,
    CopyPlan,
    TablePlan,
    TableState,
    load_states,
    max_id,
    plan_copy,
    plan_offsets,
)
from mangodb.transfer.tables import TableSpec, copied_tables
from mangodb.transfer.verify import TableCheck, verify_tables

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class CopyResult:
    plan: CopyPlan
    copied_rows: Mapping[str, int]
    seconds: float
    checks: tuple[TableCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@contextmanager
def _engines(
    source_url: str | URL, target_url: str | URL, *, dry_run: bool = False
) -> Iterator[tuple[Engine, Engine]]:
    """The source and target engines. On a dry run the target is only read: opened read-only,
    or, for a SQLite file that does not exist yet, an empty in-memory database standing in
    for it (so a dry run creates no file)."""
    resolved = resolve_url(source_url)
    if resolved.get_backend_name() == "sqlite" and not Path(resolved.database or "").is_file():
        raise DatabaseUnavailable(f"source {mask_url(resolved)}: no such SQLite file")
    source = make_engine(resolved)
    target_resolved = resolve_url(target_url)
    if not dry_run:
        target = make_engine(target_resolved)
    elif target_resolved.get_backend_name() == "sqlite" and not _is_file(target_resolved):
        target = make_engine(URL.create("sqlite"), poolclass=StaticPool)
        target.url = target_resolved  # named as the user gave it in the plan and errors
    else:
        target = make_engine(target_resolved, read_only=True)
    event.listen(source, "handle_error", _mark_source_error)
    try:
        yield source, target
    finally:
        source.dispose()
        target.dispose()


def _is_file(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and Path(database).is_file()


@contextmanager
def _translated(source: Engine, target: Engine) -> Iterator[None]:
    """Translate database errors, naming the database they came from."""
    try:
        yield
    except SQLAlchemyError as error:
        failed = source if getattr(error, _FROM_SOURCE, False) else target
        raise translate(error, failed.url) from error


_FROM_SOURCE = "mangodb_from_source"


def _mark_source_error(context: ExceptionContext) -> None:
    """Tag errors raised by the source engine (connecting included) for ``_translated``."""
    if context.sqlalchemy_exception is not None:
        setattr(context.sqlalchemy_exception, _FROM_SOURCE, True)


def _start(target: Engine, plan: CopyPlan) -> None:
    """Record a fresh or merge copy's progress rows (and the id shifts) before any data."""
    table = STATE_TABLE
    with write_engine(target).begin() as connection:
        connection.execute(delete(table))
        connection.execute(
            insert(table),
            [
                {
                    "table_name": t.name,
                    "source": plan.source,
                    "id_offset": t.id_offset,
                    "last_key": None,
                    "rows_copied": 0,
                    "done": False,
                }
                for t in plan.tables
            ],
        )


def _shifted(rows: list[dict[str, Any]], shifts: Mapping[str, int]) -> list[dict[str, Any]]:
    if not shifts:
        return rows
    for row in rows:
        for column, shift in shifts.items():
            if row[column] is not None:
                row[column] += shift
    return rows


def _shifts(spec: TableSpec, offsets: Mapping[str, int]) -> dict[str, int]:
    shifts = {column: offsets[parent] for column, parent in spec.references}
    if spec.own_id is not None:
        shifts[spec.own_id] = offsets[spec.name]
    return {column: shift for column, shift in shifts.items() if shift}


def _reset_sequence(connection: Connection, spec: TableSpec) -> None:
    """PostgreSQL: move the id sequence past the ids copied explicitly."""
    if spec.own_id is None or connection.dialect.name != "postgresql":
        return
    highest = max_id(connection, spec)
    if highest:
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
            {"table": spec.name, "column": spec.own_id, "value": highest},
        )


def _copy_table(
    source: Engine,
    target: Engine,
    spec: TableSpec,
    state: TablePlan,
    last_key: tuple[Any, ...] | None,
    offsets: Mapping[str, int],
    batch_size: int,
    advance: Any,
) -> int:
    copied = 0
    limit = spec.batch_rows(batch_size)
    shifts = _shifts(spec, offsets)
    table = spec.table
    status = STATE_TABLE
    writer = write_engine(target)
    order = [table.c[name] for name in spec.key]
    while True:
        statement = select(*spec.columns).order_by(*order).limit(limit)
        after = spec.after(last_key)
        if after is not None:
            statement = statement.where(after)
        with source.connect() as src:
            rows = [dict(row._mapping) for row in src.execute(statement)]
        if rows:
            last_key = tuple(rows[-1][name] for name in spec.key)
        done = len(rows) < limit
        with writer.begin() as tgt:
            if rows:
                tgt.execute(insert(table), _shifted(rows, shifts))
            tgt.execute(
                update(status)
                .where(status.c.table_name == spec.name)
                .values(
                    last_key=json.dumps(last_key) if last_key is not None else None,
                    rows_copied=status.c.rows_copied + len(rows),
                    done=done,
                )
            )
            if done:
                _reset_sequence(tgt, spec)
            if rows and spec.name == RunObjective.__tablename__:
                method_deltas.fold(tgt)
        copied += len(rows)
        advance(len(rows))
        if done:
            return copied


def _decode_key(raw: str | None) -> tuple[Any, ...] | None:
    # Keys are integers and text, which JSON keeps exactly.
    return None if raw is None else tuple(json.loads(raw))


def copy_database(
    source_url: str | URL,
    target_url: str | URL,
    *,
    merge: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    console: Console | None = None,
    verify: bool = True,
) -> CopyResult:
    """Copy ``source_url`` into ``target_url`` (see the module docstring); verify at the end."""
    if batch_size < 1:
        raise MangoDBError("batch size must be at least 1")
    with _engines(source_url, target_url) as (source, target), _resumable(source, target):
        plan, states = plan_copy(source, target, merge=merge)
        if states is None:
            _start(target, plan)
            states = {row.table_name: row for row in _with(target, load_states)}
        started = time.perf_counter()
        copied = _copy_all(source, target, plan, states, batch_size, console)
        seconds = time.perf_counter() - started
        checks = verify_tables(source, target, plan_offsets(plan)) if verify else []
    return CopyResult(plan=plan, copied_rows=copied, seconds=seconds, checks=tuple(checks))


@contextmanager
def _resumable(source: Engine, target: Engine) -> Iterator[None]:
    """``_translated``, and an unreachable database says that running the copy again resumes
    it (what was committed stays; the copy continues after the last copied key)."""
    try:
        with _translated(source, target):
            yield
    except DatabaseUnavailable as error:
        raise error.with_hint(
            "run the same `mangodb db copy` command again to resume where it stopped"
        ) from error


def _with(engine: Engine, work: Any) -> Any:
    with engine.connect() as connection:
        return work(connection)


def _copy_all(
    source: Engine,
    target: Engine,
    plan: CopyPlan,
    states: Mapping[str, TableState],
    batch_size: int,
    console: Console | None,
) -> dict[str, int]:
    offsets = plan_offsets(plan)
    copied: dict[str, int] = {}
    progress = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=console is None,
    )
    by_name = {t.name: t for t in plan.tables}
    with progress:
        for spec in copied_tables():
            table_plan = by_name[spec.name]
            state = states[spec.name]
            task = progress.add_task(
                spec.name, total=table_plan.source_rows, completed=state.rows_copied
            )
            if state.done:
                copied[spec.name] = 0
                continue
            copied[spec.name] = _copy_table(
                source,
                target,
                spec,
                table_plan,
                _decode_key(state.last_key),
                offsets,
                batch_size,
                lambda n, task=task: progress.advance(task, n),
            )
    return copied


def dry_run_plan(source_url: str | URL, target_url: str | URL, *, merge: bool = False) -> CopyPlan:
    """What ``copy_database`` would do, without touching the target."""
    engines = _engines(source_url, target_url, dry_run=True)
    with engines as (source, target), _translated(source, target):
        plan, _ = plan_copy(source, target, merge=merge, dry_run=True)
    return plan

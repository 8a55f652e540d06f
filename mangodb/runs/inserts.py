"""The insert paths of runs: one run in two statements (``INSERT .. RETURNING`` and its
event), and the bulk path with multi-row INSERTs through the driver."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mangodb.db.models import Run
from mangodb.dto import RunCreate
from mangodb.errors import RunAlreadyExists
from mangodb.runs import loading, method_deltas

_NOT_RUN_COLUMNS: set[str] = {"objectives", "tags", "status", "created_at", "config"}


def run_rows(runs: Sequence[RunCreate], now: dt.datetime) -> list[dict[str, Any]]:
    """The ``runs`` table values of new runs (timestamps in UTC)."""
    rows = []
    for create in runs:
        # The config is already a validated document of its own: dumping would copy it.
        values = create.model_dump(exclude=_NOT_RUN_COLUMNS)
        values["config"] = create.config
        created = (create.created_at or now).astimezone(dt.timezone.utc)
        values.update(
            status=create.status.value,
            created_at=created,
            updated_at=now,
            started_at=created if create.status.value == "running" else None,
        )
        rows.append(values)
    return rows


def insert_run_rows(
    session: Session,
    runs: Sequence[RunCreate],
    rows: Sequence[dict[str, Any]],
    *,
    now: dt.datetime,
    source: str | None,
    host: str | None,
) -> list[dict[str, Any]]:
    """INSERT the runs (multi-row), their first events, tags and objectives; return the
    event values, one per run. A taken run id raises ``IntegrityError``."""
    # Driver-level statements on the session's connection (its transaction): SQLAlchemy's
    # per-statement and per-row processing costs more than these INSERTs themselves.
    connection = session.connection()
    columns = tuple(rows[0])
    pk_of: dict[str, int] = {}
    step = _ROWS_PER_INSERT[connection.dialect.name == "postgresql"]
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        sql, processors = _driver_insert(connection.dialect, "runs", columns, len(part))
        params = tuple(
            p(row[c]) if p else row[c]
            for row in part
            for c, p in zip(columns, processors, strict=True)
        )
        pk_of.update((run_id, pk) for pk, run_id in _driver_execute(connection, sql, params))
    pks = [pk_of[create.run_id] for create in runs]
    events: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    objectives: list[dict[str, Any]] = []
    for pk, create in zip(pks, runs, strict=True):
        events.append(
            {
                "run_pk": pk,
                "at": now,
                "from_status": None,
                "to_status": create.status.value,
                "reason": "inserted",
                "source": source,
                "host": host,
                "forced": False,
                "applied": True,
            }
        )
        tags.extend({"run_pk": pk, "tag": tag} for tag in dict.fromkeys(create.tags))
        objectives.extend(
            {
                "run_pk": pk,
                "name": o.name,
                "metric": o.metric,
                "direction": o.direction,
                "weight": o.weight,
                "target": o.target,
                "value_kind": 0,
            }
            for o in create.objectives
        )
    for table, items in (
        ("run_events", events),
        ("run_tags", tags),
        ("run_objectives", objectives),
    ):
        if items:
            columns = tuple(items[0])
            sql, processors = _driver_insert(connection.dialect, table, columns, 1)
            _driver_execute(
                connection,
                sql.removesuffix(_RETURNING),
                [
                    tuple(p(i[c]) if p else i[c] for c, p in zip(columns, processors, strict=True))
                    for i in items
                ],
            )
    return events


def _driver_execute(connection: Connection, sql: str, params: Any) -> Sequence[Any]:
    """Execute ``sql`` in the transaction of ``connection``: one set of ``params`` (a tuple;
    its rows are returned) or many (a list). On SQLite, straight on the driver's cursor, whose
    errors are raised as SQLAlchemy's like any other (``exec_driver_sql`` costs more than an
    INSERT of a run there); elsewhere through ``exec_driver_sql`` (whose error handling also
    notices a connection the server dropped)."""
    if connection.dialect.name != "sqlite":
        result = connection.exec_driver_sql(sql, params)
        return [] if isinstance(params, list) else result.all()
    driver = connection.dialect.loaded_dbapi
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if isinstance(params, list):
            cursor.executemany(sql, params)
            return []
        return cursor.execute(sql, params).fetchall()  # type: ignore[no-any-return]
    except driver.Error as error:
        raise DBAPIError.instance(
            sql, params, error, driver.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()


# Rows of one multi-row INSERT (SQLite, PostgreSQL): x ~25 columns, far below the bind limits;
# on PostgreSQL few enough that psycopg caches the parsed statement (it re-parses long ones).
_ROWS_PER_INSERT = (500, 32)
_RETURNING = " RETURNING id, run_id"


@functools.lru_cache(maxsize=64)
def _driver_insert(
    dialect: Dialect, table: str, columns: tuple[str, ...], rows: int
) -> tuple[str, list[Any]]:
    """``INSERT INTO table (columns) VALUES (...) x rows RETURNING id, run_id`` in the
    driver's parameter style, and each column's bind processor (None: pass as is)."""
    model_table = loading.table_of(Run).metadata.tables[table]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows) + _RETURNING
    )
    processors = [
        model_table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    return sql, processors


def existing_run_id(session: Session, run_ids: Sequence[str]) -> str | None:
    """One of ``run_ids`` that is already stored, if any (IN lists kept under SQLite's limit)."""
    for start in range(0, len(run_ids), 900):
        found = session.scalars(
            select(Run.run_id).where(Run.run_id.in_(run_ids[start : start + 900])).limit(1)
        ).first()
        if found is not None:
            return found
    return None


def bulk_insert_runs(
    session: Session, runs: Sequence[RunCreate], *, source: str | None, host: str | None
) -> int:
    """Insert runs with multi-row INSERTs (the bulk path); one event per run."""

    if not runs:
        return 0
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for run_id in ids:
            if run_id in seen:
                raise RunAlreadyExists(run_id)
            seen.add(run_id)
    existing = existing_run_id(session, ids)
    if existing is not None:
        raise RunAlreadyExists(existing)
    now = dt.datetime.now(dt.timezone.utc)
    deferred = method_deltas.defer(session)  # PostgreSQL: new runs are counted grouped
    events = insert_run_rows(session, runs, run_rows(runs, now), now=now, source=source, host=host)
    if deferred:
        method_deltas.count_new_runs(session, [event["run_pk"] for event in events])
    method_deltas.fold(session)
    return len(runs)

"""The one place where driver exceptions become mangodb errors (``raise ... from``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from mangodb.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    MangoDBError,
    RunAlreadyExists,
    SchemaOutOfDate,
    StorageFull,
    TooManyConnections,
    ValidationError,
)
from mangodb.settings import mask_url

_UNREACHABLE = (
    "could not connect",
    "connection refused",
    "connection to server",
    "unable to open database file",
    "could not translate host name",
    "password authentication failed",
    "does not exist",  # database "x" does not exist (connect time)
    "server closed the connection",
    "timeout expired",
    "no route to host",
    "name or service not known",
    "readonly database",
    "disk i/o error",
    "file is not a database",
)
_MISSING_SCHEMA = ("no such table", "no such column", "undefinedtable", "undefinedcolumn")
_SQLITE_FULL = 13  # SQLITE_FULL: the disk, or the database's max_page_count, is full
_PG_DISK_FULL = "53100"  # SQLSTATE disk_full
_PG_UNIQUE_VIOLATION = "23505"
_PG_TOO_MANY_CONNECTIONS = "53300"
# PostgreSQL's words for 53300 (psycopg reports a refused connection without its SQLSTATE),
# and PgBouncer's when its own client limit is reached.
_TOO_MANY = (
    "too many clients already",
    "remaining connection slots are reserved",
    "too many connections for role",
    "too many connections for database",
    "no more connections allowed",
)
TOO_MANY_HINT = (
    "the server has no connection left for this process: put PgBouncer in transaction mode in "
    "front of PostgreSQL and set MANGODB_PGBOUNCER=1, or lower MANGODB_POOL_SIZE and "
    "MANGODB_MAX_OVERFLOW (docs/postgres.md, 'Many writers')"
)
# PostgreSQL's detail of a unique violation on runs.run_id: Key (run_id)=(the id) already exists.
_TAKEN_RUN_ID = re.compile(r"Key \(run_id\)=\((?P<run_id>.*)\) already exists\.", re.DOTALL)


def driver_message(error: BaseException) -> str:
    """The first line of the driver's own message, without SQL or parameters."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _is_full(orig: object, lowered: str) -> bool:
    return (
        getattr(orig, "sqlstate", None) == _PG_DISK_FULL
        or getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
        or "database or disk is full" in lowered
    )


def _taken_run_id(orig: object) -> str | None:
    """The run id of a unique violation on ``runs.run_id`` (PostgreSQL names it; a writer
    that checked before a concurrent one committed gets here)."""
    if getattr(orig, "sqlstate", None) != _PG_UNIQUE_VIOLATION:
        return None
    diag = getattr(orig, "diag", None)
    if getattr(diag, "constraint_name", None) != "uq_runs_run_id":
        return None
    found = _TAKEN_RUN_ID.fullmatch(str(getattr(diag, "message_detail", "") or ""))
    return found.group("run_id") if found else None


def translate(error: sa_exc.SQLAlchemyError, url: URL) -> MangoDBError:
    """Return the mangodb error for a SQLAlchemy/driver error."""
    message = driver_message(error)
    orig = getattr(error, "orig", None)
    lowered = f"{message} {type(orig or error).__name__}".lower()
    where = mask_url(url)
    if _is_full(orig, lowered):
        return StorageFull(f"database {where} is full: {message}")
    if getattr(orig, "sqlstate", None) == _PG_TOO_MANY_CONNECTIONS or any(
        marker in lowered for marker in _TOO_MANY
    ):
        return TooManyConnections(f"cannot use database {where}: {message}; {TOO_MANY_HINT}")
    if isinstance(error, sa_exc.IntegrityError):
        taken = _taken_run_id(orig)
        if taken is not None:
            return RunAlreadyExists(taken)
    if isinstance(error, sa_exc.OperationalError) and "database is locked" in lowered:
        return DatabaseBusy(f"database {where} stayed locked: {message}")
    if any(marker in lowered for marker in _MISSING_SCHEMA) or (
        "relation" in lowered and "does not exist" in lowered
    ):
        return SchemaOutOfDate(
            f"database {where} is missing mangodb tables or columns ({message}); "
            f"run `mangodb db upgrade --url '{where}'`"
        )
    if isinstance(error, sa_exc.DBAPIError) and any(
        marker in lowered for marker in _UNREACHABLE
    ):
        return DatabaseUnavailable(f"cannot use database {where}: {message}")
    if isinstance(error, sa_exc.DataError):
        return ValidationError(f"value rejected by the database: {message}")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailable(f"lost the connection to {where}: {message}")
    return MangoDBError(f"database error on {where}: {message}")


@contextmanager
def translated(url: URL) -> Iterator[None]:
    """Translate SQLAlchemy errors raised inside the block."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        raise translate(error, url) from error

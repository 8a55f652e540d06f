"""The one place where driver exceptions become mangodb errors (``raise ... from``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from mangodb.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    MangoDBError,
    SchemaOutOfDate,
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


def driver_message(error: BaseException) -> str:
    """The first line of the driver's own message, without SQL or parameters."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def translate(error: sa_exc.SQLAlchemyError, url: URL) -> MangoDBError:
    """Return the mangodb error for a SQLAlchemy/driver error."""
    message = driver_message(error)
    lowered = f"{message} {type(getattr(error, 'orig', error)).__name__}".lower()
    where = mask_url(url)
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

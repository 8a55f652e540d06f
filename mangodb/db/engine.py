"""Engines: SQLite in WAL with a busy timeout and ``BEGIN IMMEDIATE`` for writes; PostgreSQL
with ``pool_pre_ping`` and a small pool (many EC2 processes share one server)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

from mangodb.db.iam import iam_auth
from mangodb.db.types import dumps
from mangodb.errors import DatabaseUnavailable, MissingExtra
from mangodb.settings import mask_url

SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "mangodb_begin"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.strip().isdigit() else default


def make_engine(url: URL, *, read_only: bool = False, **overrides: Any) -> Engine:
    """Create the engine for ``url`` with mangodb's connection settings applied.

    ``read_only``: the database refuses every write, whatever the code above asks: SQLite is
    opened with ``mode=ro``, PostgreSQL sessions start with ``default_transaction_read_only``
    (used by ``mangodb ui``)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, read_only=read_only, **overrides)
    return _postgres_engine(url, read_only=read_only, **overrides)


def _read_only_sqlite_url(url: URL) -> URL:
    """``sqlite:///file:PATH?mode=ro&uri=true``: SQLite itself refuses writes."""
    database = url.database or ""
    if not database or database == ":memory:":
        raise DatabaseUnavailable("a read-only connection needs a SQLite file, not :memory:")
    if not Path(database).exists():
        raise DatabaseUnavailable(f"no mangodb database at {database}")
    path = Path(database).resolve().as_posix()
    return url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})


def _sqlite_engine(url: URL, *, read_only: bool = False, **overrides: Any) -> Engine:
    if read_only:
        url = _read_only_sqlite_url(url)
    elif url.database:
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailable(
                f"cannot create the directory of SQLite database {mask_url(url)}: {error}"
            ) from error
    engine = create_engine(
        url,
        json_serializer=dumps,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **overrides,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if read_only:  # changing the journal mode is a write; a reader follows the file's
            cursor.execute("PRAGMA query_only=ON")
        else:
            # WAL: readers never block the writer and a killed writer leaves the file intact.
            cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode (only power loss can lose
        # the last commits), and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Wait for a competing writer instead of failing with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        # LIKE as on PostgreSQL (and as docs/query-language.md says text compares): case-
        # sensitive; SQLite's default folds ASCII case, so 'null' matched 'NULL'.
        cursor.execute("PRAGMA case_sensitive_like=ON")
        # INSERT OR REPLACE fires the delete triggers of the rows it replaces only with
        # recursive triggers on: the per-method sums (migration 0010) take them back there.
        cursor.execute("PRAGMA recursive_triggers=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writes take the write lock up front (IMMEDIATE) so SQLite never has to upgrade a
        # read lock mid-transaction, which fails at once with SQLITE_BUSY.
        mode = connection.get_execution_options().get(WRITE_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


# Marks an engine whose read-only mode is set per transaction (behind PgBouncer).
_READ_ONLY_PER_TRANSACTION = "mangodb_read_only_per_transaction"


def _pgbouncer_mode() -> bool:
    return os.environ.get("MANGODB_PGBOUNCER", "").strip().lower() in ("1", "true", "yes", "on")


def _postgres_engine(url: URL, *, read_only: bool = False, **overrides: Any) -> Engine:
    """PostgreSQL for many writers (docs/postgres.md). Environment settings:

    - ``MANGODB_POOL_SIZE`` (2) / ``MANGODB_MAX_OVERFLOW`` (3): hundreds of EC2 processes each
      hold at most 5 connections, and usually 1; ``pool_pre_ping`` replaces a connection the
      server (or a failover, or an idle timeout) dropped before a call uses it.
    - ``MANGODB_STATEMENT_TIMEOUT_MS`` (off): the server cancels a statement running longer,
      e.g. one stuck behind a lock; the call fails with a ``MangoDBError`` naming the timeout.
    - ``MANGODB_PGBOUNCER=1``: PgBouncer in transaction mode hands each transaction to any
      server connection, so psycopg's server-side prepared statements are turned off
      (``prepare_threshold=None``), and the statement timeout is set per transaction
      (``SET LOCAL``) since PgBouncer refuses the ``options`` startup parameter; so is
      ``read_only`` (``SET TRANSACTION READ ONLY``, every read in a transaction).
    - ``MANGODB_CONNECT_TIMEOUT`` (10 s).
    - ``?iam=true`` in the URL: each new connection signs a fresh RDS auth token as its
      password, over TLS (mangodb/db/iam.py).
    """
    connect_args: dict[str, Any] = {
        "connect_timeout": _env_int("MANGODB_CONNECT_TIMEOUT", 10),
        "application_name": "mangodb",
    }
    url, iam = iam_auth(url)
    pgbouncer = _pgbouncer_mode()
    statement_timeout = _env_int("MANGODB_STATEMENT_TIMEOUT_MS", 0)
    # Keep options given in the URL (e.g. ``?options=-csearch_path=...``).
    startup = [str(url.query.get("options") or "")]
    if statement_timeout and not pgbouncer:
        startup.append(f"-c statement_timeout={statement_timeout}")
    if read_only and not pgbouncer:  # every transaction, autocommit ones included, is read-only
        startup.append("-c default_transaction_read_only=on")
    if len(startup) > 1:
        connect_args["options"] = " ".join(startup).strip()
    if pgbouncer:
        connect_args["prepare_threshold"] = None
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": _env_int("MANGODB_POOL_SIZE", 2),
        "max_overflow": _env_int("MANGODB_MAX_OVERFLOW", 3),
        "pool_recycle": 1800,
        "json_serializer": dumps,
        "connect_args": connect_args,
    }
    options.update(overrides)
    try:
        engine = create_engine(url, **options)
    except ImportError as error:  # the dialect imports psycopg here
        if (error.name or "").partition(".")[0] != "psycopg":
            raise
        raise MissingExtra("psycopg (PostgreSQL driver)", "postgres") from error
    if iam is not None:

        @event.listens_for(engine, "do_connect")
        def _sign_token(
            _dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]
        ) -> None:
            # Every new connection signs a fresh token; none is kept or logged.
            cparams["password"] = iam.token()

    if pgbouncer and (read_only or statement_timeout):
        # PgBouncer refuses the ``options`` startup parameter and hands each transaction to
        # any server connection: both settings are made per transaction instead.
        if read_only:  # and never in autocommit (see single_statement_engine)
            engine.update_execution_options(**{_READ_ONLY_PER_TRANSACTION: True})

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            if read_only:
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            if statement_timeout:
                connection.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {int(statement_timeout)}"
                )

    return engine


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions are writes (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{WRITE_OPTION: "IMMEDIATE"})
    return engine


def single_statement_engine(engine: Engine) -> Engine:
    """A view of ``engine`` for reads made of one statement. On PostgreSQL it runs in
    autocommit (one statement is its own snapshot), which saves the BEGIN and ROLLBACK round
    trips; not behind PgBouncer with a statement timeout, which is set per transaction."""
    if engine.dialect.name != "postgresql":
        return engine
    if _pgbouncer_mode() and _env_int("MANGODB_STATEMENT_TIMEOUT_MS", 0):
        return engine
    if engine.get_execution_options().get(_READ_ONLY_PER_TRANSACTION):
        return engine  # autocommit would skip the per-transaction SET TRANSACTION READ ONLY
    return engine.execution_options(isolation_level="AUTOCOMMIT")


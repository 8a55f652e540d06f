"""A server with no connection left is a clear typed error naming the remedy, at once, never a
hang: PostgreSQL's limit (SQLSTATE 53300, met here through a role's CONNECTION LIMIT, the same
refusal as max_connections) and PgBouncer's max_client_conn."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from conftest import REQUIRE_PG, require_postgres
from pgbouncer_support import require_pgbouncer, running_pgbouncer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from mangodb import DatabaseUnavailable, RunRepository, TooManyConnections


@pytest.fixture
def limited_database(pg_admin_url: URL) -> Iterator[URL]:
    """A database whose owner (not a superuser: limits spare superusers) may hold one
    connection at a time."""
    require_postgres()
    name = f"lim_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 1'))
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
    try:
        yield pg_admin_url.set(database=name, username=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def _connections_used_up(url: URL) -> TooManyConnections:
    holder = create_engine(url).connect()  # takes the one connection (not a superuser limit)
    try:
        started = time.monotonic()
        with pytest.raises(TooManyConnections) as caught:
            RunRepository.connect(url.set(password="s3cret-pw"))
        assert time.monotonic() - started < 10  # refused at once, no hang
    finally:
        holder.close()
    return caught.value


def test_postgresql_out_of_connections_is_a_typed_error_naming_the_remedy(
    limited_database: URL,
) -> None:
    error = _connections_used_up(limited_database)
    message = str(error)
    assert isinstance(error, DatabaseUnavailable)  # callers catching the broader error still do
    assert "too many connections" in message
    assert "PgBouncer" in message and "MANGODB_POOL_SIZE" in message
    assert "s3cret-pw" not in message


def test_pgbouncer_out_of_client_slots_is_the_same_typed_error(pg_admin_url: URL) -> None:
    require_postgres()
    require_pgbouncer(REQUIRE_PG)
    assert pg_admin_url.host and pg_admin_url.port
    with running_pgbouncer(
        server_host=pg_admin_url.host, server_port=pg_admin_url.port, max_client_conn=2
    ) as bouncer:
        url = make_url(bouncer.url(str(pg_admin_url.database)))
        holders = [create_engine(url).connect() for _ in range(2)]
        try:
            with pytest.raises(TooManyConnections) as caught:
                RunRepository.connect(url)
        finally:
            for holder in holders:
                holder.close()
    assert "no more connections allowed" in str(caught.value)
    assert "PgBouncer" in str(caught.value)

"""Many writers on one PostgreSQL: a dropped server connection is replaced transparently
(pool_pre_ping), a statement timeout turns a stuck query into one clear MangoDBError, and the
PgBouncer switch turns psycopg's server-side prepared statements off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from mangodb import MangoDBError, RunCreate, RunRepository
from mangodb.errors import DatabaseUnavailable


@pytest.fixture
def admin(pg_admin_url: URL) -> Iterator[object]:
    engine = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        engine.dispose()


def _backend_pid(repo: RunRepository) -> int:
    with repo.engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)


def test_a_killed_server_connection_is_replaced(pg_schema_url: URL, admin: object) -> None:
    with RunRepository.connect(pg_schema_url, pool_size=1, max_overflow=0) as repo:
        repo.insert_run(RunCreate(run_id="r1"))
        pid = _backend_pid(repo)
        with admin.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert repo.get_run("r1").run_id == "r1"  # the pooled connection was pinged, replaced
        assert _backend_pid(repo) != pid


def test_without_pre_ping_the_same_kill_is_an_error(pg_schema_url: URL, admin: object) -> None:
    """The control experiment: the setting is what saves the call above."""
    with RunRepository.connect(
        pg_schema_url, pool_size=1, max_overflow=0, pool_pre_ping=False
    ) as repo:
        repo.insert_run(RunCreate(run_id="r1"))
        pid = _backend_pid(repo)
        with admin.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DatabaseUnavailable):
            repo.get_run("r1")


@pytest.mark.parametrize("pgbouncer", ["0", "1"])
def test_statement_timeout_fails_a_stuck_write_clearly(
    pg_schema_url: URL, monkeypatch: pytest.MonkeyPatch, pgbouncer: str
) -> None:
    monkeypatch.setenv("MANGODB_STATEMENT_TIMEOUT_MS", "200")
    monkeypatch.setenv("MANGODB_PGBOUNCER", pgbouncer)
    with RunRepository.connect(pg_schema_url) as repo:
        repo.insert_run(RunCreate(run_id="r1"))
        with repo.engine.begin() as connection:
            assert connection.scalar(text("SHOW statement_timeout")) == "200ms"
            # The URL's own options (here the test schema) are kept beside the timeout.
            assert connection.scalar(text("SELECT count(*) FROM runs")) == 1
        # Another writer holds the run's row lock; our update waits, then gives up.
        blocker = create_engine(pg_schema_url)
        try:
            with blocker.begin() as connection:
                connection.execute(text("SELECT id FROM runs WHERE run_id = 'r1' FOR UPDATE"))
                with pytest.raises(MangoDBError, match="statement timeout") as caught:
                    repo.update_run_status("r1", "running")
        finally:
            blocker.dispose()
        assert "Traceback" not in str(caught.value)
        assert repo.update_run_status("r1", "running").status == "running"  # lock released


def test_pgbouncer_mode_disables_prepared_statements(
    pg_schema_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    def prepared_after_repeats(repo: RunRepository) -> tuple[object, int]:
        with repo.engine.connect() as connection:
            for _ in range(8):  # psycopg prepares a statement on its 5th execution by default
                connection.execute(text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": "x"})
            prepared = connection.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
            return connection.connection.driver_connection.prepare_threshold, int(prepared or 0)

    with RunRepository.connect(pg_schema_url) as repo:
        threshold, prepared = prepared_after_repeats(repo)
        assert threshold == 5 and prepared >= 1  # the default: server-side prepared statements

    monkeypatch.setenv("MANGODB_PGBOUNCER", "1")
    with RunRepository.connect(pg_schema_url) as repo:
        threshold, prepared = prepared_after_repeats(repo)
        assert threshold is None and prepared == 0
        repo.insert_run(RunCreate(run_id="through-pgbouncer"))
        assert repo.get_run("through-pgbouncer").run_id == "through-pgbouncer"


def test_pools_stay_small(pg_schema_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    with RunRepository.connect(pg_schema_url) as repo:
        assert (repo.engine.pool.size(), repo.engine.pool._max_overflow) == (2, 3)  # type: ignore[attr-defined]
    monkeypatch.setenv("MANGODB_POOL_SIZE", "1")
    monkeypatch.setenv("MANGODB_MAX_OVERFLOW", "0")
    with RunRepository.connect(pg_schema_url) as repo:
        assert (repo.engine.pool.size(), repo.engine.pool._max_overflow) == (1, 0)  # type: ignore[attr-defined]

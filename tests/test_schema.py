"""The schema is owned by the migrations: they build exactly the models, go up and down on
both dialects, live in their own version table, and the connect-time check says what to do."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

from mangodb import (
    DatabaseUnavailable,
    InvalidDatabaseURL,
    RunCreate,
    RunRepository,
    SchemaOutOfDate,
    SchemaTooNew,
)
from mangodb.db import schema
from mangodb.db.engine import make_engine
from mangodb.db.models import Base


def _revisions() -> list[str]:
    """All revisions from base to head, in order."""
    script = ScriptDirectory.from_config(schema.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _diff(url: URL) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": schema.VERSION_TABLE,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: URL) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_single_head() -> None:
    script = ScriptDirectory.from_config(schema.alembic_config())
    assert len(script.get_heads()) == 1
    assert schema.head_revision() == _revisions()[-1]


def test_upgrade_downgrade_upgrade(db_url: URL) -> None:
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine)
        assert schema.schema_state(engine).is_current
        assert {"runs", "run_events", "history_chunks", schema.VERSION_TABLE} <= _tables(db_url)
        schema.downgrade(engine, "base")
        assert _tables(db_url) <= {schema.VERSION_TABLE}
        assert schema.schema_state(engine).current is None
        schema.upgrade(engine)
        assert schema.schema_state(engine).is_current
    finally:
        engine.dispose()


def test_every_revision_steps_up_and_down(db_url: URL) -> None:
    engine = make_engine(db_url)
    try:
        for revision in _revisions():
            schema.upgrade(engine, revision)
            assert schema.schema_state(engine).current == revision
        for revision in reversed(_revisions()[:-1]):
            schema.downgrade(engine, revision)
            assert schema.schema_state(engine).current == revision
    finally:
        engine.dispose()


def test_migrated_database_equals_models(db_url: URL) -> None:
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    assert _diff(db_url) == []


def test_connect_migrates_an_empty_database(db_url: URL) -> None:
    with RunRepository.connect(db_url) as repo:
        repo.insert_run(RunCreate(run_id="r1"))
    engine = make_engine(db_url)
    try:
        assert schema.schema_state(engine).current == schema.head_revision()
    finally:
        engine.dispose()
    with RunRepository.connect(db_url) as repo:  # second connect: no migration, data kept
        assert repo.get_run("r1").run_id == "r1"


def test_connect_refuses_a_database_behind_head(db_url: URL) -> None:
    revisions = _revisions()
    assert len(revisions) >= 2, "needs at least two revisions to be behind"
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine, revisions[-2])
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="mangodb db upgrade"):
        RunRepository.connect(db_url)


def test_connect_refuses_a_database_ahead_of_the_package(db_url: URL) -> None:
    engine = make_engine(db_url)
    try:
        schema.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(
                text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'f00dfeed9999'")
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaTooNew, match="pip install -U mangodb"):
        RunRepository.connect(db_url)


def test_connect_refuses_foreign_runs_table(db_url: URL) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="not created by mangodb"):
        RunRepository.connect(db_url)


def test_auto_upgrade_can_be_turned_off(db_url: URL) -> None:
    with pytest.raises(SchemaOutOfDate):
        RunRepository.connect(db_url, auto_upgrade=False)


def test_shares_a_database_with_another_alembic_user(db_url: URL) -> None:
    """MLflow or Optuna keep their revision in ``alembic_version``; ours is separate."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6')"))
    finally:
        engine.dispose()
    with RunRepository.connect(db_url) as repo:
        repo.insert_run(RunCreate(run_id="shared"))
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            foreign = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            ours = connection.execute(
                text(f"SELECT version_num FROM {schema.VERSION_TABLE}")
            ).all()
    finally:
        engine.dispose()
    assert foreign == [("a1b2c3d4e5f6",)]
    assert ours == [(schema.head_revision(),)]


def test_unreachable_postgres_is_one_typed_error_without_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        RunRepository.connect("postgresql://alice:s3cret-pw@127.0.0.1:1/nowhere")
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "***" in message and "127.0.0.1" in message


def test_unopenable_sqlite_file_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailable):
        RunRepository.connect(f"sqlite:///{blocker}/runs.sqlite3")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseUnavailable, match="not a database"):
        RunRepository.connect(f"sqlite:///{garbage}")


@pytest.mark.parametrize(
    "url",
    ["", "mysql://root@localhost/db", "postgresql://u:pw@host:notaport/db", "sqlite://"],
)
def test_bad_url_is_a_typed_error(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL) as caught:
        RunRepository.connect(url)
    assert "pw@" not in str(caught.value)


def test_sqlite_connection_settings(sqlite_url: URL) -> None:
    with RunRepository.connect(sqlite_url) as repo, repo.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_writes_take_the_write_lock_up_front(sqlite_url: URL) -> None:
    """While a repository write transaction is open, another connection cannot start one:
    the write lock was taken at BEGIN (IMMEDIATE), not at the first write."""
    from mangodb.db.engine import write_engine

    with (
        RunRepository.connect(sqlite_url) as repo,
        write_engine(repo.engine).connect() as writer,
        writer.begin(),
    ):
        writer.exec_driver_sql("SELECT 1")  # a read only: DEFERRED would hold no lock
        other = sqlite3.connect(str(sqlite_url.database), timeout=0.1)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_postgres_engine_settings(pg_schema_url: URL) -> None:
    with RunRepository.connect(pg_schema_url) as repo:
        pool = repo.engine.pool
        assert repo.engine.pool._pre_ping is True  # type: ignore[attr-defined]
        assert pool.size() <= 5  # type: ignore[attr-defined]



def _chunk_column_storage(url: URL) -> dict[str, str]:
    """PostgreSQL: attstorage of history_chunks' byte columns (the schema of ``url``)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = "
                    "'history_chunks'::regclass AND attname IN ('payload', 'steps')"
                )
            )
            return {str(name): str(storage) for name, storage in rows}
    finally:
        engine.dispose()


def test_history_chunk_bytes_skip_compression_on_postgresql(db_url: URL) -> None:
    """Migration 0004: packed chunk bytes are stored out of line uncompressed on PostgreSQL
    (EXTERNAL, 'e'), back to EXTENDED ('x') on downgrade; on SQLite it changes nothing (the
    schema at 0003 already equals the models but for ``config_text``, which 0007 adds, and the
    covering index 0008 makes in place of 0003's, 0009's archive mark and indexes, 0010's
    per-method sums and 0011's history tails)."""
    engine = make_engine(db_url)

    def changes() -> list[tuple[str, ...]]:
        return sorted(
            (d[0], d[1].name)
            if d[0].endswith(("_index", "_table"))
            else (d[0], d[2], d[3].name)  # type: ignore[index]
            for d in _diff(db_url)
        )

    try:
        schema.upgrade(engine, "0003")
        if db_url.get_backend_name() == "sqlite":
            added_later = [
                ("add_column", "history_series", "tail_step"),
                ("add_column", "run_objectives", "run_archived_at"),
                ("add_column", "runs", "archived_at"),
                ("add_column", "runs", "config_text"),
                ("add_index", "ix_run_objectives_name_status_method_value_dir_pk_archived"),
                ("add_index", "ix_runs_created_at_id_archived"),
                ("add_index", "ix_runs_status_created_at_id_archived"),
                ("add_index", "ix_runs_status_method_created_at_id_archived"),
                *(
                    ("add_table", f"method_{kind}_{part}")
                    for kind in ("objective", "pair", "run")
                    for part in ("deltas", "sums")
                ),
                ("remove_index", "ix_run_objectives_name_run_status_run_gradient_method_value"),
                ("remove_index", "ix_runs_created_at"),
                ("remove_index", "ix_runs_status_created_at"),
                ("remove_index", "ix_runs_status_gradient_method_created_at"),
            ]
            assert changes() == added_later
            schema.upgrade(engine, "0004")
            assert changes() == added_later
            return
        assert _chunk_column_storage(db_url) == {"payload": "x", "steps": "x"}
        schema.upgrade(engine, "0004")
        assert _chunk_column_storage(db_url) == {"payload": "e", "steps": "e"}
        schema.downgrade(engine, "0003")
        assert _chunk_column_storage(db_url) == {"payload": "x", "steps": "x"}
    finally:
        engine.dispose()


def test_the_config_is_kept_as_generated_text_too(db_url: URL) -> None:
    """Migrations 0005 and 0007: ``runs.config_text`` is generated from ``config`` on every
    write (PostgreSQL: stored, and page reads take it; SQLite: virtual), declared in the model
    as ``Computed`` so the migrated schema equals the models with no exclusion; dropped on
    downgrade."""
    with RunRepository.connect(db_url) as repo:
        repo.insert_run(RunCreate(run_id="r1", config={"lr": 0.1, "nested": {"é": [1, None]}}))
        repo.update_run_status("r1", config={"lr": 0.2, "big": 2**70})
        assert repo.get_run("r1").config == {"lr": 0.2, "big": 2**70}
        assert repo.query_runs()[0].config == {"lr": 0.2, "big": 2**70}
    engine = create_engine(db_url)
    postgres = db_url.get_backend_name() == "postgresql"
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("runs")}
        assert columns["config_text"].get("computed") is not None
        with engine.connect() as connection:
            same = "config_text = config::text" if postgres else "config_text = config"
            query = f"SELECT {same} FROM runs WHERE run_id = 'r1'"
            assert connection.execute(text(query)).scalar() in (True, 1)
    finally:
        engine.dispose()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # alembic warns when a generated expression differs
        assert _diff(db_url) == []
    engine = make_engine(db_url)
    try:
        schema.downgrade(engine, "0004")
        assert "config_text" not in {c["name"] for c in inspect(engine).get_columns("runs")}
        schema.upgrade(engine)
    finally:
        engine.dispose()

"""Archived runs: ``runs.archived_at``, its copy on ``run_objectives`` and in ``v_runs``.

``archive_runs`` sets ``runs.archived_at``; every listing and analysis then leaves the run out
unless asked (``include_archived``). Method analysis reads ``run_objectives`` alone when the
criteria are on status and method (migrations 0003, 0008), so the objective rows carry a copy,
``run_archived_at``, kept in step by the triggers of 0003, which now copy it too (every
writer, raw SQL included, and objective rows inserted after the run was archived). The copy is
the last key column of the covering index, so the default reads stay index-only and keep the
index's (name, status, method, value) order. Likewise ``archived_at`` trails the three
creation-ordered indexes of ``runs``: counts and the runs per method stay index-only, and a
page walked in creation order tests the mark in the index.

``v_runs`` gains ``archived_at`` as its last column (a view may grow at the end, see 0006).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = 'ix_run_objectives_name_status_method_value_direction_run_pk'
_NEW = 'ix_run_objectives_name_status_method_value_dir_pk_archived'
_KEY = ['name', 'run_status', 'run_gradient_method', 'value', 'direction', 'run_pk']
# The creation-ordered indexes of runs (0001, 0002) and the same with the mark trailing.
_RUNS_INDEXES = (
    ('ix_runs_created_at', 'ix_runs_created_at_id_archived', ['created_at']),
    ('ix_runs_status_created_at', 'ix_runs_status_created_at_id_archived',
     ['status', 'created_at']),
    ('ix_runs_status_gradient_method_created_at', 'ix_runs_status_method_created_at_id_archived',
     ['status', 'gradient_method', 'created_at', 'id']),
)  # fmt: skip


def _trigger_statements(archived: bool, dialect: str) -> tuple[str, ...]:
    """The two triggers of 0003 (and PostgreSQL's functions), copying ``archived_at`` too
    when ``archived``; each statement replaces what an earlier version made."""
    fields = ['status', 'gradient_method'] + (['archived_at'] if archived else [])
    copies = [f'run_{f}' for f in fields]
    if dialect == 'postgresql':
        changed = ' OR '.join(f'OLD.{f} IS DISTINCT FROM NEW.{f}' for f in fields)
        return (
            'DROP TRIGGER IF EXISTS tr_run_objectives_run_fields ON run_objectives',
            'DROP TRIGGER IF EXISTS tr_runs_fields_to_objectives ON runs',
            f"""
            CREATE OR REPLACE FUNCTION mangodb_objective_takes_run_fields() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                SELECT {', '.join(f'r.{f}' for f in fields)}
                INTO {', '.join(f'NEW.{c}' for c in copies)}
                FROM runs r WHERE r.id = NEW.run_pk;
                RETURN NEW;
            END $$
            """,
            f"""
            CREATE TRIGGER tr_run_objectives_run_fields
            BEFORE INSERT OR UPDATE OF run_pk, {', '.join(copies)} ON run_objectives
            FOR EACH ROW EXECUTE FUNCTION mangodb_objective_takes_run_fields()
            """,
            f"""
            CREATE OR REPLACE FUNCTION mangodb_run_fields_to_objectives() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE run_objectives
                SET {', '.join(f'{c} = NEW.{f}' for f, c in zip(fields, copies))}
                WHERE run_pk = NEW.id;
                RETURN NULL;
            END $$
            """,
            f"""
            CREATE TRIGGER tr_runs_fields_to_objectives
            AFTER UPDATE OF {', '.join(fields)} ON runs
            FOR EACH ROW WHEN ({changed})
            EXECUTE FUNCTION mangodb_run_fields_to_objectives()
            """,
        )
    changed = ' OR '.join(f'OLD.{f} IS NOT NEW.{f}' for f in fields)
    taken = ', '.join(f'{c} = (SELECT {f} FROM runs WHERE id = NEW.run_pk)'
                      for f, c in zip(fields, copies))  # fmt: skip
    return (
        'DROP TRIGGER IF EXISTS tr_run_objectives_run_fields',
        'DROP TRIGGER IF EXISTS tr_runs_fields_to_objectives',
        f"""
        CREATE TRIGGER tr_run_objectives_run_fields AFTER INSERT ON run_objectives
        BEGIN
            UPDATE run_objectives SET {taken} WHERE id = NEW.id;
        END
        """,
        f"""
        CREATE TRIGGER tr_runs_fields_to_objectives AFTER UPDATE OF {', '.join(fields)} ON runs
        WHEN {changed}
        BEGIN
            UPDATE run_objectives
            SET {', '.join(f'{c} = NEW.{f}' for f, c in zip(fields, copies))}
            WHERE run_pk = NEW.id;
        END
        """,
    )


def _sql_views() -> ModuleType:
    """Migration 0006, whose ``v_runs`` this one extends (read from its file, which ships
    next to this one)."""
    path = Path(__file__).with_name('20261202_0006_sql_views.py')
    spec = importlib.util.spec_from_file_location('mangodb_migration_0006', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _v_runs(dialect: str, archived: bool) -> str:
    body: str = _sql_views()._views(dialect)['v_runs']
    if archived:
        body = body.replace('AS final_metrics\nFROM runs r', 'AS final_metrics,\n    r.archived_at\nFROM runs r')
        assert 'r.archived_at' in body, 'v_runs of 0006 changed shape'
    return body


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute('DROP VIEW IF EXISTS v_runs')
    # Plain ALTER TABLE on both dialects (SQLite adds a nullable column in place; a batch
    # rebuild of ``runs`` would drop its triggers and rewrite every row).
    op.add_column('runs', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'run_objectives', sa.Column('run_archived_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(_NEW, 'run_objectives', [*_KEY, 'run_archived_at'], unique=False)
    op.drop_index(_OLD, table_name='run_objectives')
    for old, new, columns in _RUNS_INDEXES:
        # ``id`` explicit (SQLite's rowid otherwise follows the mark): (created_at, id) order.
        keys = columns if 'id' in columns else [*columns, 'id']
        op.create_index(new, 'runs', [*keys, 'archived_at'], unique=False)
        op.drop_index(old, table_name='runs')
    for statement in _trigger_statements(True, dialect):
        op.execute(statement)
    op.execute(f'CREATE VIEW v_runs AS\n{_v_runs(dialect, True)}')


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute('DROP VIEW IF EXISTS v_runs')
    for statement in _trigger_statements(False, dialect):
        op.execute(statement)
    op.create_index(_OLD, 'run_objectives', _KEY, unique=False)
    op.drop_index(_NEW, table_name='run_objectives')
    for old, new, columns in _RUNS_INDEXES:
        op.create_index(old, 'runs', columns, unique=False)
        op.drop_index(new, table_name='runs')
    # SQLite >= 3.35 drops a column in place once no index, trigger or view names it.
    op.execute('ALTER TABLE run_objectives DROP COLUMN run_archived_at')
    op.execute('ALTER TABLE runs DROP COLUMN archived_at')
    op.execute(f'CREATE VIEW v_runs AS\n{_v_runs(dialect, False)}')

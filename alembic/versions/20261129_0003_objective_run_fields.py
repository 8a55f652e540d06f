"""run_objectives carries its run's status and gradient method, for compare_gradient_methods.

compare_gradient_methods reads one objective of every run of some statuses, per method: at
100,000 runs, joining ~60K runs to 100K objective rows and sorting by method cost ~100 ms.
With the run's status and method on the objective row, one index
(name, run_status, run_gradient_method, value) INCLUDE (direction, run_pk) answers it
index-only, already in method then value order (no join, no sort).

The copies are kept in step by triggers on both dialects, in the statement that changes the
run (every writer: lifecycle transitions, bulk status changes, updates, copies, raw SQL):
- before (SQLite: after) an objective row is inserted, it takes its run's status and method;
- after a run's status or method changes, its objective rows take the new values.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:10:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = 'ix_run_objectives_name_run_status_run_gradient_method_value'

_POSTGRESQL_UP = (
    """
    CREATE FUNCTION mangodb_objective_takes_run_fields() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        SELECT r.status, r.gradient_method INTO NEW.run_status, NEW.run_gradient_method
        FROM runs r WHERE r.id = NEW.run_pk;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER tr_run_objectives_run_fields
    BEFORE INSERT OR UPDATE OF run_pk, run_status, run_gradient_method ON run_objectives
    FOR EACH ROW EXECUTE FUNCTION mangodb_objective_takes_run_fields()
    """,
    """
    CREATE FUNCTION mangodb_run_fields_to_objectives() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE run_objectives
        SET run_status = NEW.status, run_gradient_method = NEW.gradient_method
        WHERE run_pk = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER tr_runs_fields_to_objectives
    AFTER UPDATE OF status, gradient_method ON runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.gradient_method IS DISTINCT FROM NEW.gradient_method)
    EXECUTE FUNCTION mangodb_run_fields_to_objectives()
    """,
)
_POSTGRESQL_DOWN = (
    'DROP TRIGGER tr_runs_fields_to_objectives ON runs',
    'DROP FUNCTION mangodb_run_fields_to_objectives()',
    'DROP TRIGGER tr_run_objectives_run_fields ON run_objectives',
    'DROP FUNCTION mangodb_objective_takes_run_fields()',
)
_SQLITE_UP = (
    """
    CREATE TRIGGER tr_run_objectives_run_fields AFTER INSERT ON run_objectives
    BEGIN
        UPDATE run_objectives
        SET run_status = (SELECT status FROM runs WHERE id = NEW.run_pk),
            run_gradient_method = (SELECT gradient_method FROM runs WHERE id = NEW.run_pk)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER tr_runs_fields_to_objectives AFTER UPDATE OF status, gradient_method ON runs
    WHEN OLD.status IS NOT NEW.status OR OLD.gradient_method IS NOT NEW.gradient_method
    BEGIN
        UPDATE run_objectives
        SET run_status = NEW.status, run_gradient_method = NEW.gradient_method
        WHERE run_pk = NEW.id;
    END
    """,
)
_SQLITE_DOWN = (
    'DROP TRIGGER tr_runs_fields_to_objectives',
    'DROP TRIGGER tr_run_objectives_run_fields',
)


def upgrade() -> None:
    with op.batch_alter_table('run_objectives') as batch:
        batch.add_column(sa.Column('run_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('run_gradient_method', sa.String(length=64), nullable=True))
    op.execute(
        'UPDATE run_objectives SET '
        'run_status = (SELECT status FROM runs WHERE runs.id = run_objectives.run_pk), '
        'run_gradient_method = (SELECT gradient_method FROM runs WHERE runs.id = run_objectives.run_pk)'
    )
    op.create_index(
        _INDEX,
        'run_objectives',
        ['name', 'run_status', 'run_gradient_method', 'value'],
        unique=False,
        postgresql_include=['direction', 'run_pk'],
    )
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for statement in _POSTGRESQL_UP if postgresql else _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for statement in _POSTGRESQL_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_index(_INDEX, table_name='run_objectives')
    with op.batch_alter_table('run_objectives') as batch:
        batch.drop_column('run_gradient_method')
        batch.drop_column('run_status')

"""query indexes for 100,000 runs, and the progress table of `mangodb db copy`.

- runs (status, gradient_method, created_at, id): the filtered first page walks this index in
  creation order and stops after one page.
- runs.config GIN jsonb_path_ops (PostgreSQL): config equality compiles to `@>` containment.
  On SQLite the same declaration is an empty partial index (WHERE 0): nothing to maintain.
- run_objectives (name, run_pk, value): covering index for compare_gradient_methods.
- runs.config is compressed with lz4 on PostgreSQL >= 14 (when the server has it).
- mangodb_copy_state: per-table progress of a copy into this database (resumable copies).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Snapshot type: migrations never import live models or column types.
BIG_INTEGER = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql' or (bind.dialect.server_version_info or (0,)) < (14,):
        return False
    return bool(bind.execute(sa.text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )).scalar())


def upgrade() -> None:
    if _lz4_available():
        # Filters read configs (a few KB each, TOASTed) row by row: lz4 decompresses them
        # several times faster than the default pglz. Applies to values written from now on.
        op.execute('ALTER TABLE runs ALTER COLUMN config SET COMPRESSION lz4')
    op.create_index(
        'ix_runs_status_gradient_method_created_at',
        'runs',
        ['status', 'gradient_method', 'created_at', 'id'],
        unique=False,
    )
    op.create_index(
        'ix_runs_config_gin',
        'runs',
        ['config'],
        unique=False,
        postgresql_using='gin',
        postgresql_ops={'config': 'jsonb_path_ops'},
        sqlite_where=sa.text('0'),
    )
    op.create_index(
        'ix_run_objectives_name_run_pk_value',
        'run_objectives',
        ['name', 'run_pk', 'value'],
        unique=False,
    )
    op.create_table(
        'mangodb_copy_state',
        sa.Column('table_name', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=2048), nullable=False),
        sa.Column('id_offset', BIG_INTEGER, nullable=False),
        sa.Column('last_key', sa.Text(), nullable=True),
        sa.Column('rows_copied', BIG_INTEGER, nullable=False),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('table_name', name=op.f('pk_mangodb_copy_state')),
    )


def downgrade() -> None:
    if _lz4_available():
        op.execute('ALTER TABLE runs ALTER COLUMN config SET COMPRESSION default')
    op.drop_table('mangodb_copy_state')
    op.drop_index('ix_run_objectives_name_run_pk_value', table_name='run_objectives')
    op.drop_index('ix_runs_config_gin', table_name='runs')
    op.drop_index('ix_runs_status_gradient_method_created_at', table_name='runs')

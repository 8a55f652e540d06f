"""The (name, run_status, run_gradient_method, value) index of run_objectives covers
direction and run_pk on SQLite too.

Migration 0003 made it with ``INCLUDE (direction, run_pk)``, which PostgreSQL honours and SQLite
ignores: on SQLite, method_report's aggregate pass (which counts the declared directions) and
its runs per method looked up every row in the table (~40 s at 100,000 runs x 9 objectives).
Both columns are now trailing key columns on both dialects (one model, and SQLite has no
INCLUDE): the aggregates read the index alone, in (name, status, method) order, with no sort.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = 'ix_run_objectives_name_run_status_run_gradient_method_value'
_NEW = 'ix_run_objectives_name_status_method_value_direction_run_pk'
_KEY = ['name', 'run_status', 'run_gradient_method', 'value']


def upgrade() -> None:
    op.create_index(_NEW, 'run_objectives', [*_KEY, 'direction', 'run_pk'], unique=False)
    op.drop_index(_OLD, table_name='run_objectives')


def downgrade() -> None:
    op.create_index(
        _OLD, 'run_objectives', _KEY, unique=False, postgresql_include=['direction', 'run_pk']
    )
    op.drop_index(_NEW, table_name='run_objectives')

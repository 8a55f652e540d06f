"""History series get an open tail: ``history_series.tail_step``.

Small in-order appends (a training loop flushing every second) used to rewrite the series'
last chunk with the new points each time, re-encoding up to 4,096 points per key to add ten.
They now add a small chunk of their own and the series' trailing small chunks are merged
into full chunks once enough points have arrived (``mangodb.history.store``).
``tail_step`` is the first step of that open tail; NULL when the series has none. Chunks
keep covering disjoint step ranges, so readers see nothing new. Existing series start
without a tail (NULL): their next small append opens one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    step = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.add_column('history_series', sa.Column('tail_step', step, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE on both dialects (SQLite >= 3.35): a batch copy of the table would
    # drop it, and with it, through ON DELETE CASCADE, every chunk.
    op.execute('ALTER TABLE history_series DROP COLUMN tail_step')

"""History chunk bytes are stored out of line without compression on PostgreSQL.

A chunk's ``payload`` (packed float64, ~16 KB for 2,000 points) and ``steps`` (packed,
usually empty) are already as small as the codec makes them. With PostgreSQL's default
``EXTENDED`` storage every value above ~2 KB is first run through pglz, which finds little to
gain on float bytes and throws the result away: measured here, 50 rows of 16 KB took 4.0 ms
with EXTENDED and 2.2 ms with EXTERNAL (the same bytes on disk). ``EXTERNAL`` keeps the TOAST
(out-of-line) storage and skips the compression attempt. Existing values are not rewritten;
the setting applies to values written from now on. SQLite has no such setting: no-op there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('payload', 'steps')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for column in _COLUMNS:
        op.execute(f'ALTER TABLE history_chunks ALTER COLUMN {column} SET STORAGE EXTERNAL')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for column in _COLUMNS:
        op.execute(f'ALTER TABLE history_chunks ALTER COLUMN {column} SET STORAGE EXTENDED')

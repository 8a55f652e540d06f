"""PostgreSQL keeps each run's config also as text, for reads.

Reading a page turns every config from jsonb back into JSON text on the server (``config::text``):
for fifty 300-attribute configs that was 2.3 ms of a 10 ms page (1.0 ms reading the stored
text instead). ``runs.config_text`` is a stored generated column, ``GENERATED ALWAYS AS
(config::text)``: PostgreSQL computes it on every insert and update, so it can never differ
from ``config``, whoever writes. Filters still use the jsonb ``config`` (and its GIN index).
Cost: about 2.5 KB more per run (lz4-compressed text) and a little more work per insert.
Adding the column rewrites ``runs`` under an exclusive lock (minutes at 100,000 runs): upgrade
in a quiet moment. SQLite stores its documents as text already: no-op there.

The column is not in the SQLAlchemy models (SQLite has no such column);
``mangodb.db.schema.include_object`` keeps it out of schema comparisons.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 13:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _lz4_available() -> bool:
    return bool(
        op.get_bind()
        .exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        .scalar()
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    if (bind.dialect.server_version_info or (0,)) < (12,):
        raise RuntimeError('mangodb needs PostgreSQL 12 or newer (generated columns)')
    op.execute(
        'ALTER TABLE runs ADD COLUMN config_text text GENERATED ALWAYS AS (config::text) STORED'
    )
    if _lz4_available():
        op.execute('ALTER TABLE runs ALTER COLUMN config_text SET COMPRESSION lz4')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('ALTER TABLE runs DROP COLUMN config_text')

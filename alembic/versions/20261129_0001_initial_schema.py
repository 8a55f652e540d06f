"""initial schema: runs, events, tags, metrics, objectives, crash reports, attachments,
history series and packed history chunks.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 09:34:36.893131
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Snapshot types: migrations never import live models or column types.
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('gradient_method', sa.String(length=64), nullable=True),
    sa.Column('model_name', sa.String(length=255), nullable=True),
    sa.Column('dataset', sa.String(length=255), nullable=True),
    sa.Column('batch_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('learning_rate', sa.Double(), nullable=True),
    sa.Column('seed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('instance_id', sa.String(length=64), nullable=True),
    sa.Column('instance_type', sa.String(length=64), nullable=True),
    sa.Column('region', sa.String(length=32), nullable=True),
    sa.Column('is_spot', sa.Boolean(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('git_commit', sa.String(length=64), nullable=True),
    sa.Column('s3_prefix', sa.String(length=1024), nullable=True),
    sa.Column('wandb_entity', sa.String(length=255), nullable=True),
    sa.Column('wandb_project', sa.String(length=255), nullable=True),
    sa.Column('wandb_run_id', sa.String(length=64), nullable=True),
    sa.Column('wandb_url', sa.String(length=1024), nullable=True),
    sa.Column('exit_code', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('total_training_steps', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('error_summary', sa.Text(), nullable=True),
    sa.Column('config', JSON_DOCUMENT, nullable=False),
    sa.Column('final_metrics', JSON_DOCUMENT, nullable=True),
    sa.CheckConstraint("status IN ('launched', 'running', 'completed', 'failed', 'crashed', 'terminated')", name=op.f('ck_runs_status_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    sa.UniqueConstraint('run_id', name=op.f('uq_runs_run_id'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_batch_size'), ['batch_size'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_dataset'), ['dataset'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_ended_at'), ['ended_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_git_commit'), ['git_commit'], unique=False)
        batch_op.create_index('ix_runs_gradient_method_status', ['gradient_method', 'status'], unique=False)
        batch_op.create_index('ix_runs_instance_id', ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_instance_type'), ['instance_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_model_name'), ['model_name'], unique=False)
        batch_op.create_index('ix_runs_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_wandb_project'), ['wandb_project'], unique=False)
        batch_op.create_index('ix_runs_wandb_run_id', ['wandb_run_id'], unique=False)

    op.create_table('crash_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedup_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_log_s3_key', sa.String(length=1024), nullable=True),
    sa.Column('crash_report_s3_key', sa.String(length=1024), nullable=True),
    sa.Column('analysis_s3_key', sa.String(length=1024), nullable=True),
    sa.Column('error_type', sa.String(length=255), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('excerpt', sa.Text(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('analysis_summary', sa.Text(), nullable=True),
    sa.Column('details', JSON_DOCUMENT, nullable=True),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_crash_reports_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crash_reports')),
    sa.UniqueConstraint('run_pk', 'dedup_key', name=op.f('uq_crash_reports_run_pk_dedup_key'))
    )
    with op.batch_alter_table('crash_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crash_reports_error_type'), ['error_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_crash_reports_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_crash_reports_run_pk'), ['run_pk'], unique=False)

    op.create_table('history_series',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('point_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chunk_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('first_step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('min_value', sa.Double(), nullable=True),
    sa.Column('max_value', sa.Double(), nullable=True),
    sa.Column('last_value', sa.Double(), nullable=True),
    sa.Column('last_value_kind', sa.SmallInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('numeric', 'json')", name=op.f('ck_history_series_kind_valid')),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_history_series_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history_series')),
    sa.UniqueConstraint('run_pk', 'key', name=op.f('uq_history_series_run_pk_key'))
    )
    with op.batch_alter_table('history_series', schema=None) as batch_op:
        batch_op.create_index('ix_history_series_key', ['key'], unique=False)

    op.create_table('run_attachments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('uri', sa.String(length=2048), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', JSON_DOCUMENT, nullable=True),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_run_attachments_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_attachments')),
    sa.UniqueConstraint('run_pk', 'kind', 'uri', name=op.f('uq_run_attachments_run_pk_kind_uri'))
    )
    with op.batch_alter_table('run_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_attachments_run_pk'), ['run_pk'], unique=False)

    op.create_table('run_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('details', JSON_DOCUMENT, nullable=True),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_run_events_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_events'))
    )
    with op.batch_alter_table('run_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_events_run_pk'), ['run_pk'], unique=False)

    op.create_table('run_metrics',
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_run_metrics_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_pk', 'key', name=op.f('pk_run_metrics'))
    )
    with op.batch_alter_table('run_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_run_metrics_key_value', ['key', 'value'], unique=False)

    op.create_table('run_objectives',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('metric', sa.String(length=512), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('weight', sa.Double(), nullable=True),
    sa.Column('target', sa.Double(), nullable=True),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('value_kind', sa.SmallInteger(), nullable=False),
    sa.Column('step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('details', JSON_DOCUMENT, nullable=True),
    sa.CheckConstraint("direction IN ('min', 'max')", name=op.f('ck_run_objectives_direction_valid')),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_run_objectives_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_objectives')),
    sa.UniqueConstraint('run_pk', 'name', name=op.f('uq_run_objectives_run_pk_name'))
    )
    with op.batch_alter_table('run_objectives', schema=None) as batch_op:
        batch_op.create_index('ix_run_objectives_name_value', ['name', 'value'], unique=False)

    op.create_table('run_tags',
    sa.Column('run_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['run_pk'], ['runs.id'], name=op.f('fk_run_tags_run_pk_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_pk', 'tag', name=op.f('pk_run_tags'))
    )
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.create_index('ix_run_tags_tag', ['tag'], unique=False)

    op.create_table('history_chunks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('series_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('codec', sa.SmallInteger(), nullable=False),
    sa.Column('first_step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_step', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('point_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nan_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('min_value', sa.Double(), nullable=True),
    sa.Column('max_value', sa.Double(), nullable=True),
    sa.Column('last_value', sa.Double(), nullable=True),
    sa.Column('last_value_kind', sa.SmallInteger(), nullable=False),
    sa.Column('steps', sa.LargeBinary(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['series_id'], ['history_series.id'], name=op.f('fk_history_chunks_series_id_history_series'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history_chunks'))
    )
    with op.batch_alter_table('history_chunks', schema=None) as batch_op:
        batch_op.create_index('ix_history_chunks_series_id_first_step', ['series_id', 'first_step'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('history_chunks', schema=None) as batch_op:
        batch_op.drop_index('ix_history_chunks_series_id_first_step')

    op.drop_table('history_chunks')
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_run_tags_tag')

    op.drop_table('run_tags')
    with op.batch_alter_table('run_objectives', schema=None) as batch_op:
        batch_op.drop_index('ix_run_objectives_name_value')

    op.drop_table('run_objectives')
    with op.batch_alter_table('run_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_run_metrics_key_value')

    op.drop_table('run_metrics')
    with op.batch_alter_table('run_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_events_run_pk'))

    op.drop_table('run_events')
    with op.batch_alter_table('run_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_attachments_run_pk'))

    op.drop_table('run_attachments')
    with op.batch_alter_table('history_series', schema=None) as batch_op:
        batch_op.drop_index('ix_history_series_key')

    op.drop_table('history_series')
    with op.batch_alter_table('crash_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crash_reports_run_pk'))
        batch_op.drop_index(batch_op.f('ix_crash_reports_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_crash_reports_error_type'))

    op.drop_table('crash_reports')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_wandb_run_id')
        batch_op.drop_index(batch_op.f('ix_runs_wandb_project'))
        batch_op.drop_index('ix_runs_status_created_at')
        batch_op.drop_index(batch_op.f('ix_runs_model_name'))
        batch_op.drop_index(batch_op.f('ix_runs_instance_type'))
        batch_op.drop_index('ix_runs_instance_id')
        batch_op.drop_index('ix_runs_gradient_method_status')
        batch_op.drop_index(batch_op.f('ix_runs_git_commit'))
        batch_op.drop_index(batch_op.f('ix_runs_ended_at'))
        batch_op.drop_index(batch_op.f('ix_runs_dataset'))
        batch_op.drop_index(batch_op.f('ix_runs_created_at'))
        batch_op.drop_index(batch_op.f('ix_runs_batch_size'))

    op.drop_table('runs')

"""Stable SQL views, so psql, DBeaver, Metabase, Grafana or ``pandas.read_sql`` can read the
runs without mangodb (docs/sql.md lists their columns).

- ``v_runs``: one row per run, the promoted columns, its tags (a JSON array) and its final
  metrics (one JSON object: the numeric ones from ``run_metrics``, with NaN and ±Inf written as
  the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, merged with the non-numeric ones);
- ``v_metrics``: one row per (run, numeric final metric), the exact value and its kind;
- ``v_objectives``: one row per (run, objective);
- ``v_events``: one row per status event (refused attempts too, ``applied`` false);
- ``v_crash_reports``: one row per crash report, with the run's method and instance;
- ``v_history_series``: one row per (run, history key): counts, step range, min, max, last.

A value's kind (``value_kind``) is one of ``finite``, ``nan``, ``+inf``, ``-inf``, ``-0``, or
NULL when there is no value (an objective never set).
On PostgreSQL ``value`` holds NaN and ±Inf as the float8 values themselves; SQLite has no NaN,
so there a NaN ``value`` is NULL and ``value_kind`` says ``nan``.

The views name their columns: a later migration may add a column at the end, never rename or
drop one. A later migration that rebuilds one of these tables on SQLite (Alembic's batch
mode) must drop the views first and create them again after (SQLite checks views when a table
is renamed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ('v_runs', 'v_metrics', 'v_objectives', 'v_events', 'v_crash_reports', 'v_history_series')

_KIND = (
    "CASE {c} WHEN 0 THEN CASE WHEN {v} IS NULL THEN NULL ELSE 'finite' END "
    "WHEN 1 THEN 'nan' WHEN 2 THEN '+inf' WHEN 3 THEN '-inf' WHEN 4 THEN '-0' END"
)
_RUN_COLUMNS = """
    r.run_id, r.status, r.gradient_method, r.model_name, r.dataset, r.batch_size,
    r.learning_rate, r.seed, r.created_at, r.updated_at, r.started_at, r.ended_at,
    r.heartbeat_at, r.instance_id, r.instance_type, r.region, r.is_spot, r.host, r.git_commit,
    r.s3_prefix, r.wandb_entity, r.wandb_project, r.wandb_run_id, r.wandb_url, r.exit_code,
    r.total_training_steps, r.error_summary, r.config"""


def _value(dialect: str, value: str, kind: str) -> str:
    """The exact float: PostgreSQL holds NaN and -0.0 as float8; SQLite leaves NaN NULL."""
    if dialect == 'postgresql':
        return (
            f"CASE {kind} WHEN 1 THEN 'NaN'::float8 WHEN 4 THEN '-0'::float8 ELSE {value} END"
        )
    return f"CASE {kind} WHEN 4 THEN -0.0 ELSE {value} END"


def _views(dialect: str) -> dict[str, str]:
    pg = dialect == 'postgresql'
    if pg:
        metric_json = (
            "CASE m.kind WHEN 1 THEN to_jsonb('NaN'::text) WHEN 2 THEN to_jsonb('Infinity'::text) "
            "WHEN 3 THEN to_jsonb('-Infinity'::text) ELSE to_jsonb(m.value) END"
        )
        metrics = (
            "COALESCE(r.final_metrics, '{}'::jsonb) || COALESCE((SELECT "
            f"jsonb_object_agg(m.key, {metric_json}) FROM run_metrics m "
            "WHERE m.run_pk = r.id), '{}'::jsonb)"
        )
        tags = (
            "COALESCE((SELECT jsonb_agg(t.tag ORDER BY t.tag) FROM run_tags t "
            "WHERE t.run_pk = r.id), '[]'::jsonb)"
        )
    else:
        metric_json = (
            "CASE m.kind WHEN 1 THEN 'NaN' WHEN 2 THEN 'Infinity' WHEN 3 THEN '-Infinity' "
            "ELSE m.value END"
        )
        metrics = (
            "json_patch(COALESCE(r.final_metrics, '{}'), (SELECT "
            f"json_group_object(m.key, {metric_json}) FROM run_metrics m "
            "WHERE m.run_pk = r.id))"
        )
        tags = (
            "(SELECT json_group_array(tag) FROM (SELECT t.tag AS tag FROM run_tags t "
            "WHERE t.run_pk = r.id ORDER BY t.tag))"
        )
    return {
        'v_runs': f"SELECT {_RUN_COLUMNS},\n    {tags} AS tags,\n    {metrics} AS final_metrics\n"
        "FROM runs r",
        'v_metrics': "SELECT r.run_id, m.key, "
        f"{_value(dialect, 'm.value', 'm.kind')} AS value, "
        f"{_KIND.format(c='m.kind', v='m.value')} AS value_kind "
        "FROM run_metrics m JOIN runs r ON r.id = m.run_pk",
        'v_objectives': "SELECT r.run_id, r.status, r.gradient_method, o.name, o.metric, "
        "o.direction, o.weight, o.target, "
        f"{_value(dialect, 'o.value', 'o.value_kind')} AS value, "
        f"{_KIND.format(c='o.value_kind', v='o.value')} AS value_kind, o.step, o.updated_at, o.details "
        "FROM run_objectives o JOIN runs r ON r.id = o.run_pk",
        'v_events': "SELECT e.id AS event_id, r.run_id, e.at, e.from_status, e.to_status, "
        "e.reason, e.source, e.host, e.forced, e.applied, e.details "
        "FROM run_events e JOIN runs r ON r.id = e.run_pk",
        'v_crash_reports': "SELECT c.id AS report_id, r.run_id, c.created_at, c.occurred_at, c.error_type, "
        "c.message, c.excerpt, c.fingerprint, c.analysis_summary, c.error_log_s3_key, "
        "c.crash_report_s3_key, c.analysis_s3_key, c.details, r.gradient_method, r.instance_type, "
        "r.region, r.status AS run_status "
        "FROM crash_reports c JOIN runs r ON r.id = c.run_pk",
        'v_history_series': "SELECT r.run_id, h.key, h.kind, h.point_count, h.first_step, "
        "h.last_step, h.min_value, h.max_value, "
        f"{_value(dialect, 'h.last_value', 'h.last_value_kind')} AS last_value, "
        f"{_KIND.format(c='h.last_value_kind', v='h.last_value')} AS last_value_kind, h.updated_at "
        "FROM history_series h JOIN runs r ON r.id = h.run_pk",
    }


def upgrade() -> None:
    for name, body in _views(op.get_bind().dialect.name).items():
        op.execute(f'CREATE VIEW {name} AS\n{body}')


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f'DROP VIEW IF EXISTS {name}')

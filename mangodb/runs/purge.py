"""Deleting runs for good, with everything that belongs to them, in bounded batches.

Each batch is its own short transaction over at most ``batch_size`` runs: history chunks and
series first (the bulk of the bytes), then the runs, whose events, objectives, tags, metrics,
crash reports and attachments go with them (``ON DELETE CASCADE``). Runs that are
``launched`` or ``running`` are never selected. The S3 keys of the runs' crash artefacts are
collected for the caller; the database layer never talks to S3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from mangodb.db.models import (
    CrashReport,
    HistoryChunk,
    HistorySeries,
    Run,
    RunAttachment,
    RunEvent,
    RunMetric,
    RunObjective,
    RunTag,
)
from mangodb.db.types import utcnow
from mangodb.runs import method_deltas
from mangodb.runs.planning import Plan
from mangodb.status import ACTIVE_STATUSES

# Tables in the order a report lists them.
TABLES = (
    "runs", "run_events", "run_objectives", "run_tags", "run_metrics", "crash_reports",
    "run_attachments", "history_series", "history_chunks",
)  # fmt: skip
_CHILDREN = (
    ("run_events", RunEvent.run_pk),
    ("run_objectives", RunObjective.run_pk),
    ("run_tags", RunTag.run_pk),
    ("run_metrics", RunMetric.run_pk),
    ("crash_reports", CrashReport.run_pk),
    ("run_attachments", RunAttachment.run_pk),
    ("history_series", HistorySeries.run_pk),
)


def selection(plan: Plan, older_than: dt.timedelta | None) -> tuple[ColumnElement[bool], ...]:
    """The plan's criteria, never an active run, and (optionally) created longer ago than
    ``older_than``."""
    where: list[ColumnElement[bool]] = [
        *plan.where,
        Run.status.not_in([s.value for s in ACTIVE_STATUSES]),
    ]
    if older_than is not None:
        where.append(Run.created_at < utcnow() - older_than)
    return tuple(where)


def next_batch(
    session: Session, where: Sequence[ColumnElement[bool]], after: int, limit: int
) -> list[tuple[int, str]]:
    """Up to ``limit`` selected runs (pk, run id) with a pk above ``after``, in pk order."""
    statement = (
        select(Run.id, Run.run_id).where(*where, Run.id > after).order_by(Run.id).limit(limit)
    )
    return [(pk, run_id) for pk, run_id in session.execute(statement)]


def _series(pks: Sequence[int]) -> ColumnElement[bool]:
    return HistoryChunk.series_id.in_(select(HistorySeries.id).where(HistorySeries.run_pk.in_(pks)))


def count_rows(session: Session, pks: Sequence[int]) -> dict[str, int]:
    """Rows of every table that belong to the runs ``pks``."""
    counts = {"runs": len(pks)}
    for table, column in _CHILDREN:
        counts[table] = int(
            session.scalar(select(func.count()).select_from(column.class_).where(column.in_(pks)))
            or 0
        )
    counts["history_chunks"] = int(
        session.scalar(select(func.count()).select_from(HistoryChunk).where(_series(pks))) or 0
    )
    return counts


def artifact_keys(session: Session, pks: Sequence[int]) -> list[str]:
    """The S3 keys of the runs' crash artefacts (error log, report, analysis), sorted."""
    statement = select(
        CrashReport.error_log_s3_key, CrashReport.crash_report_s3_key, CrashReport.analysis_s3_key
    ).where(CrashReport.run_pk.in_(pks))
    keys = {key for row in session.execute(statement) for key in row if key}
    return sorted(keys)


def delete_batch(session: Session, pks: Sequence[int]) -> None:
    """Delete the runs ``pks`` and everything that belongs to them, in this transaction."""
    session.execute(delete(HistoryChunk).where(_series(pks)))
    session.execute(delete(HistorySeries).where(HistorySeries.run_pk.in_(pks)))
    session.execute(delete(Run).where(Run.id.in_(pks)))
    method_deltas.fold(session)


def add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for table in TABLES:
        total[table] = total.get(table, 0) + counts.get(table, 0)

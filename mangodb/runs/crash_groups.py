"""Crash reports of the selected runs: grouped by error type and fingerprint, and the runs
that have none."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mangodb.db.models import CrashReport, Run
from mangodb.dto import CrashGroup
from mangodb.runs.planning import Plan


def crash_groups(session: Session, plan: Plan, *, sample: int) -> list[CrashGroup]:
    """Crash reports of the matching runs grouped by (error type, fingerprint): counts, first
    and last time, instance types, and the newest ``sample`` run ids of each group.
    Three statements whatever the number of groups."""
    when = func.coalesce(CrashReport.occurred_at, CrashReport.created_at)
    key = (CrashReport.error_type, CrashReport.fingerprint)
    groups = session.execute(
        select(
            *key,
            func.count(),
            func.count(func.distinct(Run.id)),
            func.min(when),
            func.max(when),
            func.max(CrashReport.id),
        )
        .join(Run, Run.id == CrashReport.run_pk)
        .where(*plan.where)
        .group_by(*key)
        .order_by(func.count().desc(), func.max(when).desc())
    ).all()
    # The newest reports of every group, ranked per group by a window function.
    rank = (
        func.row_number()
        .over(partition_by=key, order_by=(when.desc(), CrashReport.id.desc()))
        .label("rank")
    )
    ranked = (
        select(*key, Run.run_id, Run.instance_type, CrashReport.message, rank)
        .join(Run, Run.id == CrashReport.run_pk)
        .where(*plan.where)
        .subquery()
    )
    samples: dict[tuple[Any, Any], list[Any]] = {}
    for error_type, fp, run_id, instance_type, message, _ in session.execute(
        select(ranked).where(ranked.c.rank <= sample).order_by(ranked.c.rank)
    ):
        samples.setdefault((error_type, fp), []).append((run_id, instance_type, message))
    types = dict(
        ((error_type, fp), sorted({t for t in types if t}))
        for error_type, fp, types in _instance_types(session, plan)
    )
    result = []
    for error_type, fp, reports, runs, first, last, _ in groups:
        picked = samples.get((error_type, fp), [])
        result.append(
            CrashGroup(
                error_type=error_type,
                fingerprint=fp,
                reports=int(reports),
                runs=int(runs),
                first_at=first,
                last_at=last,
                instance_types=tuple(types.get((error_type, fp), ())),
                run_ids=tuple(dict.fromkeys(r for r, _, _ in picked)),
                message=next((m for _, _, m in picked if m), None),
            )
        )
    return result


def _instance_types(session: Session, plan: Plan) -> list[tuple[Any, Any, list[Any]]]:
    rows = session.execute(
        select(CrashReport.error_type, CrashReport.fingerprint, Run.instance_type)
        .join(Run, Run.id == CrashReport.run_pk)
        .where(*plan.where)
        .distinct()
    ).all()
    grouped: dict[tuple[Any, Any], list[Any]] = {}
    for error_type, fp, instance_type in rows:
        grouped.setdefault((error_type, fp), []).append(instance_type)
    return [(e, f, t) for (e, f), t in grouped.items()]


def without_crash_reports(session: Session, plan: Plan) -> list[str]:
    has_report = select(CrashReport.id).where(CrashReport.run_pk == Run.id).exists()
    statement = select(Run.run_id).where(*plan.where, ~has_report).order_by(Run.id)
    return list(session.scalars(statement))

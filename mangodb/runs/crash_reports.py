"""Crash reports and attachments of a run inside a unit of work. Both are idempotent:
attaching the same report (or link) again returns the stored one."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mangodb.crash import fingerprint as crash_fingerprint
from mangodb.db.models import CrashReport, RunAttachment
from mangodb.db.types import utcnow
from mangodb.dto import EXCERPT_LIMIT, AttachmentRead, CrashReportCreate, CrashReportRead
from mangodb.runs.lookup import run_pk, run_row


def attach_report(session: Session, run_id: str, spec: CrashReportCreate) -> CrashReportRead:
    """Store the report (its excerpt bounded, its fingerprint computed when not given) unless
    the run has it already; the first report with an error names the run's error summary."""
    excerpt = spec.excerpt[-EXCERPT_LIMIT:] if spec.excerpt else spec.excerpt
    fp = spec.fingerprint or (
        crash_fingerprint(spec.error_type, spec.message or excerpt)
        if (spec.error_type or spec.message or excerpt)
        else None
    )
    dedup = hashlib.sha256(
        json.dumps(
            [
                spec.error_log_s3_key,
                spec.crash_report_s3_key,
                spec.analysis_s3_key,
                spec.error_type,
                fp,
                spec.message,
            ],
        ).encode()
    ).hexdigest()[:32]
    run = run_row(session, run_id, lock=True)
    row = session.scalars(
        select(CrashReport).where(CrashReport.run_pk == run.id, CrashReport.dedup_key == dedup)
    ).one_or_none()
    if row is None:
        row = CrashReport(
            run_pk=run.id,
            dedup_key=dedup,
            created_at=utcnow(),
            **spec.model_dump(exclude={"excerpt", "fingerprint"}),
            excerpt=excerpt,
            fingerprint=fp,
        )
        session.add(row)
        if run.error_summary is None and (spec.error_type or spec.message):
            summary = ": ".join(p for p in (spec.error_type, spec.message) if p)
            run.error_summary = summary[:2000]
        session.flush()
    return CrashReportRead.model_validate(row, from_attributes=True)


def attach_link(
    session: Session,
    run_id: str,
    *,
    kind: str,
    uri: str,
    title: str | None,
    details: dict[str, Any] | None,
) -> AttachmentRead:
    """Link ``uri`` (an S3 key or any URI) to the run under ``kind`` unless it is linked."""
    pk = run_pk(session, run_id, lock=True)
    row = session.scalars(
        select(RunAttachment).where(
            RunAttachment.run_pk == pk, RunAttachment.kind == kind, RunAttachment.uri == uri
        )
    ).one_or_none()
    if row is None:
        row = RunAttachment(
            run_pk=pk, kind=kind, uri=uri, title=title, created_at=utcnow(), details=details
        )
        session.add(row)
        session.flush()
    return AttachmentRead.model_validate(row, from_attributes=True)

"""Crash reports and linked conversations of runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import Unpack

from mangodb import inputs
from mangodb.boundary.base import Boundary
from mangodb.dto import (
    AttachmentRead,
    CrashGroup,
    CrashReportCreate,
    CrashReportRead,
    json_document,
)
from mangodb.errors import (
    ValidationError,
)
from mangodb.runs import (
    crash_groups,
    crash_reports,
    planning,
)
from mangodb.runs.criteria import RunQuery


class AttachmentMethods(Boundary):
    def attach_crash_data(
        self, run_id: str, report: CrashReportCreate | None = None, /, **fields: Any
    ) -> CrashReportRead:
        """Attach a crash report (S3 keys, error type, bounded excerpt, fingerprint).
        Attaching the same report again returns the stored one."""
        run_id = inputs.run_id(run_id)
        spec = inputs.dto_or_fields(report, fields, CrashReportCreate, "report")
        return self._write(lambda session: crash_reports.attach_report(session, run_id, spec))

    def attach_conversation(
        self,
        run_id: str,
        uri: str | None = None,
        *,
        title: str | None = None,
        details: Mapping[str, Any] | None = None,
        s3_key: str | None = None,
        kind: str = "conversation",
    ) -> AttachmentRead:
        """Link a conversation export (an S3 key or any URI) to the run; idempotent."""
        run_id = inputs.run_id(run_id)
        uri, s3_key = inputs.optional_text(uri, "uri"), inputs.optional_text(s3_key, "s3_key")
        target = inputs.checked_text(uri or s3_key or "", "uri", 2048)
        title = (
            inputs.checked_text(title, "title", 512, empty_ok=True) if title is not None else None
        )
        kind = inputs.checked_text(kind, "kind", 64)
        try:
            doc = json_document(details) if details else None
        except ValueError as error:
            raise ValidationError(f"details: {error}") from error

        return self._write(
            lambda session: crash_reports.attach_link(
                session, run_id, kind=kind, uri=target, title=title, details=doc
            )
        )

    def runs_without_crash_data(self, **criteria: Unpack[RunQuery]) -> list[str]:
        """Run ids (crashed/failed/terminated unless ``status`` is given) with no crash report."""
        criteria.setdefault("status", ["crashed", "failed", "terminated"])
        planning.check_criteria(criteria)
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda session: crash_groups.without_crash_reports(session, plan))

    def crash_groups(self, *, sample: int = 20, **criteria: Unpack[RunQuery]) -> list[CrashGroup]:
        """Crash reports of the matching runs grouped by error type and fingerprint, most
        frequent first: counts, time span, instance types and the newest ``sample`` run ids."""
        sample = inputs.integer(sample, "sample", minimum=1)
        planning.check_criteria(criteria)
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda session: crash_groups.crash_groups(session, plan, sample=sample))

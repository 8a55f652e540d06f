"""EC2 reconciliation: active runs by instance, status changes in batches, observations in
the event log (used by mangodb.integrations.aws)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mangodb import inputs
from mangodb.boundary.base import Boundary
from mangodb.db.types import utcnow
from mangodb.dto import (
    InstanceRunRead,
    RunEventRead,
    StatusChange,
    StatusUpdate,
    json_document,
)
from mangodb.errors import (
    ValidationError,
)
from mangodb.runs import (
    lifecycle,
)


class FleetMethods(Boundary):
    def iter_active_instance_runs(
        self, *, batch_size: int = 1000
    ) -> Iterator[list[InstanceRunRead]]:
        """Active (launched/running) runs that have an instance id, in batches ordered by
        insertion; each batch is one short read, so a long sweep holds no transaction open."""
        inputs.integer(batch_size, "batch_size", minimum=1)
        after = 0
        while True:
            page = functools.partial(lifecycle.instance_runs, after=after, limit=batch_size)
            batch = self._read(page)
            if not batch:
                return
            after = batch[-1][0]
            yield [item for _, item in batch]
            if len(batch) < batch_size:
                return

    def transition_runs(
        self, updates: Sequence[StatusUpdate], *, batch_size: int = 200
    ) -> list[StatusChange]:
        """Apply many status changes in few transactions, each exactly as ``update_run_status``
        would (compare-and-set, lifecycle rules, one event each, refusals kept in the log).
        Returns one ``StatusChange`` per existing run, ``changed=False`` when refused or
        already there; unknown run ids are skipped. Rows are locked in run-id order, so
        concurrent callers cannot deadlock."""
        inputs.integer(batch_size, "batch_size", minimum=1)
        checked = inputs.instances(updates, StatusUpdate, "updates")
        ordered = sorted(checked, key=lambda u: u.run_id)
        results: list[StatusChange] = []
        for start in range(0, len(ordered), batch_size):
            chunk = ordered[start : start + batch_size]
            results.extend(
                self._write(
                    functools.partial(lifecycle.transition_many, actor=self._actor, chunk=chunk)
                )
            )
        return results

    def record_event(
        self,
        run_id: str,
        reason: str,
        *,
        details: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> RunEventRead:
        """Record an observation (e.g. a spot interruption warning) in the run's event log
        without changing its status: the event goes from the current status to itself."""
        run_id, source = inputs.run_id(run_id), inputs.optional_text(source, "source")
        if not inputs.optional_text(reason, "reason") or not reason.strip():
            raise ValidationError("record_event needs a reason")
        doc = json_document(details) if details else None
        now = utcnow()

        return self._write(
            functools.partial(
                lifecycle.record_event,
                actor=self._actor,
                run_id=run_id,
                reason=reason,
                source=source,
                details=doc,
                at=now,
            )
        )

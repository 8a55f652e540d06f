"""Writing runs: create, read one, change status and fields, heartbeats, reaping, tags,
deletion."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select

from mangodb import inputs
from mangodb.boundary.base import Boundary
from mangodb.db import models
from mangodb.db.models import Run
from mangodb.db.types import utcnow
from mangodb.dto import (
    MAX_ID,
    RunCreate,
    RunRead,
    StatusChange,
    json_document,
)
from mangodb.errors import (
    InvalidTransition,
    RunNotFound,
    ValidationError,
)
from mangodb.runs import (
    inserts,
    lifecycle,
    lookup,
    writes,
)
from mangodb.status import RunStatus


class RunMethods(Boundary):
    def insert_run(self, run: RunCreate | None = None, /, **fields: Any) -> RunRead:
        """Record a new run (status ``launched`` unless given). ``RunAlreadyExists`` if the
        run id is taken. Accepts a ``RunCreate`` or its fields as keywords."""
        create = inputs.dto_or_fields(run, fields, RunCreate, "run")

        return self._write(lambda session: writes.insert(session, create, self._actor))

    def insert_runs(self, runs: Iterable[RunCreate], *, batch_size: int = 1000) -> int:
        """Insert many runs in few transactions (the bulk path). Returns how many were
        inserted; ``RunAlreadyExists`` (nothing of that batch kept) if one id is taken."""
        inputs.integer(batch_size, "batch_size", minimum=1)
        count = 0
        batch: list[RunCreate] = []

        def flush(items: tuple[RunCreate, ...]) -> int:
            return self._write(
                lambda session: inserts.bulk_insert_runs(
                    session, items, source=self.source, host=self.host
                )
            )

        inputs.iterable(runs, "runs")
        for item in runs:  # streamed: a generator of runs is never held whole
            batch.append(inputs.instance(item, RunCreate, "runs item"))
            if len(batch) >= batch_size:
                count += flush(tuple(batch))
                batch.clear()
        if batch:
            count += flush(tuple(batch))
        return count

    def get_run(self, run_id: str) -> RunRead:
        """The run with everything attached; ``RunNotFound`` if there is none."""
        run_id = inputs.run_id(run_id)
        return self._read(lambda session: lookup.full_read(session, run_id), single_statement=True)

    def run_exists(self, run_id: str) -> bool:
        run_id = inputs.run_id(run_id)
        return self._read(
            lambda s: s.scalar(select(Run.id).where(Run.run_id == run_id)) is not None
        )

    def update_run_status(
        self,
        run_id: str,
        status: str | RunStatus | None = None,
        *,
        reason: str | None = None,
        source: str | None = None,
        force: bool = False,
        expected_status: str | RunStatus | Sequence[str | RunStatus] | None = None,
        details: Mapping[str, Any] | None = None,
        final_metrics: Mapping[str, Any] | None = None,
        final_metrics_json: Any = None,
        history_json: Any = None,
        config: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RunRead:
        """Move a run to ``status`` and/or update its fields, in one transaction.

        Repeating the current status is a no-op (fields are still updated). A transition the
        lifecycle forbids raises ``InvalidTransition``; the attempt is kept in the event log and
        any data passed with it (final metrics, history, fields) is still saved. ``force=True``
        allows leaving a terminal status. ``expected_status`` makes the change conditional:
        if the run is not in one of those statuses, nothing changes and ``InvalidTransition``
        is raised. The legacy keywords ``final_metrics_json``, ``history_json``, ``ended_at``
        and ``total_training_steps`` work as before."""
        run_id = inputs.run_id(run_id)
        target = inputs.status(status) if status is not None else None
        reason = inputs.optional_text(reason, "reason")
        source = inputs.optional_text(source, "source")
        inputs.flag(force, "force")
        unknown = set(fields) - inputs.UPDATABLE
        if unknown:
            raise ValidationError(f"unknown run field(s): {', '.join(sorted(unknown))}")
        for name in ("started_at", "ended_at", "heartbeat_at"):
            inputs.aware(fields.get(name), name)
        metrics = final_metrics if final_metrics is not None else final_metrics_json
        metrics = inputs.load_json_arg(metrics, "final_metrics_json")
        if metrics is not None:
            metrics = json_document(metrics)
            too_long = [k for k in metrics if len(k) > models.KEY_LENGTH]
            if too_long:
                raise ValidationError(
                    f"final metric keys longer than {models.KEY_LENGTH} characters: "
                    f"{too_long[0][:40]!r}..."
                )
        if details is not None:
            details = json_document(details)
        legacy_history = inputs.load_json_arg(history_json, "history_json")
        new_config = json_document(config) if config is not None else None
        expected = inputs.expected(expected_status)
        if expected is not None and target is None:
            raise ValidationError("expected_status needs a status to move to")
        validated = inputs.validate_fields(fields)

        work = functools.partial(
            writes.update,
            actor=self._actor,
            run_id=run_id,
            fields=validated,
            config=new_config,
            metrics=metrics,
            history=legacy_history,
            target=target,
            reason=reason,
            source=source,
            force=force,
            expected=expected,
            details=details,
        )
        result, refused = self._write(work)
        if refused is not None:
            raise refused
        return result

    def heartbeat(self, run_id: str, *, at: dt.datetime | None = None) -> None:
        """Record that the run is alive (one UPDATE)."""
        run_id = inputs.run_id(run_id)
        when = inputs.aware(at, "at") or utcnow()

        self._write(lambda session: lifecycle.heartbeat(session, run_id, when))

    def reap_stale_runs(
        self,
        grace: dt.timedelta,
        *,
        now: dt.datetime | None = None,
        source: str = "reaper",
        dry_run: bool = False,
    ) -> list[StatusChange]:
        """Mark ``running`` runs whose last heartbeat (or start) is older than ``grace`` as
        ``crashed``, with the evidence in the event. Safe to run concurrently."""
        grace = inputs.instance(grace, dt.timedelta, "grace")
        source, dry_run = inputs.text(source, "source"), inputs.flag(dry_run, "dry_run")
        moment = inputs.aware(now, "now") or utcnow()
        try:
            cutoff = moment - grace
        except OverflowError:
            raise ValidationError(f"grace {grace} reaches before year 1") from None
        stale = self._read(lambda session: lifecycle.stale_runs(session, cutoff))
        changes: list[StatusChange] = []
        for run_id, heartbeat_at, started_at in stale:
            last = heartbeat_at or started_at
            change = StatusChange(
                run_id=run_id,
                from_status=RunStatus.RUNNING,
                to_status=RunStatus.CRASHED,
                changed=not dry_run,
            )
            if not dry_run:
                details = {
                    "evidence": "heartbeat lost",
                    "last_heartbeat": last.isoformat() if last else None,
                    "grace_seconds": grace.total_seconds(),
                    "checked_at": moment.isoformat(),
                }
                try:
                    if not self._reap(run_id, cutoff, source=source, details=details):
                        continue  # a heartbeat arrived since the scan
                except (InvalidTransition, RunNotFound):
                    continue  # another writer decided first
            changes.append(change)
        return changes

    def _reap(
        self, run_id: str, cutoff: dt.datetime, *, source: str, details: Mapping[str, Any]
    ) -> bool:
        """Crash one stale run, re-checking its heartbeat under the write lock."""
        reaped, refused = self._write(
            functools.partial(
                lifecycle.reap,
                actor=self._actor,
                run_id=run_id,
                cutoff=cutoff,
                source=source,
                details=details,
            )
        )
        if refused is not None:
            raise refused
        return reaped

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything attached to it."""
        run_id = inputs.run_id(run_id)

        self._write(lambda session: writes.delete(session, run_id))

    def set_tags(self, run_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> RunRead:
        """Add and remove tags of a run; returns the run."""
        run_id = inputs.run_id(run_id)
        add_list = [inputs.checked_text(t, "tag", MAX_ID) for t in inputs.texts(add, "add")]
        remove_set = {t.strip() for t in inputs.texts(remove, "remove")}

        return self._write(lambda session: writes.set_tags(session, run_id, add_list, remove_set))

    def set_final_metrics(self, run_id: str, summary: Mapping[str, Any]) -> RunRead:
        """Replace the run's final metrics (numeric values filterable in SQL, rest a document)."""
        return self.update_run_status(run_id, final_metrics=summary)

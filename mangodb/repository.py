"""``RunRepository``: the one object callers hold. Every public method is one unit of work
(its own transaction, committed or rolled back), takes and returns DTOs, and raises only
``MangoDBError`` subclasses."""

from __future__ import annotations

import datetime as dt
import functools
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from typing_extensions import Unpack

from mangodb import frames, history, inputs
from mangodb.codecs.floats import encode_float
from mangodb.db import models
from mangodb.db.engine import make_engine
from mangodb.db.models import Run
from mangodb.db.schema import ensure_schema
from mangodb.db.translate import translate
from mangodb.db.types import utcnow
from mangodb.db.units import UnitsOfWork
from mangodb.dto import (
    MAX_ID,
    AttachmentRead,
    CrashReportCreate,
    CrashReportRead,
    InstanceRunRead,
    MethodComparison,
    ObjectiveCreate,
    ObjectiveRead,
    RunCreate,
    RunEventRead,
    RunPage,
    RunRead,
    StatusChange,
    StatusUpdate,
    json_document,
)
from mangodb.errors import (
    InvalidTransition,
    MangoDBError,
    RunNotFound,
    ValidationError,
)
from mangodb.history import (
    AppendResult,
    HistoryWriter,
    Series,
    SeriesSummary,
    to_columns,
)
from mangodb.language import parse
from mangodb.runs import (
    analysis,
    crash_reports,
    inserts,
    lifecycle,
    lookup,
    objectives,
    planning,
    writes,
)
from mangodb.runs.criteria import RunQuery
from mangodb.runs.filters import Filter
from mangodb.settings import resolve_url
from mangodb.status import ACTIVE_STATUSES, RunStatus

T = TypeVar("T")


class RunRepository:
    """Runs, objectives, crashes, attachments and history in one SQL database.

    >>> repo = RunRepository.connect("sqlite:///runs.sqlite3")    # doctest: +SKIP
    >>> repo.insert_run(RunCreate(run_id="r1", gradient_method="mgda"))  # doctest: +SKIP
    """

    def __init__(self, engine: Engine, *, source: str | None = None) -> None:
        self.engine = engine
        units = UnitsOfWork(engine)
        self._read, self._write = units.read, units.write
        self.source = source
        self.host = socket.gethostname()

    # -- lifecycle of the repository ------------------------------------------------------
    @classmethod
    def connect(
        cls,
        url: str | URL | None = None,
        *,
        auto_upgrade: bool = True,
        source: str | None = None,
        **engine_options: Any,
    ) -> RunRepository:
        """Open the database at ``url`` (else ``MANGODB_URL``, else ``TRAINING_DB_PATH``, else
        ``./mangodb.sqlite3``). An empty database is migrated to head; one behind this package
        raises ``SchemaOutOfDate``, one ahead raises ``SchemaTooNew``."""
        resolved = resolve_url(url)
        engine = make_engine(resolved, **engine_options)
        try:
            ensure_schema(engine, auto_upgrade_empty=auto_upgrade)
        except SQLAlchemyError as error:
            engine.dispose()
            raise translate(error, resolved) from error
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, source=source)

    @property
    def _actor(self) -> lifecycle.Actor:
        """Who the events of this repository's writes name (source and host may be set)."""
        return lifecycle.Actor(self.source, self.host)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RunRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------
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

    # -- queries ----------------------------------------------------------------------------
    def query_runs(
        self, *, limit: int | None = None, **criteria: Unpack[RunQuery]
    ) -> list[RunRead]:
        """Runs matching every criterion, newest first by default.

        Criteria: ``status`` (one or many), ``gradient_method`` (one or many), ``name_prefix``,
        ``tags`` (all of), ``created_after/created_before``, ``ended_after/ended_before``,
        ``instance_id``, ``wandb_run_id``, ``config`` ({"data.batch_size": 96} or
        {"lr": ("<", 0.01)}), ``metrics`` ({"val/loss": ("<", 0.5)}), ``objectives``,
        ``where`` (the query language), ``filters`` (typed ``Filter`` objects), ``order_by``
        ("-created_at", "run_id", "metric.val/loss", ...), ``offset``."""
        return list(self.query_runs_page(limit=limit, **criteria).items)

    def query_runs_page(
        self, *, limit: int | None = 50, cursor: str | None = None, **criteria: Unpack[RunQuery]
    ) -> RunPage:
        """One page of ``query_runs``; ``next_cursor`` continues it (stable under inserts)."""
        inputs.optional_integer(limit, "limit", minimum=0)
        inputs.optional_text(cursor, "cursor")
        planning.check_criteria(criteria)
        # Built on every call, so a relative time ("created > 7d") means 7 days before now;
        # values, cut-offs and cursors are bound parameters, so SQLAlchemy's compiled cache
        # serves every page and every repeat of a question of the same shape.
        plan = planning.plan(criteria, dialect=self.dialect)
        page = planning.page_statement(plan, limit=limit, cursor=cursor, dialect=self.dialect)

        def work(session: Session) -> RunPage:
            runs, next_cursor = planning.fetch_page(session, page)
            return RunPage(items=tuple(runs), next_cursor=next_cursor)

        return self._read(work, single_statement=True)

    def count_runs(self, **criteria: Unpack[RunQuery]) -> int:
        """How many runs match (same criteria as ``query_runs``)."""
        planning.check_criteria(criteria)
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda session: planning.count(session, plan), single_statement=True)

    def count_by_status(self, **criteria: Unpack[RunQuery]) -> dict[str, int]:
        """Run counts per status for the matching runs."""
        planning.check_criteria(criteria)
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda session: planning.count_by(session, plan, Run.status))

    def find_runs_by_instance(
        self, instance_id: str, *, active_only: bool = False
    ) -> list[RunRead]:
        """Runs launched on an EC2 instance (newest first)."""
        criteria: dict[str, Any] = {"instance_id": inputs.text(instance_id, "instance_id")}
        if inputs.flag(active_only, "active_only"):
            criteria["status"] = [s.value for s in ACTIVE_STATUSES]
        return self.query_runs(**criteria)

    def filter(self, where: str) -> Filter:
        """Parse a query-language string into a typed filter."""
        return parse(inputs.text(where, "where"))

    # -- objectives -------------------------------------------------------------------------
    def insert_objective(
        self, run_id: str, objective: ObjectiveCreate | None = None, /, **fields: Any
    ) -> ObjectiveRead:
        """Add an objective to a run, or update its definition if the name exists."""
        run_id = inputs.run_id(run_id)
        spec = inputs.dto_or_fields(objective, fields, ObjectiveCreate, "objective")

        return self._write(lambda session: objectives.upsert(session, run_id, spec))

    def update_objective_metric(
        self,
        run_id: str,
        name: str,
        value: float,
        *,
        step: int | None = None,
        at: dt.datetime | None = None,
    ) -> ObjectiveRead:
        """Set an objective's current value (NaN and ±Inf are kept exactly)."""
        run_id, name = inputs.run_id(run_id), inputs.text(name, "objective name")
        value = inputs.number(value, "objective value")
        inputs.optional_integer(step, "step", minimum=0)
        stored, kind = encode_float(value)
        when = inputs.aware(at, "at") or utcnow()

        return self._write(
            lambda session: objectives.set_value(
                session, run_id, name, stored, kind, step=step, at=when
            )
        )

    def query_runs_by_objectives(
        self, bounds: Mapping[str, Any] | None = None, /, **criteria: Unpack[RunQuery]
    ) -> list[RunRead]:
        """Runs whose objective values satisfy every bound, e.g.
        ``{"hop": ("<", 0.5), "seg": (">", 0.7)}`` or ``{"hop": {"max": 0.5}}``."""
        merged = inputs.bounds(criteria.pop("objectives", None), "objectives")
        merged.update(inputs.bounds(bounds, "bounds"))
        criteria["objectives"] = merged
        return self.query_runs(**criteria)

    def compare_gradient_methods(
        self,
        objective: str,
        *,
        statuses: Sequence[str | RunStatus] | None = (RunStatus.COMPLETED,),
        **criteria: Unpack[RunQuery],
    ) -> list[MethodComparison]:
        """Per gradient method: n, mean, std, min, max, median and the best run on
        ``objective`` (over completed runs unless ``statuses`` says otherwise)."""
        objective = inputs.text(objective, "objective")
        if statuses is not None:
            criteria["status"] = [
                inputs.status(s, "statuses").value
                for s in inputs.instances(statuses, object, "statuses")
            ]
        planning.check_criteria(criteria)
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda session: analysis.compare_methods(session, plan, objective))

    # -- crashes and attachments ------------------------------------------------------------
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
        return self._read(lambda session: planning.without_crash_reports(session, plan))

    # -- history ----------------------------------------------------------------------------
    def append_history(self, run_id: str, data: Any) -> AppendResult:
        """Append metric history: columns ``{key: (steps, values)}``, rows
        ``[{"_step": 3, "loss": 0.1}, ...]`` or legacy ``{key: [values...]}``."""
        run_id = inputs.run_id(run_id)
        columns = to_columns(data)

        # ``append`` finds the run in its first statement.
        return self._write(lambda session: history.append(session, run_id, columns))

    def get_history(
        self,
        run_id: str,
        keys: Sequence[str] | None = None,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
        max_points: int | None = None,
    ) -> dict[str, Series]:
        """History of one run: key -> ``Series`` (``.steps``, ``.values``), optionally
        restricted to keys and a step range, downsampled to ``max_points`` per key."""
        run_id = inputs.run_id(run_id)
        keys = inputs.some_texts(keys, "keys")
        min_step = inputs.optional_integer(min_step, "min_step")
        max_step = inputs.optional_integer(max_step, "max_step")
        max_points = inputs.optional_integer(max_points, "max_points")

        steps = {"min_step": min_step, "max_step": max_step, "max_points": max_points}
        return self._read(
            lambda s: history.read(s, lookup.run_pk(s, run_id), keys=keys, **steps)
        )

    def get_history_many(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
        max_points: int | None = None,
    ) -> dict[str, Series]:
        """One key across many runs in one query: run_id -> ``Series``."""
        run_ids, key = inputs.texts(run_ids, "run_ids"), inputs.text(key, "key")
        min_step = inputs.optional_integer(min_step, "min_step")
        max_step = inputs.optional_integer(max_step, "max_step")
        max_points = inputs.optional_integer(max_points, "max_points")

        steps = {"min_step": min_step, "max_step": max_step, "max_points": max_points}
        return self._read(lambda session: history.read_many(session, list(run_ids), key, **steps))

    def history_keys(self, run_id: str) -> dict[str, int]:
        """The logged keys of a run with their point counts."""
        run_id = inputs.run_id(run_id)

        return self._read(lambda s: history.key_counts(s, lookup.run_pk(s, run_id)))

    def history_summary(self, run_id: str) -> dict[str, SeriesSummary]:
        """The stored summary of each logged key of a run, keys sorted: points, first and last
        step, last value, minimum, maximum and NaN count, exact (kept by every append; never
        taken from a downsample). ``RunNotFound`` when the run does not exist."""
        run_id = inputs.run_id(run_id)
        return self._read(lambda s: history.summaries(s, lookup.run_pk(s, run_id)))

    def history_writer(
        self,
        run_id: str,
        *,
        flush_every: int = 1000,
        flush_seconds: float = 5.0,
        max_pending: int = 100_000,
    ) -> HistoryWriter:
        """A buffered writer for training loops (a context manager). ``log()`` refuses a bad
        row at once and never raises for a failed flush: the rows stay buffered (at most
        ``max_pending``) and are retried every ``flush_seconds``; ``close()`` raises
        ``HistoryNotStored`` naming the rows it could not write."""
        run_id = inputs.run_id(run_id)
        inputs.integer(flush_every, "flush_every", minimum=1)
        inputs.number(flush_seconds, "flush_seconds")
        inputs.integer(max_pending, "max_pending", minimum=1)
        return HistoryWriter(
            self,
            run_id,
            flush_every=flush_every,
            flush_seconds=flush_seconds,
            max_pending=max_pending,
        )

    # -- EC2 reconciliation (additive, used by mangodb.integrations.aws) --------------------
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

    # -- DataFrames (pandas extra; see mangodb/frames.py) -----------------------------------
    def runs_frame(
        self,
        where: str | None = None,
        /,
        columns: Sequence[str] | None = None,
        **criteria: Unpack[RunQuery],
    ) -> Any:
        """A pandas DataFrame, one row per matching run: fields, ``config.*`` (flattened),
        ``metric.*`` and ``objective.*`` columns, or just ``columns``. ``where`` may also be
        given by keyword, like every criterion."""
        if where is not None:
            criteria["where"] = inputs.text(where, "where")
        columns = None if columns is None else inputs.texts(columns, "columns")
        planning.check_criteria(criteria)
        return frames.runs_frame(self, columns, **criteria)

    def history_frame(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str] | None = None,
        *,
        max_points: int | None = None,
    ) -> Any:
        """Long-format history as a DataFrame: ``run_id, key, step, value``."""
        run_ids = inputs.texts(run_ids, "run_ids")
        keys = inputs.some_texts(keys, "keys")
        max_points = inputs.optional_integer(max_points, "max_points")
        return frames.history_frame(self, run_ids, keys, max_points=max_points)


__all__ = ["MangoDBError", "RunRepository"]

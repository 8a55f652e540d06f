"""Metric history: appends, reads, summaries, curves per method, the buffered writer."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from mangodb import history, inputs
from mangodb.boundary.base import Boundary
from mangodb.dto import (
    MethodCurves,
)
from mangodb.history import (
    AppendResult,
    HistoryWriter,
    Series,
    SeriesSummary,
    to_columns,
)
from mangodb.runs import (
    curves,
    lookup,
    planning,
)
from mangodb.runs.criteria import RunQuery


class HistoryMethods(Boundary):
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
        return self._read(lambda s: history.read(s, run_id, keys=keys, **steps))

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

    def history_by_method(
        self,
        key: str,
        where: str | None = None,
        baseline: str | None = None,
        max_points: int = 1000,
        *,
        include_archived: bool = False,
    ) -> MethodCurves:
        """``key`` per gradient method over the runs matching ``where`` (the query language;
        archived runs only with ``include_archived``): mean, std, min, max and runs counted at
        each step, at most ``max_points`` steps of equal-width buckets that keep every extreme
        (rule: ``mangodb.history.bands``)."""
        key, baseline = inputs.text(key, "key"), inputs.optional_text(baseline, "baseline")
        criteria: RunQuery = {} if where is None else {"where": inputs.text(where, "where")}
        if inputs.flag(include_archived, "include_archived"):
            criteria["include_archived"] = True
        plan = planning.plan(criteria, dialect=self.dialect)
        limit = inputs.integer(max_points, "max_points")
        read = functools.partial(curves.by_method, baseline=baseline, max_points=limit)
        return self._read(lambda session: read(session, plan, key))

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

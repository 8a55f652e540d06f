"""Objectives of runs and the comparison of gradient methods on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from typing_extensions import Unpack

from mangodb import inputs
from mangodb.boundary.queries import QueryMethods
from mangodb.codecs.floats import encode_float
from mangodb.db.types import utcnow
from mangodb.dto import (
    MethodComparison,
    MethodReport,
    ObjectiveCreate,
    ObjectiveRead,
    RunRead,
)
from mangodb.runs import (
    analysis,
    method_report,
    objectives,
    planning,
)
from mangodb.runs.criteria import RunQuery
from mangodb.status import RunStatus


class ObjectiveMethods(QueryMethods):
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

    def method_report(
        self,
        baseline: str,
        objectives: Sequence[str] | None = None,
        where: str | None = None,
        *,
        include_archived: bool = False,
    ) -> MethodReport:
        """Gradient methods against ``baseline`` on several objectives (default: every one the
        runs have): per method mean, std, n, 95% intervals and Welch p-values (with scipy), Δm%
        (Maninis et al. 2019), mean rank and the Pareto mark. ``where`` selects the runs
        (the query language; archived runs only with ``include_archived``); see
        docs/analysis.md."""
        baseline = inputs.text(baseline, "baseline")
        names = None if objectives is None else inputs.texts(objectives, "objectives")
        criteria: RunQuery = {} if where is None else {"where": inputs.text(where, "where")}
        if inputs.flag(include_archived, "include_archived"):
            criteria["include_archived"] = True
        plan = planning.plan(criteria, dialect=self.dialect)
        return self._read(lambda s: method_report.method_report(s, plan, baseline, names))

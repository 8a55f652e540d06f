"""Asking which runs: queries, pages, counts, the query language."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import Unpack

from mangodb import inputs
from mangodb.boundary.base import Boundary
from mangodb.db.models import Run
from mangodb.dto import (
    RunPage,
    RunRead,
)
from mangodb.language import parse
from mangodb.runs import (
    planning,
)
from mangodb.runs.criteria import RunQuery
from mangodb.runs.filters import Filter
from mangodb.status import ACTIVE_STATUSES


class QueryMethods(Boundary):
    def query_runs(
        self, *, limit: int | None = None, **criteria: Unpack[RunQuery]
    ) -> list[RunRead]:
        """Runs matching every criterion, newest first by default.

        Criteria: ``status`` (one or many), ``gradient_method`` (one or many), ``name_prefix``,
        ``tags`` (all of), ``created_after/created_before``, ``ended_after/ended_before``,
        ``instance_id``, ``wandb_run_id``, ``config`` ({"data.batch_size": 96} or
        {"lr": ("<", 0.01)}), ``metrics`` ({"val/loss": ("<", 0.5)}), ``objectives``,
        ``where`` (the query language), ``filters`` (typed ``Filter`` objects), ``order_by``
        ("-created_at", "run_id", "metric.val/loss", "objective.miou", "config.optim.lr",
        ...), ``offset``, ``include_archived`` (archived runs are left out unless true or a
        filter names ``archived_at``)."""
        return list(self.query_runs_page(limit=limit, **criteria).items)

    def query_runs_page(
        self, *, limit: int | None = 50, cursor: str | None = None, **criteria: Unpack[RunQuery]
    ) -> RunPage:
        """One page of ``query_runs``; ``next_cursor`` continues it (stable under inserts)."""
        inputs.optional_integer(limit, "limit", minimum=0)
        inputs.optional_text(cursor, "cursor")
        planning.check_criteria(criteria)
        # Kept per question (runs/plan_cache.py): relative times ("created > 7d") and cursors
        # are bound parameters, evaluated or bound when the page runs.
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
        """Runs launched on an EC2 instance (newest first), archived ones too: the
        integrations look runs up by identity here, never as a listing."""
        criteria: dict[str, Any] = {
            "instance_id": inputs.text(instance_id, "instance_id"),
            "include_archived": True,
        }
        if inputs.flag(active_only, "active_only"):
            criteria["status"] = [s.value for s in ACTIVE_STATUSES]
        return self.query_runs(**criteria)

    def filter(self, where: str) -> Filter:
        """Parse a query-language string into a typed filter."""
        return parse(inputs.text(where, "where"))

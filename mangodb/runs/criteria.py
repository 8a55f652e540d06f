"""``RunQuery``: the criteria ``query_runs`` and its siblings take, as a type mypy checks.

Every name is optional; values are checked again at run time (``planning.check_criteria``),
since callers need not run mypy. A list or tuple of values matches any of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypedDict

from mangodb.runs.filters import Filter
from mangodb.status import RunStatus

Texts = str | list[str] | tuple[str, ...]
Bounds = Mapping[Any, Any]  # key (or config path tuple) -> value, list, (op, value) or {min, max}


class RunQuery(TypedDict, total=False):
    """What selects runs: ``repo.query_runs(status="crashed", config={"data.batch_size": 96})``."""

    status: RunStatus | str | list[RunStatus | str] | tuple[RunStatus | str, ...]
    gradient_method: Texts
    model_name: Texts
    dataset: Texts
    batch_size: int | list[int] | tuple[int, ...]
    instance_id: Texts
    wandb_run_id: Texts
    region: Texts
    git_commit: Texts
    tags: Texts
    name_prefix: str
    created_after: dt.datetime
    created_before: dt.datetime
    ended_after: dt.datetime
    ended_before: dt.datetime
    config: Bounds
    metrics: Bounds
    objectives: Bounds
    where: str | Filter | None
    filters: Filter | list[Filter] | tuple[Filter, ...]
    order_by: str
    offset: int
    # Archived runs (``archive_runs``) are left out unless this is true or a filter names
    # ``archived_at`` (``archived_at > 30d``: the question is about them).
    include_archived: bool


CRITERIA: frozenset[str] = frozenset(RunQuery.__optional_keys__)

"""pandas DataFrames of runs and history (the pandas extra; see mangodb/frames.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import Unpack

from mangodb import frames, inputs
from mangodb.boundary.history import HistoryMethods
from mangodb.boundary.queries import QueryMethods
from mangodb.runs import (
    planning,
)
from mangodb.runs.criteria import RunQuery


class FrameMethods(QueryMethods, HistoryMethods):
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

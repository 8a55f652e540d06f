"""Bounds on final metrics (``MetricFilter``) and objective values (``ObjectiveFilter``), with
their NaN tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    exists,
    not_,
    select,
)

from mangodb import inputs
from mangodb.codecs.floats import NAN
from mangodb.db.models import Run, RunMetric, RunObjective
from mangodb.errors import ValidationError
from mangodb.runs.filters.operators import Filter, Op, as_float, check_op, compare, operand


def _nan_test(
    match: Select[Any], value: Any, kind: Any, op: str, operand: Any
) -> ColumnElement[bool] | None:
    """NaN tests of a metric or objective, or None for other comparisons. NaN is stored as a
    NULL value with kind NAN (mangodb.codecs.floats), so it is told apart from a value never set."""
    is_nan_value = isinstance(operand, float) and math.isnan(operand)
    if op == "is nan" or (op == "=" and is_nan_value):
        return exists(match.where(kind == NAN))
    if op == "is not nan":
        return not_(exists(match.where(kind == NAN)))
    if op == "!=" and is_nan_value:  # a value that is a number (never set excluded)
        return exists(match.where(value.is_not(None)))
    return None


@dataclass(frozen=True)
class MetricFilter(Filter):
    """A bound on a numeric final metric, e.g. ``MetricFilter("val/loss", "<", 0.5)``.
    NaN never satisfies a bound; ``is null`` matches runs without the metric or with NaN;
    ``is nan`` (or ``= nan``) exactly the runs whose metric is NaN, ``is not nan`` all others,
    ``!= nan`` those with a value that is not NaN (missing values excluded)."""

    key: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        inputs.text(self.key, "a metric key")
        check_op(self.op)
        _numeric_operand(self, f"metric.{self.key}")

    def compile(self, dialect: str) -> ColumnElement[bool]:
        match = select(RunMetric.run_pk).where(
            RunMetric.run_pk == Run.id, RunMetric.key == self.key
        )
        nan = _nan_test(match, RunMetric.value, RunMetric.kind, self.op, self.value)
        if nan is not None:
            return nan
        if self.op == "is null":
            return not_(exists(match.where(RunMetric.value.is_not(None))))
        if self.op == "is not null":
            return exists(match.where(RunMetric.value.is_not(None)))
        return exists(match.where(compare(RunMetric.value, self.op, self.value)))


def _numeric_operand(bound: MetricFilter | ObjectiveFilter, what: str) -> None:
    """Metric and objective values are doubles: compare them with numbers, as doubles."""
    if bound.op == "like":
        raise ValidationError(f"'like' needs a text field, not {what}")
    value = operand(bound.op, bound.value, lambda item: as_float(item, what))
    object.__setattr__(bound, "value", value)


@dataclass(frozen=True)
class ObjectiveFilter(Filter):
    """A bound on an objective's value, e.g. ``ObjectiveFilter("hop", "<", 0.5)``; NaN as in
    :class:`MetricFilter`."""

    name: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        inputs.text(self.name, "an objective name")
        check_op(self.op)
        _numeric_operand(self, f"objective.{self.name}")

    def compile(self, dialect: str) -> ColumnElement[bool]:
        match = select(RunObjective.run_pk).where(
            RunObjective.run_pk == Run.id, RunObjective.name == self.name
        )
        nan = _nan_test(match, RunObjective.value, RunObjective.value_kind, self.op, self.value)
        if nan is not None:
            return nan
        if self.op == "is null":
            return not_(exists(match.where(RunObjective.value.is_not(None))))
        if self.op == "is not null":
            return exists(match.where(RunObjective.value.is_not(None)))
        return exists(match.where(compare(RunObjective.value, self.op, self.value)))

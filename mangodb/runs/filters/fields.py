"""Filters on the promoted run columns (``FieldFilter``), on run id prefixes and on tags."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    select,
)

from mangodb import inputs
from mangodb.db.models import Run, RunTag
from mangodb.errors import ValidationError
from mangodb.runs.filters.operators import (
    ORDERING,
    Ago,
    Filter,
    Op,
    as_float,
    check_op,
    compare,
    is_big,
    is_int,
    like_prefix,
    operand,
)
from mangodb.status import parse_status

# Run columns a filter may name, by their public name.
FIELDS: dict[str, Any] = {
    "run_id": Run.run_id,
    "status": Run.status,
    "created": Run.created_at,
    "created_at": Run.created_at,
    "updated_at": Run.updated_at,
    "started": Run.started_at,
    "started_at": Run.started_at,
    "ended": Run.ended_at,
    "ended_at": Run.ended_at,
    "heartbeat_at": Run.heartbeat_at,
    "archived": Run.archived_at,
    "archived_at": Run.archived_at,
    "gradient_method": Run.gradient_method,
    "method": Run.gradient_method,
    "model": Run.model_name,
    "model_name": Run.model_name,
    "dataset": Run.dataset,
    "batch_size": Run.batch_size,
    "learning_rate": Run.learning_rate,
    "lr": Run.learning_rate,
    "seed": Run.seed,
    "instance": Run.instance_id,
    "instance_id": Run.instance_id,
    "instance_type": Run.instance_type,
    "region": Run.region,
    "spot": Run.is_spot,
    "is_spot": Run.is_spot,
    "host": Run.host,
    "git_commit": Run.git_commit,
    "wandb_entity": Run.wandb_entity,
    "wandb_project": Run.wandb_project,
    "wandb_run_id": Run.wandb_run_id,
    "wandb": Run.wandb_run_id,
    "exit_code": Run.exit_code,
    "total_training_steps": Run.total_training_steps,
    "steps": Run.total_training_steps,
    "error": Run.error_summary,
    "error_summary": Run.error_summary,
}


@dataclass(frozen=True)
class FieldFilter(Filter):
    """A comparison on a promoted run column, e.g. ``FieldFilter("status", "in", [...])``."""

    field: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or self.field not in FIELDS:
            raise ValidationError(
                f"unknown field {self.field!r}; known fields: {', '.join(sorted(FIELDS))}"
            )
        check_op(self.op)
        kind = _field_kind(self.field)
        if kind is bool and self.op in ORDERING:
            raise ValidationError(f"{self.field} is true or false: compare it with = or !=")
        if self.op == "like" and kind is not str:
            raise ValidationError(f"'like' needs a text field, not {self.field!r}")
        value = operand(self.op, self.value, lambda item: _field_value(self.field, kind, item))
        object.__setattr__(self, "value", value)

    def compile(self, dialect: str) -> ColumnElement[bool]:
        value = self.value
        if _field_kind(self.field) is int and self.op not in ("is null", "is not null", "like"):
            beyond = _beyond_int64(FIELDS[self.field], self.op, value)
            if beyond is not None:
                return beyond
        if self.field == "status" and value is not None:

            if self.op == "in":
                value = [parse_status(v).value for v in value]
            elif self.op not in ("like",):
                value = parse_status(value).value
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValidationError(f"naive datetime {value.isoformat()} refused: give it a timezone")
        column = FIELDS[self.field]
        if isinstance(value, Ago):
            value = value.bind(column.type)
        elif self.op == "in" and any(isinstance(item, Ago) for item in value):
            value = [item.bind(column.type) if isinstance(item, Ago) else item for item in value]
        return compare(column, self.op, value)


def _field_kind(field: str) -> type:
    """The Python type of a run column's values (str, int, float, bool or datetime)."""
    column_type = FIELDS[field].type
    kind: type = getattr(column_type, "impl", column_type).python_type
    return kind


def _field_value(field: str, kind: type, value: Any) -> Any:
    if kind is str:
        if field == "status" and isinstance(value, enum.Enum):
            value = value.value
        return inputs.text(value, field)
    if kind is bool:
        if not isinstance(value, bool):
            got = type(value).__name__
            raise ValidationError(f"{field} compares with true or false, got {got}")
        return value
    if kind is int:
        if not is_int(value):
            raise ValidationError(f"{field} compares with an integer, got {type(value).__name__}")
        return value
    if kind is float:
        return as_float(value, field)
    if not isinstance(value, (dt.datetime, Ago)):
        raise ValidationError(f"{field} compares with a datetime, got {type(value).__name__}")
    return value


def _beyond_int64(column: Any, op: str, value: Any) -> ColumnElement[bool] | None:
    """A comparison of a 64-bit integer column with integers beyond 64 bits, answered
    exactly without binding them (no stored value equals them; all are below a larger one);
    None when ``value`` holds none."""
    # "Never" is an empty IN on the column, not a constant: the statement still names the
    # runs table (a bare FALSE left analysis's join without its table, a cartesian product).
    if op == "in":
        if not any(is_big(item) for item in value):
            return None
        return column.in_([item for item in value if not is_big(item)])  # type: ignore[no-any-return]
    if not is_big(value):
        return None
    present: ColumnElement[bool] = column.is_not(None)
    never: ColumnElement[bool] = column.in_([])
    if op == "=":
        return never
    if op == "!=":
        return present
    below = op in ("<", "<=")  # every stored value is below a large positive bound
    return present if below == (value > 0) else never


@dataclass(frozen=True)
class PrefixFilter(Filter):
    """Runs whose ``run_id`` starts with ``prefix``, case-sensitively and literally on both
    dialects (``%``, ``_`` and ``\\`` match themselves)."""

    prefix: str

    def __post_init__(self) -> None:
        inputs.text(self.prefix, "name_prefix")

    def compile(self, dialect: str) -> ColumnElement[bool]:
        matched = Run.run_id.like(like_prefix(self.prefix), escape="\\")
        if dialect == "sqlite":  # SQLite's LIKE ignores the case of ASCII letters
            exact = func.substr(Run.run_id, 1, len(self.prefix)) == self.prefix
            return and_(matched, exact)
        return matched


@dataclass(frozen=True)
class TagFilter(Filter):
    """Runs carrying ``tag``."""

    tag: str

    def __post_init__(self) -> None:
        inputs.text(self.tag, "a tag")

    def compile(self, dialect: str) -> ColumnElement[bool]:
        return exists(select(RunTag.run_pk).where(RunTag.run_pk == Run.id, RunTag.tag == self.tag))

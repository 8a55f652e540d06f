"""The filter base: ``Filter`` and its ``And``/``Or``/``Not``, the operators (``Op``), relative
moments (``Ago``) and the comparison rules every filter shares."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    false,
    not_,
    or_,
    true,
)

from mangodb import inputs
from mangodb.errors import ValidationError

Op = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "like", "is null", "is not null",
    "is nan", "is not nan",  # metrics and objectives only
]  # fmt: skip
OPS: tuple[Op, ...] = get_args(Op)
NAN_OPS = ("is nan", "is not nan")

@dataclass(frozen=True)
class Ago:
    """A moment relative to when a statement runs: ``now - delta`` (the query language's
    ``created > 7d``). It compiles to a bound parameter whose value is computed at each
    execution, so a statement built once and run again later still means "7 days before now"."""

    delta: dt.timedelta

    def moment(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) - self.delta

    def bind(self, type_: Any) -> BindParameter[Any]:
        return bindparam(None, callable_=self.moment, type_=type_, unique=True)


class Filter:
    """Base of all filters: ``compile(dialect_name)`` gives a boolean SQL expression."""

    def compile(self, dialect: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def __and__(self, other: Filter) -> Filter:
        return And((self, other))

    def __or__(self, other: Filter) -> Filter:
        return Or((self, other))

    def __invert__(self) -> Filter:
        return Not(self)


def check_op(op: str) -> Op:
    """``op`` as an ``Op``; a ``ValidationError`` naming the operators when it is none."""
    for known in OPS:
        if op == known:
            return known
    raise ValidationError(f"unknown operator {op!r}; expected one of {', '.join(OPS)}")


ORDERING = ("<", "<=", ">", ">=")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_big(value: Any) -> bool:
    """An integer a 64-bit column or SQLite parameter cannot hold."""
    return is_int(value) and not _INT64_MIN <= value <= _INT64_MAX


def as_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} compares with a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{what}: {value} is beyond the range of a double") from None


def operand(op: str, value: Any, check: Any) -> Any:
    """``value`` checked (and normalised) by ``check``; for ``in``, each item of a list."""
    if op in ("is null", "is not null", *NAN_OPS):
        return None
    if op == "in":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ValidationError(f"'in' takes a list of values, got {type(value).__name__}")
        return tuple(check(item) for item in value)
    if value is None:
        raise ValidationError(f"null cannot be compared with {op!r}; use 'is null'")
    if op == "like":
        return inputs.text(value, "a 'like' pattern")
    return check(value)


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "is null":
        return column.is_(None)  # type: ignore[no-any-return]
    if op == "is not null":
        return column.is_not(None)  # type: ignore[no-any-return]
    if op == "in":
        values = list(value)
        return column.in_(values) if values else false()
    if op == "like":
        return column.like(value, escape="\\")  # type: ignore[no-any-return]
    if op in NAN_OPS:
        raise ValidationError(f"{op!r} applies to metrics and objectives only")
    if isinstance(value, float) and math.isnan(value):
        raise ValidationError(
            "NaN is not ordered: use '= nan', '!= nan' or 'is [not] nan' on metrics and objectives"
        )
    operations = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return operations[op](value)  # type: ignore[no-any-return]


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally (``%``, ``_`` and ``\\`` escaped)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _filters(items: Any, what: str) -> tuple[Filter, ...]:
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, Filter) for i in items):
        raise ValidationError(f"{what} takes a tuple of filters")
    return tuple(items)


@dataclass(frozen=True)
class And(Filter):
    items: tuple[Filter, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _filters(self.items, "And"))

    def compile(self, dialect: str) -> ColumnElement[bool]:
        if not self.items:
            return true()
        return and_(*(item.compile(dialect) for item in self.items))


@dataclass(frozen=True)
class Or(Filter):
    items: tuple[Filter, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", _filters(self.items, "Or"))

    def compile(self, dialect: str) -> ColumnElement[bool]:
        if not self.items:
            return false()
        return or_(*(item.compile(dialect) for item in self.items))


@dataclass(frozen=True)
class Not(Filter):
    item: Filter

    def __post_init__(self) -> None:
        _filters((self.item,), "Not")

    def compile(self, dialect: str) -> ColumnElement[bool]:
        return not_(self.item.compile(dialect))

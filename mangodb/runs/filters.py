"""Typed run filters that compile to SQL expressions on SQLite and PostgreSQL.

Values are always bound parameters and JSON paths are passed as data, never spliced into SQL
text. The query language (``mangodb.language``) parses into these same objects.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import (
    ColumnElement,
    Double,
    Float,
    Select,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from mangodb import inputs
from mangodb.codecs.floats import NAN
from mangodb.db.models import Run, RunMetric, RunObjective, RunTag
from mangodb.errors import ValidationError
from mangodb.status import parse_status

Op = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "like", "is null", "is not null",
    "is nan", "is not nan",  # metrics and objectives only
]  # fmt: skip
OPS: tuple[Op, ...] = get_args(Op)
NAN_OPS = ("is nan", "is not nan")

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


_ORDERING = ("<", "<=", ">", ">=")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_big(value: Any) -> bool:
    """An integer a 64-bit column or SQLite parameter cannot hold."""
    return _is_int(value) and not _INT64_MIN <= value <= _INT64_MAX


def _as_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} compares with a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{what}: {value} is beyond the range of a double") from None


def _operand(op: str, value: Any, check: Any) -> Any:
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


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
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


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally (``%``, ``_`` and ``\\`` escaped)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


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
        if kind is bool and self.op in _ORDERING:
            raise ValidationError(f"{self.field} is true or false: compare it with = or !=")
        if self.op == "like" and kind is not str:
            raise ValidationError(f"'like' needs a text field, not {self.field!r}")
        value = _operand(self.op, self.value, lambda item: _field_value(self.field, kind, item))
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
        return _compare(FIELDS[self.field], self.op, value)


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
        if not _is_int(value):
            raise ValidationError(f"{field} compares with an integer, got {type(value).__name__}")
        return value
    if kind is float:
        return _as_float(value, field)
    if not isinstance(value, dt.datetime):
        raise ValidationError(f"{field} compares with a datetime, got {type(value).__name__}")
    return value


def _beyond_int64(column: Any, op: str, value: Any) -> ColumnElement[bool] | None:
    """A comparison of a 64-bit integer column with integers beyond 64 bits, answered
    exactly without binding them (no stored value equals them; all are below a larger one);
    None when ``value`` holds none."""
    # "Never" is an empty IN on the column, not a constant: the statement still names the
    # runs table (a bare FALSE left analysis's join without its table, a cartesian product).
    if op == "in":
        if not any(_is_big(item) for item in value):
            return None
        return column.in_([item for item in value if not _is_big(item)])  # type: ignore[no-any-return]
    if not _is_big(value):
        return None
    present: ColumnElement[bool] = column.is_not(None)
    never: ColumnElement[bool] = column.in_([])
    if op == "=":
        return never
    if op == "!=":
        return present
    below = op in ("<", "<=")  # every stored value is below a large positive bound
    return present if below == (value > 0) else never


def _validate_path(path: Sequence[str]) -> tuple[str, ...]:
    if isinstance(path, (str, bytes)) or not isinstance(path, (list, tuple)):
        raise ValidationError(f"a config path is a tuple of keys, got {type(path).__name__}")
    parts = tuple(path)
    if not parts or any(not isinstance(p, str) or p == "" for p in parts):
        raise ValidationError(f"invalid config path {'.'.join(map(str, parts))!r}")
    for part in parts:
        inputs.text(part, "config path")
    return parts


def split_path(dotted: str) -> tuple[str, ...]:
    return _validate_path(dotted.split("."))


def pg_lookup(path: tuple[str, ...]) -> tuple[Any, Any]:
    """(jsonb value, its text) at ``path`` on PostgreSQL: ``#>`` / ``#>>`` with the path bound
    as a real ``text[]`` parameter (SQLAlchemy's own JSON path type formats an array literal
    by hand, which breaks on keys holding commas, quotes or braces)."""
    doc = type_coerce(Run.config, JSONB)
    bound = literal(list(path), ARRAY(Text))
    return doc.op("#>", return_type=JSONB)(bound), doc.op("#>>", return_type=Text)(bound)


def sqlite_lookup(path: tuple[str, ...]) -> tuple[Any, Any]:
    """(JSON type name, SQL scalar) of the config value at ``path`` on SQLite.

    SQLite matches a quoted path label against the key as written in the JSON text (escapes
    included) and cannot express a label containing ``"``; such paths walk ``json_each``
    instead, which compares the decoded keys. Both forms bind the path as data."""
    if not any('"' in part for part in path):
        labels = (json.dumps(part, ensure_ascii=False)[1:-1] for part in path)
        text = "$" + "".join(f'."{label}"' for label in labels)
        return func.json_type(Run.config, text), func.json_extract(Run.config, text)
    source: Any = Run.config
    levels = []
    for depth, part in enumerate(path):
        level = func.json_each(source).table_valued("key", "value", "type", "atom")
        level = level.alias(f"config_level_{depth}")
        levels.append((level, part))
        source = level.c.value
    last = levels[-1][0]
    joined: Any = levels[0][0]
    for level, _ in levels[1:]:
        joined = joined.join(level, true())  # each level reads the previous one's value
    matches = and_(*(level.c.key == part for level, part in levels))
    kind = select(last.c.type).select_from(joined).where(matches).scalar_subquery()
    raw = select(last.c.atom).select_from(joined).where(matches).scalar_subquery()
    return kind, raw


@dataclass(frozen=True)
class ConfigFilter(Filter):
    """A comparison on a config value by dotted path,
    e.g. ``ConfigFilter(("data", "batch_size"), "=", 96)``.

    Numbers compare numerically, strings as text, booleans as booleans; a run whose value has
    another JSON type (or is missing) does not match. ``is null`` matches missing or null."""

    path: tuple[str, ...]
    op: Op
    value: Any = None
    # False: on PostgreSQL, equality is still a containment test but on an expression the
    # GIN index on config cannot answer (see ``queries.plan``: when an ordered B-tree index
    # already narrows the candidates, the planner, which has no statistics for configs over
    # 1 KB, would otherwise intersect it with the GIN index and recheck every candidate).
    gin: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _validate_path(self.path))
        check_op(self.op)
        if self.op in _ORDERING and isinstance(self.value, bool):
            raise ValidationError(
                f"config.{'.'.join(self.path)}: true and false compare only with = or !="
            )
        object.__setattr__(self, "value", _operand(self.op, self.value, _config_value))

    def _typed(self, dialect: str, sample: Any) -> Any:
        """The JSON value as a SQL scalar of ``sample``'s type, NULL where the type differs."""
        if dialect == "postgresql":
            raw, text = pg_lookup(self.path)
            kind = func.jsonb_typeof(raw)
            if isinstance(sample, bool):
                return case((kind == "boolean", text == "true"))
            if isinstance(sample, (int, float)):
                return case((kind == "number", cast(text, Double)))
            return case((kind == "string", text))
        # SQLite: json_type() names the type; json_extract() gives the SQL scalar.
        sqlite_kind, sqlite_raw = sqlite_lookup(self.path)
        if isinstance(sample, bool):
            return case((sqlite_kind.in_(["true", "false"]), sqlite_kind == "true"))
        if isinstance(sample, (int, float)):
            return case((sqlite_kind.in_(["integer", "real"]), cast(sqlite_raw, Float)))
        return case((sqlite_kind == "text", sqlite_raw))

    def compile(self, dialect: str) -> ColumnElement[bool]:
        if self.op in ("is null", "is not null"):
            if dialect == "postgresql":
                raw, _ = pg_lookup(self.path)
                missing = or_(raw.is_(None), func.jsonb_typeof(raw) == "null")
            else:
                kind, _ = sqlite_lookup(self.path)
                missing = or_(kind.is_(None), kind == "null")
            return missing if self.op == "is null" else not_(missing)
        if self.op == "in":
            values = list(self.value)
            if not values:
                return false()
            return or_(
                *(ConfigFilter(self.path, "=", v, gin=self.gin).compile(dialect) for v in values)
            )
        sample = self.value
        if sample is None:
            raise ValidationError("use 'is null' to compare a config value with null")
        if _is_big(sample) and not (dialect == "postgresql" and self.op == "="):
            return self._compile_big(dialect, sample)  # PostgreSQL's "=" is exact already
        if dialect == "postgresql" and self.op == "=" and not isinstance(sample, float):
            # Containment is answered from the GIN index on config.
            doc: Any = sample
            for part in reversed(self.path):
                doc = {part: doc}
            if self.gin:
                return type_coerce(Run.config, JSONB).contains(doc)
            # The same test one object at a time: ``->`` yields NULL unless the value is an
            # object holding the key (as containment requires); COALESCE makes that a miss,
            # and, being no operator clause, is estimated at 50 % (not 1 %) by the planner.
            inner: Any = type_coerce(Run.config, JSONB)
            for part in self.path[:-1]:
                inner = inner.op("->", return_type=JSONB)(literal(part, Text))
                doc = doc[part]
            return func.coalesce(inner.contains(doc), false())
        typed = self._typed(dialect, sample)
        expression = _compare(typed, self.op, sample)
        if self.op == "!=":
            expression = and_(typed.is_not(None), expression)
        return expression


    def _compile_big(self, dialect: str, sample: int) -> ColumnElement[bool]:
        """An integer beyond 64 bits: ordering compares as doubles (as for every number);
        ``=`` and ``!=`` compare exactly, as PostgreSQL's jsonb does (SQLite: the integer's
        JSON text, which SQLite's JSON functions would otherwise read as an inexact REAL)."""
        if self.op in _ORDERING:
            as_double = _as_float(sample, f"config.{'.'.join(self.path)}")
            return ConfigFilter(self.path, self.op, as_double, gin=self.gin).compile(dialect)
        if dialect == "postgresql":
            equal = ConfigFilter(self.path, "=", sample, gin=self.gin).compile(dialect)
            number = func.jsonb_typeof(pg_lookup(self.path)[0]) == "number"
        else:
            if any('"' in part for part in self.path):
                raise ValidationError(
                    "on SQLite, an integer beyond 64 bits compares only at a config path "
                    'without \'"\''
                )
            kind, _ = sqlite_lookup(self.path)
            labels = (json.dumps(part, ensure_ascii=False)[1:-1] for part in self.path)
            json_path = "$" + "".join(f'."{label}"' for label in labels)
            as_text = Run.config.op("->", return_type=Text)(literal(json_path, Text))
            number = kind == "integer"
            equal = and_(number, as_text == str(sample))
        return equal if self.op == "=" else and_(number, not_(equal))


def _config_value(value: Any) -> Any:
    if isinstance(value, str):
        return inputs.text(value, "a config value")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ValidationError(
        f"a config value compares with text, a number, true or false, not a {type(value).__name__}"
    )


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
        return exists(match.where(_compare(RunMetric.value, self.op, self.value)))


def _numeric_operand(bound: MetricFilter | ObjectiveFilter, what: str) -> None:
    """Metric and objective values are doubles: compare them with numbers, as doubles."""
    if bound.op == "like":
        raise ValidationError(f"'like' needs a text field, not {what}")
    value = _operand(bound.op, bound.value, lambda item: _as_float(item, what))
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
        return exists(match.where(_compare(RunObjective.value, self.op, self.value)))


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

"""Filters on config values by dotted path (``ConfigFilter``) and the JSON path lookups
behind them on each dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Float,
    Text,
    and_,
    case,
    cast,
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
from mangodb.db.models import Run
from mangodb.errors import ValidationError
from mangodb.runs.filters.operators import (
    ORDERING,
    Filter,
    Op,
    as_float,
    check_op,
    compare,
    is_big,
    operand,
)


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
    # GIN index on config cannot answer (see ``planning.plan``: when an ordered B-tree index
    # already narrows the candidates, the planner, which has no statistics for configs over
    # 1 KB, would otherwise intersect it with the GIN index and recheck every candidate).
    gin: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _validate_path(self.path))
        check_op(self.op)
        if self.op in ORDERING and isinstance(self.value, bool):
            raise ValidationError(
                f"config.{'.'.join(self.path)}: true and false compare only with = or !="
            )
        object.__setattr__(self, "value", operand(self.op, self.value, _config_value))

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
        if is_big(sample) and not (dialect == "postgresql" and self.op == "="):
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
        expression = compare(typed, self.op, sample)
        if self.op == "!=":
            expression = and_(typed.is_not(None), expression)
        return expression


    def _compile_big(self, dialect: str, sample: int) -> ColumnElement[bool]:
        """An integer beyond 64 bits: ordering compares as doubles (as for every number);
        ``=`` and ``!=`` compare exactly, as PostgreSQL's jsonb does (SQLite: the integer's
        JSON text, which SQLite's JSON functions would otherwise read as an inexact REAL)."""
        if self.op in ORDERING:
            as_double = as_float(sample, f"config.{'.'.join(self.path)}")
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

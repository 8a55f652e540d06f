"""What a comparison means: field kinds, the type each field accepts, literal conversion
(durations become ``now - duration``, evaluated when the query runs unless a ``now`` is
given; a bare date compared with ``=`` becomes its whole day),
and the errors, each pointing at the token at fault."""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Callable
from typing import Any

from mangodb.errors import QuerySyntaxError
from mangodb.language.lexer import DATETIME, NUMBER, Token
from mangodb.runs.filters import (
    Ago,
    And,
    ConfigFilter,
    FieldFilter,
    Filter,
    MetricFilter,
    Not,
    ObjectiveFilter,
    Or,
    TagFilter,
    check_op,
)
from mangodb.status import RunStatus

PREFIXES = ("config", "metric", "objective")
TAG_FIELDS = ("tag", "tags")
TIME_FIELDS = frozenset(
    {"created", "created_at", "updated_at", "started", "started_at", "ended", "ended_at"}
    | {"heartbeat_at", "archived", "archived_at"}
)
INT_FIELDS = frozenset({"batch_size", "seed", "exit_code", "total_training_steps", "steps"})
FLOAT_FIELDS = frozenset({"learning_rate", "lr"})
BOOL_FIELDS = frozenset({"spot", "is_spot"})
STATUSES = tuple(s.value for s in RunStatus)
ORDERING = frozenset({"<", "<=", ">", ">="})  # no order among true and false


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


class Comparisons:
    """Turns one parsed comparison into a typed filter, or raises at the right column."""

    def __init__(
        self, now: dt.datetime | None, error: Callable[[str, Token], QuerySyntaxError]
    ) -> None:
        self.now = now
        self.error = error

    def build(self, kind: str, name: Any, op: str, operand: Any, start: Token) -> Filter:
        """The filter of one comparison; ``operand`` is ``(value, token)``, a list of those
        (``in``) or None (``is null``); ``start`` is the field's token, for errors."""
        if kind == "tag":
            return self.tags(op, operand, start)
        if op in ("is null", "is not null"):
            return make(kind, name, op, None)
        if op in ("is nan", "is not nan"):
            if kind not in ("metric", "objective"):
                raise self.error(f"'{op}' applies to metric.<key> and objective.<name>", start)
            return make(kind, name, op, None)
        if op == "in":
            for item, token in operand:
                if item is None:
                    raise self.error("null cannot be in a list; use 'is null'", token)
            values = tuple(self.typed(kind, name, "in", v, t) for v, t in operand)
            for item, (_, token) in zip(values, operand, strict=True):
                if isinstance(item, float) and math.isnan(item):
                    raise self.error("nan cannot be in a list; use 'is nan'", token)
            return make(kind, name, "in", values)
        value, token = operand
        typed = self.typed(kind, name, op, value, token)
        if isinstance(typed, float) and math.isnan(typed):
            if op not in ("=", "!="):
                message = f"NaN is not ordered: use = nan, != nan or is nan, not {op}"
                raise self.error(message, token)
            # = nan is 'is nan'; != nan keeps the runs whose value is a number, which is what
            # 'is not null' means on metrics and objectives (NaN and never set have no number).
            return make(kind, name, "is nan" if op == "=" else "is not null", None)
        if op in ("=", "!=") and token.kind == DATETIME and len(token.text) == 10:
            # A bare date means the whole day: created = 2026-11-01 is [midnight, next midnight).
            day = And(
                (
                    FieldFilter(name, ">=", typed),
                    FieldFilter(name, "<", typed + dt.timedelta(days=1)),
                )
            )
            return day if op == "=" else Not(day)
        return make(kind, name, op, typed)

    def tags(self, op: str, operand: Any, start: Token) -> Filter:
        if op == "in":
            return Or(tuple(TagFilter(self.text_value(v, t)) for v, t in operand))
        if op in ("=", "!="):
            value, token = operand
            tag = TagFilter(self.text_value(value, token))
            return tag if op == "=" else Not(tag)
        raise self.error("tag supports only =, != and in", start)

    def text_value(self, value: Any, token: Token) -> str:
        if isinstance(value, (Bare, str)):
            return str(value)
        if token.kind == NUMBER:
            return token.text
        raise self.error(f"expected text, found {token.kind} {token.text!r}", token)

    def typed(self, kind: str, name: Any, op: str, value: Any, token: Token) -> Any:
        if isinstance(value, (dt.timedelta, dt.datetime)):
            if kind != "field" or name not in TIME_FIELDS:
                what = "duration" if isinstance(value, dt.timedelta) else "date"
                raise self.error(
                    f"a {what} compares only with time fields ({', '.join(sorted(TIME_FIELDS))});"
                    " quote it to compare text",
                    token,
                )
            if isinstance(value, dt.datetime):
                return value
            return Ago(value) if self.now is None else self.now - value
        if op == "like":
            if kind in ("metric", "objective") or (kind == "field" and is_typed(name)):
                raise self.error(f"'like' needs a text field, not {name!r}", token)
            return str(value)
        if kind in ("metric", "objective"):
            return self.number(value, token, f"{kind}.{name}")
        if kind == "config":
            if isinstance(value, bool) and op in ORDERING:
                raise self.error(f"true and false compare only with = or !=, not {op!r}", token)
            return str(value) if isinstance(value, Bare) else value
        if name == "status":
            return self.status(value, token)
        if name in TIME_FIELDS:
            raise self.error(f"{name} compares with a date or a duration such as 7d", token)
        if name in INT_FIELDS or name in FLOAT_FIELDS:
            return self.number(value, token, name)
        if name in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise self.error(f"{name} compares with true or false", token)
            if op in ORDERING:
                raise self.error(f"{name} is true or false: compare it with = or !=", token)
            return value
        return self.text_value(value, token)

    def number(self, value: Any, token: Token, what: str) -> Any:
        if isinstance(value, Bare) and value.lower() == "nan":
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"{what} compares with a number, found {token.text!r}", token)
        return value

    def status(self, value: Any, token: Token) -> str:
        text = str(value).lower() if isinstance(value, (str, Bare)) else token.text
        if text not in STATUSES:
            shown = str(value) if isinstance(value, (str, Bare)) else token.text
            raise self.error(f"unknown status {shown!r}{suggest(text, list(STATUSES))}", token)
        return text


class Bare(str):
    """An unquoted word used as a value (``status = crashed``)."""


def is_typed(name: str) -> bool:
    return name in TIME_FIELDS | INT_FIELDS | FLOAT_FIELDS | BOOL_FIELDS


def make(kind: str, name: Any, text_op: str, value: Any) -> Filter:
    op = check_op(text_op)
    if kind == "config":
        return ConfigFilter(name, op, value)
    if kind == "metric":
        return MetricFilter(name, op, value)
    if kind == "objective":
        return ObjectiveFilter(name, op, value)
    return FieldFilter(name, op, value)

"""Recursive-descent parser: query text -> the typed filters of :mod:`mangodb.filters`.

Grammar (keywords are case-insensitive)::

    query      := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field ( OP value | ["not"] "in" "(" value ("," value)* ")"
                        | ["not"] "like" STRING | "is" ["not"] "null" )
    field      := NAME | ("config" | "metric" | "objective") ("." segment)+ | "tag"
    segment    := WORD | STRING
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable
from typing import Any

from mangodb.errors import QuerySyntaxError
from mangodb.filters import (
    FIELDS,
    And,
    ConfigFilter,
    FieldFilter,
    Filter,
    MetricFilter,
    Not,
    ObjectiveFilter,
    Or,
    TagFilter,
)
from mangodb.query.lexer import (
    COMMA,
    DATETIME,
    DOT,
    DURATION,
    EOF,
    LPAREN,
    NUMBER,
    OP,
    RPAREN,
    STRING,
    WORD,
    Token,
    tokenize,
)
from mangodb.status import RunStatus

MAX_DEPTH = 100
PREFIXES = ("config", "metric", "objective")
TAG_FIELDS = ("tag", "tags")
TIME_FIELDS = frozenset(
    {"created", "created_at", "updated_at", "started", "started_at", "ended", "ended_at"}
    | {"heartbeat_at"}
)
INT_FIELDS = frozenset({"batch_size", "seed", "exit_code", "total_training_steps", "steps"})
FLOAT_FIELDS = frozenset({"learning_rate", "lr"})
BOOL_FIELDS = frozenset({"spot", "is_spot"})
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "is", "null", "true", "false"})
STATUSES = tuple(s.value for s in RunStatus)


def parse(text: str, *, now: dt.datetime | None = None) -> Filter:
    """Parse a query such as ``status = crashed and created > 7d`` into a ``Filter``.

    Durations (``7d``) compared with a time field mean ``now - duration``; ``now`` defaults
    to the current UTC time. Raises ``QuerySyntaxError`` pointing at the offending column."""
    if not isinstance(text, str):
        raise TypeError(f"query must be text, got {type(text).__name__}")
    return _Parser(text, now or dt.datetime.now(dt.timezone.utc)).query()


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


class _Parser:
    def __init__(self, text: str, now: dt.datetime) -> None:
        self.text = text
        self.now = now
        self.tokens = tokenize(text)
        self.position = 0
        self.depth = 0

    # -- token helpers ------------------------------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != EOF:
            self.position += 1
        return token

    def error(self, message: str, token: Token | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.text, (token or self.current).column)

    def unexpected(self, expected: str) -> QuerySyntaxError:
        token = self.current
        found = "end of query" if token.kind == EOF else repr(token.text)
        return self.error(f"expected {expected}, found {found}")

    def keyword(self, *words: str) -> bool:
        if self.current.is_keyword(*words):
            self.advance()
            return True
        return False

    def expect(self, kind: str, expected: str) -> Token:
        if self.current.kind != kind:
            raise self.unexpected(expected)
        return self.advance()

    # -- boolean structure --------------------------------------------------------------------
    def query(self) -> Filter:
        if self.current.kind == EOF:
            raise self.error("empty query")
        result = self.or_expr()
        if self.current.kind != EOF:
            raise self.unexpected("'and', 'or' or the end of the query")
        return result

    def _chain(self, word: str, operand: Callable[[], Filter], node: type[And | Or]) -> Filter:
        items = [operand()]
        while self.keyword(word):
            items.append(operand())
        return items[0] if len(items) == 1 else node(tuple(items))

    def or_expr(self) -> Filter:
        return self._chain("or", self.and_expr, Or)

    def and_expr(self) -> Filter:
        return self._chain("and", self.not_expr, And)

    def not_expr(self) -> Filter:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nested deeper than {MAX_DEPTH} levels")
        try:
            if self.keyword("not"):
                return Not(self.not_expr())
            if self.current.kind == LPAREN:
                self.advance()
                inner = self.or_expr()
                self.expect(RPAREN, "')'")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    # -- comparisons --------------------------------------------------------------------------
    def comparison(self) -> Filter:
        start = self.current
        if start.kind != WORD or start.is_keyword(*KEYWORDS):
            raise self.unexpected("a field name (status, method, config.<path>, metric.<key>…)")
        kind, name = self.field()
        negate = False
        if self.keyword("is"):
            op = "is not null" if self.keyword("not") else "is null"
            if not self.keyword("null"):
                raise self.unexpected("'null'")
            return self.build(kind, name, op, None, start)
        if self.keyword("not"):
            negate = True
            if not self.current.is_keyword("in", "like"):
                raise self.unexpected("'in' or 'like' after 'not'")
        if self.current.is_keyword("in"):
            self.advance()
            self.expect(LPAREN, "'(' to open the list of values")
            values: list[tuple[Any, Token]] = [self.value()]
            while self.current.kind == COMMA:
                self.advance()
                values.append(self.value())
            self.expect(RPAREN, "',' or ')'")
            result = self.build(kind, name, "in", values, start)
        elif self.current.is_keyword("like"):
            self.advance()
            token = self.expect(STRING, "a quoted pattern after 'like'")
            result = self.build(kind, name, "like", (token.value, token), start)
        elif self.current.kind == OP:
            op = self.advance().value
            value, token = self.value()
            if value is None and op in ("=", "!="):
                return self.build(
                    kind, name, "is null" if op == "=" else "is not null", None, start
                )
            if value is None:
                raise self.error(f"null cannot be compared with {op!r}; use 'is null'", token)
            result = self.build(kind, name, op, (value, token), start)
        else:
            raise self.unexpected("an operator (= != < <= > >= in like is)")
        return Not(result) if negate else result

    def field(self) -> tuple[str, Any]:
        token = self.advance()
        name = str(token.value).lower()
        if name in PREFIXES:
            if self.current.kind != DOT:
                raise self.unexpected(f"'.' after {name!r} (e.g. {name}.<key>)")
            segments: list[str] = []
            while self.current.kind == DOT:
                self.advance()
                segment = self.current
                if segment.kind not in (WORD, STRING) or segment.value == "":
                    raise self.unexpected(f"a {name} key after '.'")
                segments.append(str(self.advance().value))
            if name == "config":
                return name, tuple(segments)
            return name, ".".join(segments)
        if name in TAG_FIELDS:
            return "tag", None
        if name not in FIELDS:
            choices = [*FIELDS, *PREFIXES, "tag"]
            raise self.error(f"unknown field {token.text!r}{_suggest(name, choices)}", token)
        if self.current.kind == DOT:
            raise self.error(f"field {name!r} has no sub-keys", self.current)
        return "field", name

    def value(self) -> tuple[Any, Token]:
        token = self.current
        if token.kind in (STRING, NUMBER, DURATION, DATETIME):
            return self.advance().value, token
        if token.kind == WORD:
            self.advance()
            word = str(token.value).lower()
            if word in ("true", "false"):
                return word == "true", token
            if word == "null":
                return None, token
            if word in KEYWORDS:
                raise self.error(f"expected a value, found keyword {token.text!r}", token)
            if self.current.kind == DOT:
                raise self.error("a value containing '.' must be quoted", token)
            return _Bare(token.value), token
        raise self.unexpected("a value")

    # -- typing of values per field ---------------------------------------------------------
    def build(self, kind: str, name: Any, op: str, operand: Any, start: Token) -> Filter:
        """The filter of one comparison; ``operand`` is ``(value, token)``, a list of those
        (``in``) or None (``is null``); ``start`` is the field's token, for errors."""
        if kind == "tag":
            return self.tag_filter(op, operand, start)
        if op in ("is null", "is not null"):
            return _make(kind, name, op, None)
        if op == "in":
            for item, token in operand:
                if item is None:
                    raise self.error("null cannot be in a list; use 'is null'", token)
            values = tuple(self.typed(kind, name, "in", v, t) for v, t in operand)
            return _make(kind, name, "in", values)
        value, token = operand
        typed = self.typed(kind, name, op, value, token)
        if op in ("=", "!=") and token.kind == DATETIME and len(token.text) == 10:
            # A bare date means the whole day: created = 2026-11-01 is [midnight, next midnight).
            day = And(
                (
                    FieldFilter(name, ">=", typed),
                    FieldFilter(name, "<", typed + dt.timedelta(days=1)),
                )
            )
            return day if op == "=" else Not(day)
        return _make(kind, name, op, typed)

    def tag_filter(self, op: str, operand: Any, start: Token) -> Filter:
        if op == "in":
            return Or(tuple(TagFilter(self.text_value(v, t)) for v, t in operand))
        if op in ("=", "!="):
            value, token = operand
            tag = TagFilter(self.text_value(value, token))
            return tag if op == "=" else Not(tag)
        raise self.error("tag supports only =, != and in", start)

    def text_value(self, value: Any, token: Token) -> str:
        if isinstance(value, (_Bare, str)):
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
            return self.now - value if isinstance(value, dt.timedelta) else value
        if op == "like":
            if kind in ("metric", "objective") or (kind == "field" and _is_typed(name)):
                raise self.error(f"'like' needs a text field, not {name!r}", token)
            return str(value)
        if kind in ("metric", "objective"):
            return self.number(value, token, f"{kind}.{name}")
        if kind == "config":
            return str(value) if isinstance(value, _Bare) else value
        if name == "status":
            return self.status(value, token)
        if name in TIME_FIELDS:
            raise self.error(f"{name} compares with a date or a duration such as 7d", token)
        if name in INT_FIELDS or name in FLOAT_FIELDS:
            return self.number(value, token, name)
        if name in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise self.error(f"{name} compares with true or false", token)
            return value
        return self.text_value(value, token)

    def number(self, value: Any, token: Token, what: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"{what} compares with a number, found {token.text!r}", token)
        return value

    def status(self, value: Any, token: Token) -> str:
        text = str(value).lower() if isinstance(value, (str, _Bare)) else token.text
        if text not in STATUSES:
            shown = str(value) if isinstance(value, (str, _Bare)) else token.text
            raise self.error(f"unknown status {shown!r}{_suggest(text, list(STATUSES))}", token)
        return text


class _Bare(str):
    """An unquoted word used as a value (``status = crashed``)."""


def _is_typed(name: str) -> bool:
    return name in TIME_FIELDS | INT_FIELDS | FLOAT_FIELDS | BOOL_FIELDS


def _make(kind: str, name: Any, op: str, value: Any) -> Filter:
    if kind == "config":
        return ConfigFilter(name, op, value)
    if kind == "metric":
        return MetricFilter(name, op, value)
    if kind == "objective":
        return ObjectiveFilter(name, op, value)
    return FieldFilter(name, op, value)

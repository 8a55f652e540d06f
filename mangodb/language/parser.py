"""Recursive-descent parser: query text -> the typed filters of :mod:`mangodb.runs.filters`.

Grammar (keywords are case-insensitive)::

    query      := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := field ( OP value | ["not"] "in" "(" value ("," value)* ")"
                        | ["not"] "like" STRING | "is" ["not"] ("null" | "nan") )
    field      := NAME | ("config" | "metric" | "objective") ("." segment)+ | "tag"
    segment    := WORD | STRING
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from mangodb.errors import QuerySyntaxError
from mangodb.language.lexer import (
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
from mangodb.language.semantics import PREFIXES, TAG_FIELDS, Bare, Comparisons, suggest
from mangodb.runs.filters import FIELDS, And, Filter, Not, Or

MAX_DEPTH = 100
KEYWORDS = frozenset({"and", "or", "not", "in", "like", "is", "null", "true", "false"})


def parse(text: str, *, now: dt.datetime | None = None) -> Filter:
    """Parse a query such as ``status = crashed and created > 7d`` into a ``Filter``.

    Durations (``7d``) compared with a time field mean ``now - duration``: without ``now``,
    an ``Ago`` evaluated each time the query's statement runs (so a statement kept and run
    again later does not freeze); with ``now``, that fixed moment. Raises
    ``QuerySyntaxError`` pointing at the offending column."""
    if not isinstance(text, str):
        raise TypeError(f"query must be text, got {type(text).__name__}")
    return _Parser(text, now).query()


class _Parser:
    def __init__(self, text: str, now: dt.datetime | None) -> None:
        self.text = text
        self.now = now
        self.tokens = tokenize(text)
        self.position = 0
        self.depth = 0
        self.comparisons = Comparisons(now, self.error)

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
            negated = self.keyword("not")
            if self.current.kind == WORD and str(self.current.value).lower() == "nan":
                self.advance()
                return self.comparisons.build(
                    kind, name, "is not nan" if negated else "is nan", None, start
                )
            if not self.keyword("null"):
                raise self.unexpected("'null' or 'nan'")
            op = "is not null" if negated else "is null"
            return self.comparisons.build(kind, name, op, None, start)
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
            result = self.comparisons.build(kind, name, "in", values, start)
        elif self.current.is_keyword("like"):
            self.advance()
            token = self.expect(STRING, "a quoted pattern after 'like'")
            result = self.comparisons.build(kind, name, "like", (token.value, token), start)
        elif self.current.kind == OP:
            op = self.advance().value
            value, token = self.value()
            if value is None and op in ("=", "!="):
                return self.comparisons.build(
                    kind, name, "is null" if op == "=" else "is not null", None, start
                )
            if value is None:
                raise self.error(f"null cannot be compared with {op!r}; use 'is null'", token)
            result = self.comparisons.build(kind, name, op, (value, token), start)
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
            raise self.error(f"unknown field {token.text!r}{suggest(name, choices)}", token)
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
            return Bare(token.value), token
        raise self.unexpected("a value")

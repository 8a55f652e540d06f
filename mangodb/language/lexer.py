"""Tokens of the run query language, each with the 1-based column where it starts.

After a ``.`` (inside a field path such as ``config.optim.lr`` or ``metric.val/loss``) a
path segment may start with a digit and contain ``/`` and ``-``; elsewhere a bare word starts
with a letter or ``_``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from mangodb.errors import QuerySyntaxError

WORD, STRING, NUMBER, DURATION, DATETIME, OP, LPAREN, RPAREN, COMMA, DOT, EOF = (
    "word",
    "string",
    "number",
    "duration",
    "datetime",
    "operator",
    "'('",
    "')'",
    "','",
    "'.'",
    "end of query",
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_/\-]*")
SEGMENT = re.compile(r"[A-Za-z0-9_/\-]+")
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_WORD_CHAR = re.compile(r"[A-Za-z0-9_./]")


@dataclass(frozen=True)
class Token:
    kind: str
    value: Any
    text: str
    column: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind == WORD and str(self.value).lower() in words


def _ended(text: str, end: int) -> bool:
    """A literal must not run into a word character (``7x``, ``1.2.3``)."""
    return end >= len(text) or not _WORD_CHAR.match(text[end])


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if following == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            # Unknown escapes keep their backslash, so LIKE patterns such as 'a\_b' pass through.
            out.append(_ESCAPES.get(following, "\\" + following))
            i += 2
            continue
        out.append(char)
        i += 1
    raise QuerySyntaxError("unterminated string", text, start + 1)


def parse_datetime(literal: str) -> dt.datetime:
    """An ISO date or datetime; naive values are UTC."""
    iso = literal[:-1] + "+00:00" if literal.endswith("Z") else literal
    value = dt.datetime.fromisoformat(iso)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def parse_duration(literal: str) -> dt.timedelta:
    total = dt.timedelta()
    for amount, unit in _DURATION_PART.findall(literal):
        total += dt.timedelta(**{_UNITS[unit]: float(amount)})
    return total


def _literal(text: str, i: int) -> Token | None:
    column = i + 1
    for pattern, kind in ((_DATE, DATETIME), (_DURATION, DURATION), (_NUMBER, NUMBER)):
        found = pattern.match(text, i)
        if found is None or not _ended(text, found.end()):
            continue
        literal = found.group()
        try:
            if kind == DATETIME:
                value: Any = parse_datetime(literal)
            elif kind == DURATION:
                value = parse_duration(literal)
            elif re.search(r"[.eE]", literal):
                value = float(literal)
            else:
                value = int(literal)
        except (ValueError, OverflowError) as error:
            raise QuerySyntaxError(f"invalid {kind} {literal!r}: {error}", text, column) from None
        return Token(kind, value, literal, column)
    return None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        column = i + 1
        after_dot = bool(tokens) and tokens[-1].kind == DOT
        if char.isspace():
            i += 1
        elif char in "'\"":
            value, end = _string(text, i)
            tokens.append(Token(STRING, value, text[i:end], column))
            i = end
        elif after_dot and SEGMENT.match(text, i):
            found = SEGMENT.match(text, i)
            assert found is not None
            tokens.append(Token(WORD, found.group(), found.group(), column))
            i = found.end()
        elif char.isdigit() or (char == "-" and re.match(r"-\.?\d", text[i : i + 3])):
            token = _literal(text, i)
            if token is None:
                bad = re.match(r"[-.\w:+/]+", text[i:])
                shown = bad.group() if bad else char
                raise QuerySyntaxError(f"invalid number {shown!r}", text, column)
            tokens.append(token)
            i += len(token.text)
        elif _WORD.match(text, i):
            found = _WORD.match(text, i)
            assert found is not None
            tokens.append(Token(WORD, found.group(), found.group(), column))
            i = found.end()
        elif char in "(),.":
            kind = {"(": LPAREN, ")": RPAREN, ",": COMMA, ".": DOT}[char]
            tokens.append(Token(kind, char, char, column))
            i += 1
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if operator is None:
                raise QuerySyntaxError(f"unexpected character {char!r}", text, column)
            tokens.append(Token(OP, "!=" if operator == "<>" else operator, operator, column))
            i += len(operator)
    tokens.append(Token(EOF, None, "", len(text) + 1))
    return tokens

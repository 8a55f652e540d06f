"""Filters -> query text. ``parse(to_text(f)) == f`` for every filter the language can express
(finite numbers, non-empty ``in`` lists, ``And``/``Or`` of two or more items)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from mangodb.language.lexer import SEGMENT
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
)

_DOTTED_KEY = re.compile(r"[A-Za-z0-9_/\-]+(?:\.[A-Za-z0-9_/\-]+)*")


def quote(text: str, mark: str = "'") -> str:
    """``text`` as a quoted literal: backslashes and the quote mark escaped."""
    return mark + text.replace("\\", "\\\\").replace(mark, "\\" + mark) + mark


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal in the query language")
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Ago):
        return duration(value.delta)
    if isinstance(value, str):
        return quote(value)
    raise ValueError(f"{value!r} has no literal in the query language")


def duration(delta: dt.timedelta) -> str:
    """``7d``, ``1d12h30m``, ``1.5s``: a positive duration as the language writes it."""
    if delta <= dt.timedelta(0):
        raise ValueError(f"{delta!r} has no literal in the query language")
    seconds, micro = divmod(delta // dt.timedelta(microseconds=1), 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if micro:
        parts.append(f"{seconds}.{micro:06d}".rstrip("0") + "s")
    elif seconds:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _segment(text: str) -> str:
    return text if SEGMENT.fullmatch(text) else quote(text, '"')


def _field(item: Filter) -> str:
    if isinstance(item, ConfigFilter):
        return "config." + ".".join(_segment(p) for p in item.path)
    if isinstance(item, (MetricFilter, ObjectiveFilter)):
        prefix = "metric" if isinstance(item, MetricFilter) else "objective"
        key = item.key if isinstance(item, MetricFilter) else item.name
        return f"{prefix}." + (key if _DOTTED_KEY.fullmatch(key) else quote(key, '"'))
    assert isinstance(item, FieldFilter)
    return item.field


def _comparison(item: ConfigFilter | MetricFilter | ObjectiveFilter | FieldFilter) -> str:
    field = _field(item)
    if item.op in ("is null", "is not null", "is nan", "is not nan"):
        return f"{field} {item.op}"
    if isinstance(item.value, float) and math.isnan(item.value) and item.op in ("=", "!="):
        return f"{field} {item.op} nan"
    if item.op == "in":
        return f"{field} in ({', '.join(literal(v) for v in item.value)})"
    return f"{field} {item.op} {literal(item.value)}"


def to_text(item: Filter) -> str:
    """The query text of a filter tree."""
    if isinstance(item, TagFilter):
        return f"tag = {quote(item.tag)}"
    if isinstance(item, Not):
        inner = item.item
        text = to_text(inner)
        return f"not ({text})" if isinstance(inner, (And, Or)) else f"not {text}"
    if isinstance(item, (And, Or)):
        if len(item.items) < 2:
            raise ValueError(f"{type(item).__name__} needs two or more items to be written")
        word = " and " if isinstance(item, And) else " or "
        return word.join(
            f"({to_text(part)})" if isinstance(part, (And, Or)) else to_text(part)
            for part in item.items
        )
    if isinstance(item, (ConfigFilter, MetricFilter, ObjectiveFilter, FieldFilter)):
        return _comparison(item)
    raise ValueError(f"cannot write {type(item).__name__} as query text")

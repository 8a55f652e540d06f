"""Page statements built once per set of criteria, like prepared statements.

Building a page's statement costs more than half a millisecond (typed filters compiled to SQL
expressions, the select assembled, then SQLAlchemy's cache key walked over the whole tree),
about a tenth of a page read. A dashboard or a training script asks the same questions again
and again, so the built statement is kept, keyed by the criteria's values (types included:
``96``, ``96.0`` and ``True`` are different keys; floats by ``repr``, so ``-0.0`` and ``NaN``
too), the page size, the cursor and the dialect. Criteria holding anything else than plain
values (numbers, strings, datetimes, lists, dicts, hashable frozen filters) are not cached.
A statement is built from a deep copy of the criteria, so a caller changing its own lists
afterwards cannot change what a kept statement asks.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from mangodb import queries

CACHE_SIZE = 256
_PLAIN = (str, int, bool, type(None), dt.datetime, dt.date, dt.timedelta)


class _Uncacheable(Exception):
    pass


def _frozen(value: Any) -> Hashable:
    if isinstance(value, float):
        return (float, repr(value))
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, Mapping):
        return (dict, tuple((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_frozen(v) for v in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # the typed filters
        fields = dataclasses.fields(value)
        return (type(value), tuple(_frozen(getattr(value, f.name)) for f in fields))
    raise _Uncacheable


def criteria_key(criteria: Mapping[str, Any]) -> Hashable | None:
    """A hashable key equal for criteria that build the same statement, or None."""
    try:
        return _frozen(dict(criteria))
    except _Uncacheable:
        return None


class _LRU:
    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Hashable, queries.PageStatement] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, build: Callable[[], queries.PageStatement]
    ) -> queries.PageStatement:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        built = build()
        with self._lock:
            self._items[key] = built
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return built

    def __len__(self) -> int:
        return len(self._items)


_PAGES = _LRU(CACHE_SIZE)


def page_statement(
    criteria: Mapping[str, Any], *, limit: int | None, cursor: str | None, dialect: str
) -> queries.PageStatement:
    """The statement of a page of runs matching ``criteria`` (built, or kept from before)."""

    def build() -> queries.PageStatement:
        plan = queries.plan(copy.deepcopy(dict(criteria)), dialect=dialect)
        return queries.page_statement(plan, limit=limit, cursor=cursor, dialect=dialect)

    key = criteria_key(criteria)
    if key is None:
        return build()
    return _PAGES.get((dialect, limit, cursor, key), build)

"""Query plans kept per question, like prepared statements.

Building a page's statement (criteria -> typed filters -> SQL expressions -> the page's
SELECT, then SQLAlchemy's cache-key walk over it) costs about as much as reading a small page
(``benchmarks/statements.py``). A dashboard or a training script asks the same questions again
and again, so a plan (and the page statements built from it) is kept, keyed by the criteria's
values (types included: ``96``, ``96.0`` and ``True`` are different keys; floats by ``repr``).
Nothing that changes between calls is part of a kept statement: relative times (``created >
7d``) are bound parameters computed when the statement runs (``filters.Ago``), and a page's
cursor is bound per page (it is not part of the key). Criteria holding anything but plain
values (numbers, text, datetimes, lists, dicts, frozen filters) are not kept.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

SIZE = 256
_PLAIN = (str, int, bool, type(None), dt.datetime, dt.date, dt.timedelta)
T = TypeVar("T")


class _Unkeyable(Exception):
    pass


def _frozen(value: object) -> Hashable:
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
    if isinstance(value, enum.Enum):  # RunStatus
        return (type(value), value)
    raise _Unkeyable


def criteria_key(criteria: Mapping[str, object]) -> Hashable | None:
    """A hashable key equal for criteria that plan the same query, or None."""
    try:
        return _frozen(dict(criteria))
    except _Unkeyable:
        return None


class LRU(Generic[T]):
    """At most ``size`` values, the least recently used dropped first; thread-safe."""

    def __init__(self, size: int = SIZE) -> None:
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        built = build()  # outside the lock: a failure keeps nothing
        with self._lock:
            self._items[key] = built
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return built

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

"""A chunk's summary: its NaN count and its minimum and maximum ignoring NaN.

Numbers are summarised as the float64 a chunk stores (ints beyond 2**53 lose precision,
``True``/``False`` are 1.0/0.0). For numeric chunks the figures come from the packed float64
bytes with numpy when it is importable (one C pass each, about 15x faster than ``min``/``max``
over the list, which costs more than the database write), else from the builtins; both give
the same figures.
"""

from __future__ import annotations

import functools
import importlib
import struct
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, cast

Stats = tuple[int, "float | None", "float | None"]  # (nan_count, min, max)
NUMPY_MIN_VALUES = 64  # below this, numpy's per-call overhead exceeds the builtins' loop


@functools.cache
def numpy() -> Any:
    """numpy when it is importable (it is optional), else None."""
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


def batch_stats(raws: list[bytes | None]) -> list[Stats | None]:
    """``(0, min, max)`` of each float payload without NaN, from one pass over all of them;
    None where that is not known (no numpy, a NaN, a JSON or short payload)."""
    found: list[Stats | None] = [None] * len(raws)
    np = numpy()
    numeric = [i for i, raw in enumerate(raws) if raw and len(raw) >= 8 * NUMPY_MIN_VALUES]
    if np is None or len(numeric) < 2:
        return found
    payloads = [cast(bytes, raws[i]) for i in numeric]
    floats = np.frombuffer(b"".join(payloads), dtype="<f8")
    starts = list(accumulate((len(raw) // 8 for raw in payloads[:-1]), initial=0))
    lows = np.minimum.reduceat(floats, starts).tolist()  # NaN where a chunk holds a NaN
    highs = np.maximum.reduceat(floats, starts).tolist()
    for index, low, high in zip(numeric, lows, highs, strict=True):
        if low == low and high == high:
            found[index] = (0, low, high)
    return found


def packed_stats(raw: bytes, values: Sequence[Any]) -> Stats:
    """``(nan_count, min, max)`` of numeric values, from their float64 bytes ``raw``."""
    np = numpy() if len(values) >= NUMPY_MIN_VALUES else None
    if np is None:
        if all(type(v) is float for v in values):
            return float_stats(values)
        # Others (ints, numpy's float32, Decimal) compare as what is stored: their float64.
        # np.float32(1.0) < 1.00000001 is False, so min/max of the raw values can be wrong.
        return float_stats(struct.unpack(f"<{len(values)}d", raw))
    floats = np.frombuffer(raw, dtype="<f8")
    low, high = float(floats.min()), float(floats.max())
    if low == low and high == high:  # numpy's min and max are NaN when a value is NaN
        return 0, low, high
    kept = floats[~np.isnan(floats)]
    if not kept.size:
        return len(values), None, None
    return len(values) - int(kept.size), float(kept.min()), float(kept.max())


def numeric_stats(values: Sequence[Any]) -> Stats:
    try:
        return float_stats(values)
    except TypeError:  # e.g. Decimal mixed with float: compare the converted values
        return float_stats([float(v) for v in values])


def float_stats(values: Sequence[Any]) -> Stats:
    """``(nan_count, min, max)`` ignoring NaN; min/max None when no value is a number."""
    if not values:
        return 0, None, None
    total = sum(values)
    if total == total:  # no NaN anywhere (a NaN, or +Inf plus -Inf, makes the sum NaN)
        return 0, float(min(values)), float(max(values))
    kept = [v for v in values if v == v]
    if not kept:
        return len(values), None, None
    return len(values) - len(kept), float(min(kept)), float(max(kept))

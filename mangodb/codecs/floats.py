"""Lossless storage of one float in a nullable REAL column plus a small ``kind`` code.

SQLite stores NaN as NULL and may store -0.0 as the integer 0; the kind keeps them exact while
``value`` stays a plain float column that SQL can filter and sort (NaN sorts nowhere: NULL).
"""

from __future__ import annotations

import math

FINITE, NAN, POS_INF, NEG_INF, NEG_ZERO = 0, 1, 2, 3, 4


def encode_float(value: float) -> tuple[float | None, int]:
    value = float(value)
    if math.isnan(value):
        return None, NAN
    if math.isinf(value):
        return value, POS_INF if value > 0 else NEG_INF
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return 0.0, NEG_ZERO
    return value, FINITE


def decode_float(value: float | None, kind: int) -> float | None:
    if kind == NAN:
        return math.nan
    if kind == POS_INF:
        return math.inf
    if kind == NEG_INF:
        return -math.inf
    if kind == NEG_ZERO:
        return -0.0
    return None if value is None else float(value)


def is_number(value: object) -> bool:
    """True for int/float (not bool): the values kept as numeric metrics."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)

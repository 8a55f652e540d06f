"""A reversible encoding of JSON documents that keeps every float exact on both dialects.

PostgreSQL ``jsonb`` rejects ``NaN``/``Infinity``, drops the sign of ``-0.0`` and turns an
integral float such as ``1e20`` into the integer ``100000000000000000000``. Those floats are
stored as ``{"$mangodb.float": "<repr>"}``. A user dict whose only key is one of our tags is
wrapped in ``{"$mangodb.escape": {...}}`` so decoding never mistakes user data for a tag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

FLOAT_TAG = "$mangodb.float"
ESCAPE_TAG = "$mangodb.escape"
_TAGS = frozenset({FLOAT_TAG, ESCAPE_TAG})
_CONTAINERS = (dict, list)


def _needs_tag(value: float) -> bool:
    if not math.isfinite(value):
        return True
    if value == 0.0:
        return math.copysign(1.0, value) < 0  # -0.0
    return value == int(value) and "e" in repr(value)  # jsonb would make it an integer


def encode(value: Any) -> Any:
    """Return a JSON-safe copy of ``value`` with special floats tagged."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return {FLOAT_TAG: repr(value)} if _needs_tag(value) else value
    if isinstance(value, Mapping):
        encoded = {key: encode(item) for key, item in value.items()}
        if len(encoded) == 1 and next(iter(encoded)) in _TAGS:
            return {ESCAPE_TAG: encoded}
        return encoded
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, item),) = value.items()
            if key == FLOAT_TAG and isinstance(item, str):
                return float(item)
            if key == ESCAPE_TAG and isinstance(item, dict):
                return {k: decode(v) if isinstance(v, _CONTAINERS) else v for k, v in item.items()}
        # Only containers can hold tags: leaves are copied without a call (configs have
        # hundreds of leaves and this runs for every run read).
        return {k: decode(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value

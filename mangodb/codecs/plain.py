"""Plain JSON values for output (the CLI's ``--json``, the web interface's API): datetimes as
ISO text, enums by value, DTOs as their fields. Strict JSON has no NaN or ±Inf: the caller
says how to show them (null for the CLI, their names as text for the web interface, which
draws them)."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from typing import Any


def nonfinite_as_null(_: float) -> Any:
    return None


def nonfinite_as_name(value: float) -> Any:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def jsonable(value: Any, nonfinite: Callable[[float], Any] = nonfinite_as_null) -> Any:
    """``value`` made of JSON types only, every non-finite float replaced by ``nonfinite``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else nonfinite(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, nonfinite) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(), nonfinite)
    return value

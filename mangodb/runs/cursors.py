"""Page cursors: the opaque text ``query_runs_page`` hands out to continue a question, either a
keyset position (the last row's sort value and id) or an offset, as URL-safe base64 JSON.
A cursor comes back from the caller, so a damaged one is a ``ValidationError``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from mangodb.errors import ValidationError


def encode(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode(cursor: str, order: str) -> dict[str, Any]:
    """``{"k": [sort value, id]}`` (keyset) or ``{"o": offset}``, checked: a cursor comes back
    from the caller, so a damaged one is a ``ValidationError``, never a driver's error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict):
            raise ValueError
        if "k" in data:
            value, last_id = data["k"]
            if not (isinstance(value, str) and _in_int64(last_id)):
                raise ValueError
            value = _deserialise(order, value.encode().decode())  # no lone surrogates
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                raise ValueError
            data["k"] = [value, last_id]
        if not (_in_int64(data.get("o", 0)) and data.get("o", 0) >= 0):
            raise ValueError
        return data
    except (ValueError, TypeError, UnicodeError):
        raise ValidationError(f"invalid cursor {cursor!r}") from None


def _in_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def serialise(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _deserialise(order: str, value: Any) -> Any:
    if order in ("created_at", "created", "updated_at") and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value

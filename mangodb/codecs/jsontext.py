"""A reversible encoding of JSON documents that keeps every float exact on both dialects.

PostgreSQL ``jsonb`` rejects ``NaN``/``Infinity``, drops the sign of ``-0.0`` and turns an
integral float such as ``1e20`` into the integer ``100000000000000000000``. Those floats are
stored as ``{"$mangodb.float": "<repr>"}``. A user dict whose only key is one of our tags is
wrapped in ``{"$mangodb.escape": {...}}`` so decoding never mistakes user data for a tag.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

FLOAT_TAG = "$mangodb.float"
ESCAPE_TAG = "$mangodb.escape"
_TAGS = frozenset({FLOAT_TAG, ESCAPE_TAG})
TAG_PREFIX = "$mangodb."  # in the JSON text of every document that holds a tag
_CONTAINERS = (dict, list)


# In JSON text, what may need a tag: our tag names, a negative zero, a number with a positive
# exponent (Python writes integral floats >= 1e16 as "1e+16"; a negative exponent is never
# integral). Strings can contain these too; that only sends them down the slow path.
_SUSPECT = (TAG_PREFIX, "-0.0", "e+")


def _needs_tag(value: float) -> bool:
    if not math.isfinite(value):
        return True
    if value == 0.0:
        return math.copysign(1.0, value) < 0  # -0.0
    return value == int(value) and "e" in repr(value)  # jsonb would make it an integer


def to_text(value: Any) -> str:
    """Strict, compact JSON text (no NaN tokens) as stored in the database."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# orjson parses faster than json (docs/postgres.md has the figure), with the same results for
# strict JSON text, but it reads an integer beyond 64 bits as a float (silently inexact) and
# refuses lone surrogates.
# Text that may hold such an integer (a run of 19+ digits that does not follow a decimal
# point or an exponent mark) goes to json instead, as does any text orjson refuses. The check
# runs at C speed: bytes.translate maps digits to "0", ".eE" to themselves and every other
# byte to "x", then one substring search. Digit strings inside JSON strings may take the
# detour too, losing nothing.
_CLASSES = bytes(
    0x30 if 0x30 <= byte <= 0x39 else byte if byte in b".eE" else 0x78 for byte in range(256)
)
_LONG_RUN = b"0" * 19
_LONG_INTEGER = b"x" + _LONG_RUN


def may_hold_long_integer(text: str) -> bool:
    classes = text.encode("utf-8", "surrogatepass").translate(_CLASSES)
    return _LONG_INTEGER in classes or classes.startswith(_LONG_RUN)


def parse(text: str) -> Any:
    """Parse JSON text exactly as ``json.loads`` does, faster when that is safe."""
    if not may_hold_long_integer(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def plain_text(value: Any) -> str | None:
    """The JSON text of ``value`` when it needs no tag at all (the common case, checked at C
    speed on the text itself), else None."""
    try:
        raw = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, a non-str key, a surrogate, another type
        return _plain_json_text(value)
    # orjson writes NaN and ±Infinity as null: only a document with a null can hold one, and
    # then it does not read back equal (C-speed comparison; a tuple also differs from the
    # list read back, and takes the json path for nothing worse than time).
    if b"null" in raw and orjson.loads(raw) != value:
        return _plain_json_text(value)
    if _TAG_BYTES in raw or b"-0.0" in raw or b"e+" in raw:  # _SUSPECT (orjson: "1e+16" too)
        return None
    return raw.decode("utf-8")


_TAG_BYTES = TAG_PREFIX.encode()


def _plain_json_text(value: Any) -> str | None:
    """:func:`plain_text` through the json module (what orjson refuses)."""
    try:
        text = to_text(value)
    except (ValueError, TypeError):
        return None
    return None if any(marker in text for marker in _SUSPECT) else text


def is_plain(value: Any) -> bool:
    return plain_text(value) is not None


def encode(value: Any) -> Any:
    """Return ``value`` with special floats tagged (``value`` itself when nothing needs it;
    otherwise a copy: the argument is never changed)."""
    return value if is_plain(value) else _encode(value)


def _encode(value: Any) -> Any:
    """The slow path (the fast check found something suspect, often only text inside a
    string): a dict or list in which nothing needed a tag is returned itself, not a copy."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return {FLOAT_TAG: repr(value)} if _needs_tag(value) else value
    if isinstance(value, Mapping):
        encoded = {key: _encode(item) for key, item in value.items()}
        if len(encoded) == 1 and next(iter(encoded)) in _TAGS:
            return {ESCAPE_TAG: encoded}
        if type(value) is dict and all(encoded[key] is item for key, item in value.items()):
            return value
        return encoded
    if isinstance(value, (list, tuple)):
        items = [_encode(item) for item in value]
        if type(value) is list and all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`, for freshly parsed JSON: dicts and lists are decoded in place
    (only the containers are visited, so a flat document costs one pass over its values)."""
    kind = type(value)
    if kind is dict:
        return _decode_dict(value)
    if kind is list:
        _decode_list(value)
    return value


def _decode_dict(value: dict[str, Any]) -> Any:
    if len(value) == 1:
        ((key, item),) = value.items()
        if key == FLOAT_TAG and type(item) is str:
            return float(item)
        if key == ESCAPE_TAG and type(item) is dict:
            _decode_values(item)
            return item
    _decode_values(value)
    return value


def _decode_values(value: dict[str, Any]) -> None:
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            value[key] = _decode_dict(item)  # replaces a value, the dict keeps its size
        elif kind is list:
            _decode_list(item)


def _decode_list(value: list[Any]) -> None:
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict:
            value[index] = _decode_dict(item)
        elif kind is list:
            _decode_list(item)

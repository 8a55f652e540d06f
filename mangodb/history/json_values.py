"""History values that are not all numbers: a chunk holding one stores its values as a JSON
list, and :func:`stored_form` checks one value before it is buffered.

The list is encoded by :mod:`mangodb.codecs.jsontext`. JSON has one NaN, so a number that is
a NaN with other bits (sign, payload) is kept beside the list:
``{"values": [...], "nan_bits": [[index, "<16 hex digits, little-endian>"], ...]}``. A number
of another type (numpy's, ``Decimal``) is written as the float64 a numeric chunk would hold,
so whether a value can be stored never depends on the values beside it.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from mangodb.codecs import jsontext
from mangodb.dto import check_nesting
from mangodb.errors import ValidationError

_CANONICAL_NAN = struct.pack("<d", math.nan)
_ZLIB_LEVEL = 1
_ZLIB_MIN = 256  # bytes of JSON below which compression is not tried
# Exact types JSON writes as they are; any other value that float64 holds (numpy's float32
# and int64, Decimal) goes into a JSON chunk as the float a numeric chunk would store, so a
# value is storable or not whatever else its chunk holds.
_JSON_TYPES = frozenset({str, int, float, bool, type(None), dict, list, tuple})
_REFUSED = (TypeError, ValueError, RecursionError)  # RecursionError: deep or circular data


class PackedJSON(NamedTuple):
    payload: bytes
    nan_bits: bool  # the document is {"values": [...], "nan_bits": [...]}
    compressed: bool  # zlib


def pack_json(values: Sequence[Any]) -> PackedJSON:
    """The JSON payload of a chunk's values; ``ValidationError`` when one cannot be stored."""
    values = [_as_json_value(v) for v in values]
    nan_bits = [
        [i, struct.pack("<d", v).hex()]
        for i, v in enumerate(values)
        if isinstance(v, float) and v != v and struct.pack("<d", v) != _CANONICAL_NAN
    ]
    encoded = _encoded(values)
    if nan_bits:
        encoded = {"values": encoded, "nan_bits": nan_bits}
    raw = _json_bytes(encoded)
    if len(raw) >= _ZLIB_MIN:
        packed = zlib.compress(raw, _ZLIB_LEVEL)
        if len(packed) < len(raw):
            return PackedJSON(packed, bool(nan_bits), True)
    return PackedJSON(raw, bool(nan_bits), False)


def unpack_json(raw: bytes, *, nan_bits: bool) -> list[Any]:
    """The values of an (uncompressed) JSON payload."""
    document = json.loads(raw)
    if not nan_bits:
        decoded: list[Any] = jsontext.decode(document)
        return decoded
    values: list[Any] = jsontext.decode(document["values"])
    for index, bits in document["nan_bits"]:
        values[index] = struct.unpack("<d", bytes.fromhex(bits))[0]
    return values


def _as_json_value(value: Any) -> Any:
    if type(value) in _JSON_TYPES:
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and other int subclasses: JSON writes their int
    try:
        return struct.unpack("<d", struct.pack("<d", value))[0]
    except (struct.error, TypeError, OverflowError, ValueError):  # ValueError: Decimal("sNaN")
        return value


def _encoded(values: list[Any]) -> Any:
    """``jsontext.encode(values)``; ``ValidationError`` when one of them cannot be."""
    check_nesting(values, "a history value")
    try:
        return jsontext.encode(values)
    except _REFUSED as error:
        raise ValidationError(f"history value is neither a number nor JSON: {error}") from error


def _json_bytes(document: Any) -> bytes:
    """UTF-8 strict JSON text of an encoded document; ``ValidationError`` when it has none
    (e.g. a lone surrogate in a string)."""
    try:
        return jsontext.to_text(document).encode("utf-8")
    except _REFUSED as error:
        raise ValidationError(f"history value is neither a number nor JSON: {error}") from error


def stored_form(value: Any) -> Any:
    """``value`` as a history chunk will hold it, checked now: numbers as they are (a float64
    holds them, or JSON keeps an integer beyond it), a number of another type (numpy,
    Decimal) as its float64, anything else a copy of its JSON document (so later changes to
    the caller's object do not reach the store). ``ValidationError`` when a chunk would
    refuse it, in any chunk: the buffered writer checks each value when it is logged, so one
    bad value never reaches (and fails) a flush of good ones."""
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is int and value.bit_length() <= 1000:  # JSON writes it in at most 302 digits
        return value
    value = _as_json_value(value)
    if type(value) is float:
        return value
    text = _json_bytes(_encoded([value]))
    if type(value) in (str, int):
        return value  # immutable: checked is enough
    return jsontext.decode(jsontext.parse(text.decode("utf-8")))[0]

"""Packing one chunk of points (strictly increasing steps) into bytes, and back.

``HistoryChunk.codec`` is a set of bit flags saying how ``steps`` and ``payload`` are encoded:

* steps: empty when they form an arithmetic progression (``STEPS_ARITHMETIC``: rebuilt from
  the chunk's first step, last step and count), otherwise little-endian int64 deltas from the
  first step, zlib-compressed when that is smaller (``STEPS_ZLIB``).
* payload: little-endian float64 values, bit-exact (NaN payloads, ±Inf, -0.0), optionally
  byte-shuffled and zlib-compressed (``VALUES_SHUFFLED | VALUES_ZLIB``); or, for chunks that
  hold a non-numeric value (``VALUES_JSON``), a UTF-8 JSON list encoded by
  :mod:`mangodb.codecs.jsontext` (zlib-compressed when that is smaller). JSON has one NaN, so a
  number in such a chunk that is a NaN with other bits (sign, payload) is kept beside the
  list: ``{"values": [...], "nan_bits": [[index, "<16 hex digits, little-endian>"], ...]}``
  (``JSON_NAN_BITS``). A number of another type (numpy's, ``Decimal``) is written there as
  the float64 a numeric chunk would hold, so whether a value can be stored never depends on
  the values beside it (:func:`stored_form` checks one value).

Summaries (count, NaN count, min and max ignoring NaN, last value) are computed here so the
chunk row can carry them; numbers are stored as float64 (ints beyond 2**53 lose precision,
``True``/``False`` become 1.0/0.0). For numeric chunks they are computed from the packed
float64 bytes with numpy when it is importable (one C pass each, about 15x faster than
``min``/``max`` over the list, which costs more than the database write), else with the
builtins; both give the same figures (NaN count, min and max of the float64 values).
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import operator
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from typing import Any, cast

from mangodb.codecs import jsontext
from mangodb.codecs.floats import FINITE, encode_float, is_number
from mangodb.dto import check_nesting
from mangodb.errors import ValidationError

VALUES_JSON = 1
VALUES_ZLIB = 2
VALUES_SHUFFLED = 4
STEPS_ARITHMETIC = 8
STEPS_ZLIB = 16
JSON_NAN_BITS = 32
KNOWN_FLAGS = (
    VALUES_JSON | VALUES_ZLIB | VALUES_SHUFFLED | STEPS_ARITHMETIC | STEPS_ZLIB | JSON_NAN_BITS
)
_CANONICAL_NAN = struct.pack("<d", math.nan)

_BIG_ENDIAN = sys.byteorder == "big"
_ZLIB_LEVEL = 1
_JSON_ZLIB_MIN = 256  # bytes of JSON below which compression is not tried
_NUMPY_MIN_VALUES = 64  # below this, numpy's per-call overhead exceeds the builtins' loop


@dataclass(frozen=True, slots=True)
class PackedChunk:
    """A chunk ready to be stored: the columns of one ``history_chunks`` row."""

    codec: int
    first_step: int
    last_step: int
    point_count: int
    nan_count: int
    min_value: float | None
    max_value: float | None
    last_value: float | None
    last_value_kind: int
    steps: bytes
    payload: bytes
    numeric: bool

    def row(self, series_id: int) -> tuple[Any, ...]:
        """The values of :data:`ROW_COLUMNS`, in that order."""
        return (
            series_id,
            self.codec,
            self.first_step,
            self.last_step,
            self.point_count,
            self.nan_count,
            self.min_value,
            self.max_value,
            self.last_value,
            self.last_value_kind,
            self.steps,
            self.payload,
        )


ROW_COLUMNS = (
    "series_id",
    "codec",
    "first_step",
    "last_step",
    "point_count",
    "nan_count",
    "min_value",
    "max_value",
    "last_value",
    "last_value_kind",
    "steps",
    "payload",
)


def float_bytes(values: Sequence[Any]) -> bytes | None:
    """``values`` as little-endian float64 bytes (bit-exact), or None when one of them is not
    a number (``struct`` checks and converts in C, about twice as fast as ``array``)."""
    try:
        return _float_struct(len(values)).pack(*values)
    except (struct.error, TypeError, OverflowError, ValueError):  # ValueError: Decimal("sNaN")
        return None


@functools.lru_cache(maxsize=64)
def _float_struct(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}d")


def pack(
    steps: list[int],
    values: Sequence[Any],
    *,
    arithmetic: bool | None = None,
    compress: bool = False,
) -> PackedChunk:
    """Pack points whose ``steps`` are strictly increasing (and non-empty).

    ``arithmetic``: whether the steps are known to be a progression (None: check);
    ``compress``: zlib the float payload (about 15% smaller on typical metrics, much slower
    to write)."""
    return _packed(steps, values, arithmetic, compress, float_bytes(values), None)


Stats = tuple[int, "float | None", "float | None"]


def pack_many(
    parts: Sequence[tuple[list[int], Sequence[Any], bool | None]], *, compress: bool = False
) -> list[PackedChunk]:
    """:func:`pack` of several chunks ``(steps, values, arithmetic)``: the summaries of their
    float payloads come from one numpy pass over all of them when numpy is importable."""
    raws = [float_bytes(values) for _, values, _ in parts]
    stats = _batch_stats(raws)
    return [
        _packed(steps, values, arithmetic, compress, raw, stat)
        for (steps, values, arithmetic), raw, stat in zip(parts, raws, stats, strict=True)
    ]


def _batch_stats(raws: list[bytes | None]) -> list[Stats | None]:
    """``(0, min, max)`` of each float payload without NaN, from one pass over all of them;
    None where that is not known (no numpy, a NaN, a JSON or short payload)."""
    found: list[Stats | None] = [None] * len(raws)
    np = _numpy()
    numeric = [i for i, raw in enumerate(raws) if raw and len(raw) >= 8 * _NUMPY_MIN_VALUES]
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


def _packed(
    steps: list[int],
    values: Sequence[Any],
    arithmetic: bool | None,
    compress: bool,
    raw: bytes | None,
    stats: Stats | None,
) -> PackedChunk:
    step_flags, step_bytes = _pack_steps(steps, arithmetic)
    if raw is not None:
        flags, payload = _compress_floats(raw, compress)
        nan_count, low, high = stats if stats is not None else _packed_stats(raw, values)
        last, last_kind = encode_float(float(values[-1]))
        numeric = True
    else:
        flags, payload = _pack_json(values)
        numbers = [f for f in map(as_float, values) if f is not None]
        nan_count, low, high = _float_stats(numbers)
        last_float = as_float(values[-1])
        last, last_kind = (None, FINITE) if last_float is None else encode_float(last_float)
        numeric = False
    return PackedChunk(
        codec=step_flags | flags,
        first_step=steps[0],
        last_step=steps[-1],
        point_count=len(steps),
        nan_count=nan_count,
        min_value=low,
        max_value=high,
        last_value=last,
        last_value_kind=last_kind,
        steps=step_bytes,
        payload=payload,
        numeric=numeric,
    )


def unpack(
    codec: int, first_step: int, last_step: int, count: int, steps: bytes, payload: bytes
) -> tuple[list[int], list[Any]]:
    """The ``(steps, values)`` of a stored chunk."""
    if codec & ~KNOWN_FLAGS:
        raise ValidationError(f"history chunk codec {codec} is unknown: upgrade mangodb")
    return _unpack_steps(codec, first_step, last_step, count, steps), _unpack_values(codec, payload)


def unpack_numbers(
    codec: int,
    first_step: int,
    last_step: int,
    count: int,
    steps: bytes,
    payload: bytes,
    np: Any = None,
) -> tuple[Any, Any]:
    """The points of a stored chunk whose values are numbers (NaN and ±Inf included), as
    float64: ``(steps, values)`` as numpy arrays (int64, float64) when ``np`` (the numpy
    module) is given, else as lists. Values that are not numbers (strings, media, None,
    booleans, integers beyond float64) are left out with their steps. A numeric chunk is
    read straight from its bytes, without a Python object per point."""
    if np is None or codec & VALUES_JSON:
        all_steps, values = unpack(codec, first_step, last_step, count, steps, payload)
        floats = map(as_float, values)
        kept = [(s, f) for s, f in zip(all_steps, floats, strict=True) if f is not None]
        if len(kept) < len(all_steps) or codec & VALUES_JSON:
            all_steps, values = [s for s, _ in kept], [f for _, f in kept]
        if np is None:
            return all_steps, values
        return np.asarray(all_steps, dtype=np.int64), np.asarray(values, dtype=np.float64)
    if codec & ~KNOWN_FLAGS:
        raise ValidationError(f"history chunk codec {codec} is unknown: upgrade mangodb")
    if codec & STEPS_ARITHMETIC:
        stride = (last_step - first_step) // (count - 1) if count > 1 else 1
        step_array = np.arange(first_step, last_step + 1, stride, dtype=np.int64)
    else:
        raw = zlib.decompress(steps) if codec & STEPS_ZLIB else steps
        step_array = np.empty(count, dtype=np.int64)
        step_array[0] = first_step
        np.cumsum(np.frombuffer(raw, dtype="<i8"), out=step_array[1:])
        step_array[1:] += first_step
    raw = zlib.decompress(payload) if codec & VALUES_ZLIB else payload
    if codec & VALUES_SHUFFLED:  # byte k of every value, then byte k+1...: transpose back
        raw = np.frombuffer(raw, dtype=np.uint8).reshape(8, -1).T.tobytes()
    return step_array, np.frombuffer(raw, dtype="<f8").astype(np.float64, copy=False)


def is_arithmetic(steps: list[int]) -> bool:
    n = len(steps)
    if n < 3:
        return True
    stride, rest = divmod(steps[-1] - steps[0], n - 1)
    return rest == 0 and stride > 0 and steps == list(range(steps[0], steps[-1] + 1, stride))


def _pack_steps(steps: list[int], arithmetic: bool | None) -> tuple[int, bytes]:
    if arithmetic or (arithmetic is None and is_arithmetic(steps)):
        return STEPS_ARITHMETIC, b""
    deltas = array("q", map(operator.sub, islice(steps, 1, None), steps))
    if _BIG_ENDIAN:
        deltas.byteswap()
    raw = deltas.tobytes()
    packed = zlib.compress(raw, _ZLIB_LEVEL)
    return (STEPS_ZLIB, packed) if len(packed) < len(raw) else (0, raw)


def _unpack_steps(codec: int, first: int, last: int, count: int, blob: bytes) -> list[int]:
    if codec & STEPS_ARITHMETIC:
        if count == 1:
            return [first]
        return list(range(first, last + 1, (last - first) // (count - 1)))
    deltas = array("q")
    deltas.frombytes(zlib.decompress(blob) if codec & STEPS_ZLIB else blob)
    if _BIG_ENDIAN:
        deltas.byteswap()
    return list(accumulate(deltas, initial=first))


def _compress_floats(raw: bytes, compress: bool) -> tuple[int, bytes]:
    if not compress:
        return 0, raw
    # Byte-shuffling puts the (similar) sign/exponent bytes of all values side by side.
    packed = zlib.compress(b"".join([raw[i::8] for i in range(8)]), _ZLIB_LEVEL)
    return (VALUES_SHUFFLED | VALUES_ZLIB, packed) if len(packed) < len(raw) else (0, raw)


def _unpack_values(codec: int, payload: bytes) -> list[Any]:
    raw = zlib.decompress(payload) if codec & VALUES_ZLIB else payload
    if codec & VALUES_JSON:
        return _unpack_json(codec, raw)
    if codec & VALUES_SHUFFLED:
        n = len(raw) // 8
        out = bytearray(len(raw))
        for i in range(8):
            out[i::8] = raw[i * n : (i + 1) * n]
        raw = bytes(out)
    floats = array("d")
    floats.frombytes(raw)
    if _BIG_ENDIAN:
        floats.byteswap()
    return floats.tolist()


def _pack_json(values: Sequence[Any]) -> tuple[int, bytes]:
    flags = VALUES_JSON
    values = [_as_json_value(v) for v in values]
    nan_bits = [
        [i, struct.pack("<d", v).hex()]
        for i, v in enumerate(values)
        if isinstance(v, float) and v != v and struct.pack("<d", v) != _CANONICAL_NAN
    ]
    encoded = _encoded(values)
    if nan_bits:
        flags |= JSON_NAN_BITS
        encoded = {"values": encoded, "nan_bits": nan_bits}
    raw = _json_bytes(encoded)
    if len(raw) >= _JSON_ZLIB_MIN:
        packed = zlib.compress(raw, _ZLIB_LEVEL)
        if len(packed) < len(raw):
            return flags | VALUES_ZLIB, packed
    return flags, raw


# Exact types JSON writes as they are; any other value that float64 holds (numpy's float32
# and int64, Decimal) goes into a JSON chunk as the float a numeric chunk would store, so a
# value is storable or not whatever else its chunk holds.
_JSON_TYPES = frozenset({str, int, float, bool, type(None), dict, list, tuple})


def _as_json_value(value: Any) -> Any:
    if type(value) in _JSON_TYPES:
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and other int subclasses: JSON writes their int
    raw = float_bytes((value,))
    return value if raw is None else _float_struct(1).unpack(raw)[0]


_REFUSED = (TypeError, ValueError, RecursionError)  # RecursionError: deep or circular data


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
    the caller's object do not reach the store). ``ValidationError`` when :func:`pack`
    would refuse it, in any chunk: the buffered writer checks each value when it is logged,
    so one bad value never reaches (and fails) a flush of good ones."""
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


def _unpack_json(codec: int, raw: bytes) -> list[Any]:
    document = json.loads(raw)
    if not codec & JSON_NAN_BITS:
        decoded: list[Any] = jsontext.decode(document)
        return decoded
    values: list[Any] = jsontext.decode(document["values"])
    for index, bits in document["nan_bits"]:
        values[index] = struct.unpack("<d", bytes.fromhex(bits))[0]
    return values


@functools.cache
def _numpy() -> Any:
    """numpy when it is importable (it is optional), else None."""
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


def _packed_stats(raw: bytes, values: Sequence[Any]) -> tuple[int, float | None, float | None]:
    """``(nan_count, min, max)`` of numeric values, from their float64 bytes ``raw``."""
    np = _numpy() if len(values) >= _NUMPY_MIN_VALUES else None
    if np is None:
        if all(type(v) is float for v in values):
            return _float_stats(values)
        # Others (ints, numpy's float32, Decimal) compare as what is stored: their float64.
        # np.float32(1.0) < 1.00000001 is False, so min/max of the raw values can be wrong.
        return _float_stats(_float_struct(len(values)).unpack(raw))
    floats = np.frombuffer(raw, dtype="<f8")
    low, high = float(floats.min()), float(floats.max())
    if low == low and high == high:  # numpy's min and max are NaN when a value is NaN
        return 0, low, high
    kept = floats[~np.isnan(floats)]
    if not kept.size:
        return len(values), None, None
    return len(values) - int(kept.size), float(kept.min()), float(kept.max())


def _numeric_stats(values: Sequence[Any]) -> tuple[int, float | None, float | None]:
    try:
        return _float_stats(values)
    except TypeError:  # e.g. Decimal mixed with float: compare the converted values
        return _float_stats([float(v) for v in values])


def _float_stats(values: Sequence[Any]) -> tuple[int, float | None, float | None]:
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


def same_value(old: Any, new: Any) -> bool:
    """True when re-sending ``new`` over ``old`` changes nothing, bit for bit."""
    if is_number(old) and is_number(new):
        try:
            return float_bits(old) == float_bits(new)
        except OverflowError:  # an int beyond float64 (kept as JSON)
            return bool(old == new)
    if is_number(old) or is_number(new):
        return False
    try:
        return jsontext.to_text(jsontext.encode(old)) == jsontext.to_text(jsontext.encode(new))
    except (TypeError, ValueError):
        return False


def as_float(value: Any) -> float | None:
    """``value`` as a float when it is a number float64 can hold, else None."""
    if not is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def float_bits(value: Any) -> bytes:
    return array("d", [value]).tobytes()

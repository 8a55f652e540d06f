"""Chunk summaries: numpy over the packed bytes and the builtins over the values agree."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mangodb.history import chunk_stats, packing

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**60), max_value=2**60),
)


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == b)


@given(st.lists(numbers, min_size=1, max_size=300))
def test_packed_stats_match_the_builtins(values: list[Any]) -> None:
    raw = packing.float_bytes(values)
    assert raw is not None
    fast = chunk_stats.packed_stats(raw, values)
    slow = chunk_stats.numeric_stats(values)
    floats = [float(v) for v in values]
    kept = [f for f in floats if not math.isnan(f)]
    assert fast[0] == slow[0] == len(floats) - len(kept)
    expected = (min(kept), max(kept)) if kept else (None, None)
    assert _same(fast[1], expected[0]) and _same(slow[1], expected[0])
    assert _same(fast[2], expected[1]) and _same(slow[2], expected[1])


def test_packed_stats_of_all_nan_and_mixed_infinities() -> None:
    values = [math.nan] * 100
    assert chunk_stats.packed_stats(packing.float_bytes(values) or b"", values) == (100, None, None)
    values = [math.inf, -math.inf] * 50 + [math.nan]
    assert chunk_stats.packed_stats(packing.float_bytes(values) or b"", values) == (
        1,
        -math.inf,
        math.inf,
    )


chunk_values = st.one_of(
    st.lists(numbers, min_size=1, max_size=150),
    st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=64, max_size=150),
    st.lists(st.one_of(numbers, st.text(max_size=3)), min_size=1, max_size=80),
)


@given(st.lists(chunk_values, min_size=1, max_size=6))
def test_packing_many_chunks_at_once_equals_packing_each(chunks: list[list[Any]]) -> None:
    parts = [(list(range(len(values))), values, True) for values in chunks]
    many = packing.pack_many(parts)
    for (steps, values, _), packed in zip(parts, many, strict=True):
        one = packing.pack(steps, values, arithmetic=True)
        assert packed.row(1)[:6] == one.row(1)[:6]  # codec, steps, count, NaN count
        assert packed.min_value == one.min_value  # (0.0 == -0.0: a summary, not a point)
        assert packed.max_value == one.max_value
        assert packed.row(1)[8:] == one.row(1)[8:]  # last value, kind, bytes

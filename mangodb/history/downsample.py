"""Downsampling a series for plotting without hiding what matters.

Points are cut into equal-count buckets; each bucket keeps its minimum and its maximum (±Inf
count as extremes) and its first NaN, so a spike, a divergence to Inf or a NaN stays visible.
Kept points stay in step order. Keys holding non-numeric values are sampled evenly instead.
"""

from __future__ import annotations

from typing import Any

from mangodb.errors import ValidationError

MIN_POINTS = 3


def check_max_points(max_points: int | None) -> None:
    if max_points is None:
        return
    if isinstance(max_points, bool) or not isinstance(max_points, int):
        raise ValidationError(f"max_points must be an integer, got {max_points!r}")
    if max_points < MIN_POINTS:
        raise ValidationError(
            f"max_points must be at least {MIN_POINTS} (a bucket keeps its min, max and a NaN)"
        )


def downsample(
    steps: list[int], values: list[Any], max_points: int, *, numeric: bool = True
) -> tuple[list[int], list[Any]]:
    """At most ``max_points`` of the points, keeping each bucket's extremes and NaN."""
    n = len(steps)
    if n <= max_points:
        return steps, values
    if not numeric:
        picks = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
        return [steps[i] for i in picks], [values[i] for i in picks]
    has_nan = any(v != v for v in values)
    buckets = max_points // 3 if has_nan else max_points // 2
    keep: list[int] = []
    for b in range(buckets):
        start, end = b * n // buckets, (b + 1) * n // buckets
        keep.extend(_bucket(values, start, end))
    return [steps[i] for i in keep], [values[i] for i in keep]


def _bucket(values: list[Any], start: int, end: int) -> list[int]:
    low = high = nan = -1
    for i in range(start, end):
        value = values[i]
        if value != value:
            if nan < 0:
                nan = i
        elif low < 0:
            low = high = i
        elif value < values[low]:
            low = i
        elif value > values[high]:
            high = i
    return sorted({i for i in (low, high, nan) if i >= 0})

"""Downsampling a series for plotting without hiding what matters: the M4 rule.

The step range of the points is cut into equal-width buckets (as a chart cuts its x axis into
pixel columns); each bucket keeps its first and its last point, its minimum and its maximum
(±Inf count as extremes) and its first NaN. So the first and the last point of any range are
always kept, and so are every spike, every divergence to Inf and every NaN. Values that are
not numbers (strings, media) are carried by the first and last points of their bucket. Kept
points stay in step order, and there are never more than ``max_points`` of them.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from mangodb.codecs.floats import is_number
from mangodb.errors import ValidationError

# One bucket needs room for its first, last, minimum and maximum points and a NaN.
MIN_POINTS = 5


def check_max_points(max_points: int | None) -> None:
    if max_points is None:
        return
    if isinstance(max_points, bool) or not isinstance(max_points, int):
        raise ValidationError(f"max_points must be an integer, got {max_points!r}")
    if max_points < MIN_POINTS:
        raise ValidationError(
            f"max_points must be at least {MIN_POINTS}, got {max_points} (downsampling keeps "
            "each bucket's first, last, minimum and maximum points and its first NaN)"
        )


def points_per_bucket(values: list[Any]) -> int:
    """How many points one bucket of ``values`` may keep: first and last, plus minimum and
    maximum when some value is a number, plus a NaN when some value is NaN."""
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        return 2
    return 5 if any(v != v for v in numbers) else 4


def bucket_edges(first: int, last: int, count: int) -> list[int]:
    """The lowest step of each of ``count`` equal-width buckets cutting ``first..last``
    (ascending; equal edges where there are more buckets than steps: those are empty).
    Step s falls in bucket b = (s - first) * count // width, so b starts at the first step
    >= first + ceil(b * width / count)."""
    width = last - first + 1
    return [first - (-b * width // count) for b in range(count)]


def buckets(steps: list[int], count: int) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of the non-empty buckets when the step range of
    ``steps`` (strictly increasing) is cut into ``count`` equal-width buckets."""
    if not steps:
        return []
    starts = [bisect_left(steps, edge) for edge in bucket_edges(steps[0], steps[-1], count)]
    ends = [*starts[1:], len(steps)]
    return [(start, end) for start, end in zip(starts, ends, strict=True) if start < end]


def downsample(
    steps: list[int], values: list[Any], max_points: int, *, numeric: bool = True
) -> tuple[list[int], list[Any]]:
    """At most ``max_points`` of the points (``steps`` strictly increasing), chosen by the M4
    rule (see the module docstring). ``numeric``: every value is known to be a float."""
    check_max_points(max_points)
    if len(steps) <= max_points:
        return steps, values
    per_bucket = (5 if any(v != v for v in values) else 4) if numeric else None
    keep: list[int] = []
    for start, end in buckets(steps, max_points // (per_bucket or points_per_bucket(values))):
        keep.extend(_bucket(values, start, end, numeric))
    return [steps[i] for i in keep], [values[i] for i in keep]


def _bucket(values: list[Any], start: int, end: int, numeric: bool) -> list[int]:
    """Indexes kept of ``values[start:end]``, in order: first, last, min, max, first NaN."""
    low = high = nan = -1
    for i in range(start, end):
        value = values[i]
        if not numeric and not is_number(value):
            continue
        if value != value:
            if nan < 0:
                nan = i
        elif low < 0:
            low = high = i
        elif value < values[low]:
            low = i
        elif value > values[high]:
            high = i
    return sorted({start, end - 1, *(i for i in (low, high, nan) if i >= 0)})

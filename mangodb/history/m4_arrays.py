"""The M4 downsampling rule (:mod:`mangodb.history.downsample`) on numpy arrays: the same
points, picked with a few passes in C instead of a Python loop over every point.

Ties follow the Python code: the minimum and the maximum of a bucket are the first points
holding them (-0.0 and 0.0 are equal); a bucket whose numbers are all NaN keeps its first
NaN only. Callers pass the numpy module (``np``), as :mod:`mangodb.history.bands` does.
"""

from __future__ import annotations

from typing import Any

from mangodb.codecs.floats import is_number
from mangodb.history.downsample import bucket_edges, check_max_points, downsample

_EXACT_LIMIT = 2**62  # below this, the bucket edges are computed in int64 without overflow


def kept_indexes(np: Any, steps: Any, values: Any, max_points: int, numbers: Any = None) -> Any:
    """The indexes (int64, ascending) of the points the M4 rule keeps of ``steps`` (strictly
    increasing: an int64 array, or :class:`~mangodb.history.steps.ProgressionSteps`) and
    ``values`` (float64). ``numbers``: a boolean mask of the values that are numbers (the
    others only count as the first or last point of their bucket); None when all are."""
    check_max_points(max_points)
    size = len(steps)
    if size <= max_points:
        return np.arange(size, dtype=np.int64)
    nan = np.isnan(values)
    if numbers is not None:
        nan &= numbers
    any_number = numbers is None or bool(numbers.any())
    any_nan = bool(nan.any())
    per_bucket = (5 if any_nan else 4) if any_number else 2
    starts = _bucket_starts(np, steps, max_points // per_bucket)
    ends = np.append(starts[1:], size)
    kept = [starts, ends - 1]
    if any_number:
        sizes = ends - starts
        if numbers is not None:
            values = np.where(numbers, values, np.nan)  # left out of the extremes, like NaN
        if any_nan or numbers is not None:
            lows, highs = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
        else:
            lows, highs = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
        kept.append(_first_in_bucket(np, values == np.repeat(lows, sizes), starts, ends))
        kept.append(_first_in_bucket(np, values == np.repeat(highs, sizes), starts, ends))
        if per_bucket == 5:
            kept.append(_first_in_bucket(np, nan, starts, ends))
    return _distinct(np, np.sort(np.concatenate(kept)))


def _bucket_starts(np: Any, steps: Any, count: int) -> Any:
    """The first index of each non-empty bucket (see :func:`downsample.buckets`)."""
    first, last = int(steps[0]), int(steps[-1])
    width = last - first + 1
    if width * count < _EXACT_LIMIT and abs(first) < _EXACT_LIMIT:
        edges = first + (np.arange(count, dtype=np.int64) * width + count - 1) // count
    else:  # Python integers, and an array of steps (ProgressionSteps would overflow)
        edges = np.asarray(bucket_edges(first, last, count), dtype=np.int64)
        steps = np.asarray(steps)
    return _distinct(np, steps.searchsorted(edges))  # equal starts: empty buckets


def _distinct(np: Any, ascending: Any) -> Any:
    """``ascending`` (sorted) without repeats (``np.unique`` sorts again, slower)."""
    keep = np.empty(len(ascending), dtype=bool)
    keep[:1] = True
    np.not_equal(ascending[1:], ascending[:-1], out=keep[1:])
    return ascending[keep]


def _first_in_bucket(np: Any, mask: Any, starts: Any, ends: Any) -> Any:
    """The first index where ``mask`` is true in each bucket that has one."""
    hits = np.flatnonzero(mask)
    at = np.searchsorted(hits, starts)
    found = at < len(hits)
    first = hits[at[found]]
    return first[first < ends[found]]


def downsample_arrays(
    np: Any, steps: Any, values: Any, max_points: int
) -> tuple[list[int], list[float]]:
    """:func:`downsample.downsample` of float64 ``values`` at int64 ``steps``, as lists."""
    keep = kept_indexes(np, steps, values, max_points)
    return steps[keep].tolist(), values[keep].tolist()


def downsample_objects(
    np: Any, steps: list[int], values: list[Any], max_points: int
) -> tuple[list[int], list[Any]]:
    """:func:`downsample.downsample` of logged values of any kind (``numeric=False``): the
    numbers compared as float64 when that is exact for all of them (else the Python code)."""
    check_max_points(max_points)
    if len(steps) <= max_points:
        return steps, values
    numbers = [is_number(v) for v in values]
    floats = [float(v) if n and _exact(v) else None for v, n in zip(values, numbers, strict=True)]
    if any(f is None for f, n in zip(floats, numbers, strict=True) if n):
        return downsample(steps, values, max_points, numeric=False)
    try:
        step_array = np.asarray(steps, dtype=np.int64)
    except OverflowError:  # steps are stored as int64, but a caller may pass others
        return downsample(steps, values, max_points, numeric=False)
    value_array = np.asarray([np.nan if f is None else f for f in floats], dtype=np.float64)
    mask = np.asarray(numbers, dtype=bool)
    keep = kept_indexes(np, step_array, value_array, max_points, mask).tolist()
    return [steps[i] for i in keep], [values[i] for i in keep]


def _exact(value: Any) -> bool:
    """Whether float64 holds ``value`` (a number) exactly, so comparisons do not change."""
    if isinstance(value, float):
        return True
    try:
        return bool(float(value) == value)
    except OverflowError:
        return False

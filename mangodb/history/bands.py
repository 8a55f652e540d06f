"""Mean ± band over several runs of one key, aligned on steps and bucketed like the M4
downsampling (:mod:`mangodb.history.downsample`), for "loss per method over seeds" plots.

The rule, for a group of runs (one gradient method) and a grid shared by all groups:

* **Grid.** When the runs logged at most ``max_points`` distinct steps (all groups
  together), every distinct step is a bucket of its own. Otherwise the step range of all the
  runs is cut into ``max_points`` equal-width buckets (:func:`bucket_edges`, the cut the M4
  downsampling makes); a bucket is named by the first step any run logged in it, and empty
  buckets are dropped. So there are never more than ``max_points`` steps, the first and last
  logged steps are always kept, and every group's steps come from the same grid.
* **Per run and bucket.** A run's values in the bucket (NaN left out) give its bucket value,
  their mean (a run that logged each step once has one value per step in an unbucketed grid).
* **Per bucket.** ``count``: runs with at least one value that is not NaN in the bucket.
  ``mean``: the mean of those runs' bucket values; ``std``: their sample standard deviation
  (None when fewer than 2 runs). ``min``/``max``: the extremes of every value of every run in
  the bucket, not of the means, so a spike in one seed stays visible in ``max``.
* **NaN** is left out of every figure, but never silently: a step where runs logged only NaN
  is kept, with ``count`` 0 and None figures. A step where no run of the group logged a
  point is absent from the group's curve.
* **±Inf** counts as a value: ``min``/``max`` show it, ``mean`` becomes ±Inf (None when
  +Inf and -Inf meet: undefined), ``std`` is None (undefined). JSON has neither: the DTOs
  and the CLI write null.

numpy (the ``fast`` extra) computes it from the stored bytes; without numpy a pure-Python
path gives the same figures (to rounding: sums are added in another order).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mangodb.history.downsample import bucket_edges, check_max_points
from mangodb.history.reads import RunNumbers


@dataclass(frozen=True, slots=True)
class Band:
    """The aggregate of one group of runs on the grid (see the module docstring)."""

    runs: int
    steps: list[int]
    mean: list[float | None]
    std: list[float | None]
    min: list[float | None]
    max: list[float | None]
    count: list[int]


def grid(runs: Sequence[RunNumbers], max_points: int, np: Any = None) -> list[int]:
    """The steps naming the buckets, ascending (see the module docstring): a point at step
    ``s`` belongs to the bucket of the last grid step ``<= s``."""
    check_max_points(max_points)
    logged = [run for run in runs if len(run.steps)]
    if not logged:
        return []
    if all(len(run.steps) <= max_points for run in logged):
        distinct = _union([run.steps for run in logged], np)
        if len(distinct) <= max_points:
            return distinct
    first = min(int(run.steps[0]) for run in logged)
    last = max(int(run.steps[-1]) for run in logged)
    edges = bucket_edges(first, last, max_points)
    # The first step of each run in each bucket (or a later one when the run has none there):
    # the lowest candidate inside a bucket is the first step any run logged in it.
    if np is not None:
        edge_array = np.asarray(edges, dtype=np.int64)
        parts = []
        for run in logged:
            at = run.steps.searchsorted(edge_array)
            parts.append(run.steps[at[at < len(run.steps)]])
        candidates = np.unique(np.concatenate(parts))
        bucket = np.searchsorted(edge_array, candidates, side="right")
        keep = np.ones(len(candidates), dtype=bool)
        keep[1:] = bucket[1:] != bucket[:-1]
        return [int(s) for s in candidates[keep].tolist()]
    found: set[int] = set()
    for run in logged:
        n = len(run.steps)
        found.update(run.steps[i] for i in (bisect_left(run.steps, e) for e in edges) if i < n)
    named: dict[int, int] = {}
    for step in sorted(found):
        named.setdefault(bisect_right(edges, step), step)
    return list(named.values())


def _union(parts: list[Any], np: Any) -> list[int]:
    if np is not None:
        arrays = [np.asarray(part, dtype=np.int64) for part in parts]
        return [int(s) for s in np.unique(np.concatenate(arrays)).tolist()]
    return sorted({int(s) for part in parts for s in part})


def band(runs: Sequence[RunNumbers], steps: list[int], np: Any = None) -> Band:
    """The band of ``runs`` on the grid ``steps`` (from :func:`grid` over every group)."""
    logged = [run for run in runs if len(run.steps)]
    if not logged or not steps:
        return Band(len(logged), [], [], [], [], [], [])
    if np is not None:
        return _band_numpy(logged, steps, np)
    return _band_python(logged, steps)


def _band_python(runs: list[RunNumbers], steps: list[int]) -> Band:
    width = len(steps)
    means: list[list[float]] = [[] for _ in range(width)]
    lows: list[float | None] = [None] * width
    highs: list[float | None] = [None] * width
    present = [False] * width
    for run in runs:
        starts = [bisect_left(run.steps, s) for s in steps]
        ends = [*starts[1:], len(run.steps)]
        for b, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if start == end:
                continue
            present[b] = True
            values = run.values[start:end]
            if run.nan_count:
                values = [v for v in values if v == v]
            if not values:
                continue
            means[b].append(sum(values) / len(values))
            low, high = min(values), max(values)
            lows[b] = low if lows[b] is None else min(low, lows[b])
            highs[b] = high if highs[b] is None else max(high, highs[b])
    out = Band(len(runs), [], [], [], [], [], [])
    for b in range(width):
        if not present[b]:
            continue
        values = means[b]
        count = len(values)
        mean = sum(values) / count if count else math.nan
        std = math.nan
        if count >= 2:
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (count - 1))
        out.steps.append(steps[b])
        out.mean.append(_number(mean))
        out.std.append(_finite(std))
        out.min.append(lows[b])
        out.max.append(highs[b])
        out.count.append(count)
    return out


def _band_numpy(runs: list[RunNumbers], steps: list[int], np: Any) -> Band:
    grid_array = np.asarray(steps, dtype=np.int64)
    shape = (len(runs), len(steps))
    sums, numbers = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    points = np.zeros(len(steps), dtype=np.int64)
    lows, highs = np.full(shape, np.nan), np.full(shape, np.nan)
    with np.errstate(invalid="ignore"):  # +Inf + -Inf is NaN: the documented None
        for row, run in enumerate(runs):
            _reduce_run(np, run, grid_array, row, sums, numbers, points, lows, highs)
    with np.errstate(invalid="ignore", divide="ignore"):
        counted = numbers > 0
        run_means = np.where(counted, sums / np.where(counted, numbers, 1), 0.0)
        count = counted.sum(axis=0)
        mean = run_means.sum(axis=0) / count
        deviations = np.where(counted, run_means - mean, 0.0)
        std = np.sqrt((deviations * deviations).sum(axis=0) / (count - 1))
        std[count < 2] = np.nan
    low, high = np.fmin.reduce(lows, axis=0), np.fmax.reduce(highs, axis=0)
    keep = points > 0
    return Band(
        runs=len(runs),
        steps=grid_array[keep].tolist(),
        mean=[_number(v) for v in mean[keep].tolist()],
        std=[_finite(v) for v in std[keep].tolist()],
        min=[_number(v) for v in low[keep].tolist()],
        max=[_number(v) for v in high[keep].tolist()],
        count=count[keep].tolist(),
    )


def _reduce_run(
    np: Any,
    run: RunNumbers,
    grid_array: Any,
    row: int,
    sums: Any,
    numbers: Any,
    points: Any,
    lows: Any,
    highs: Any,
) -> None:
    """Row ``row`` of the per-run figures: sum and count of the values that are not NaN,
    minimum and maximum (NaN left out), per bucket; ``points`` counts every point."""
    starts = run.steps.searchsorted(grid_array)
    sizes = np.diff(starts, append=len(run.steps))
    filled = sizes > 0
    at = starts[filled]
    points += sizes
    values = run.values
    numbers[row, filled] = sizes[filled]
    sums[row, filled] = np.add.reduceat(values, at)
    if not run.nan_count:
        lows[row, filled] = np.minimum.reduceat(values, at)
        highs[row, filled] = np.maximum.reduceat(values, at)
        return
    lows[row, filled] = np.fmin.reduceat(values, at)
    highs[row, filled] = np.fmax.reduceat(values, at)
    # The few buckets holding a NaN: count and sum again without it (the same reduceat over
    # the bucket alone, so the sum is the one a NaN-free bucket gets).
    nan_at = np.flatnonzero(np.isnan(values))
    buckets = np.unique(np.searchsorted(at, nan_at, side="right") - 1).tolist()
    columns = np.flatnonzero(filled)
    ends = [*at[1:].tolist(), len(values)]
    for bucket in buckets:
        part = values[at[bucket] : ends[bucket]]
        kept = ~np.isnan(part)
        numbers[row, columns[bucket]] = int(kept.sum())
        sums[row, columns[bucket]] = np.add.reduceat(np.where(kept, part, 0.0), [0])[0]


def _number(value: float) -> float | None:
    """None for NaN (no value, or +Inf and -Inf together); ±Inf kept."""
    return None if value != value else value


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

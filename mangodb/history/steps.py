"""The steps of a series made of arithmetic progressions (the usual case: a training loop
logs every n steps), kept as their ``(first, stride, count)`` instead of one integer per point.

``ProgressionSteps`` answers what the band computation asks of a numpy array of steps
(length, ``searchsorted``, indexing, ``__array__``) from the progressions, so reading 100
runs of 100,000 points does not build 10 million step integers. Needs numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ProgressionSteps:
    """Strictly increasing steps given as consecutive progressions (``range`` objects)."""

    def __init__(self, np: Any, parts: Sequence[range]) -> None:
        self.np = np
        self.firsts = np.asarray([p.start for p in parts], dtype=np.int64)
        self.strides = np.asarray([p.step for p in parts], dtype=np.int64)
        counts = np.asarray([len(p) for p in parts], dtype=np.int64)
        self.lasts = self.firsts + (counts - 1) * self.strides
        self.offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.size = int(counts.sum())

    def __len__(self) -> int:
        return self.size

    def searchsorted(self, values: Any) -> Any:
        """For each value, the index of the first step >= it (``len`` when none is)."""
        np = self.np
        values = np.asarray(values, dtype=np.int64)
        part = np.searchsorted(self.lasts, values)  # the first progression reaching value
        inside = part < len(self.lasts)
        k = np.minimum(part, len(self.lasts) - 1)
        ahead = np.maximum(values - self.firsts[k], 0)
        index = self.offsets[k] + (ahead + self.strides[k] - 1) // self.strides[k]
        return np.where(inside, index, self.size)

    def __getitem__(self, index: Any) -> Any:
        np = self.np
        scalar = np.ndim(index) == 0
        where = np.atleast_1d(np.asarray(index, dtype=np.int64))
        where = np.where(where < 0, where + self.size, where)
        k = np.searchsorted(self.offsets, where, side="right") - 1
        found = self.firsts[k] + (where - self.offsets[k]) * self.strides[k]
        return found[0] if scalar else found

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        np = self.np
        counts = np.diff(np.append(self.offsets, self.size)).tolist()
        parts = [
            progression(np, range(f, f + s * n, s))
            for f, s, n in zip(self.firsts.tolist(), self.strides.tolist(), counts, strict=True)
        ]
        steps = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return steps if dtype is None else steps.astype(dtype)


def progression(np: Any, steps: range) -> Any:
    """``steps`` as an int64 array (``np.arange`` computes the length in float64: it drops
    or adds a step near 2**53 and beyond)."""
    return steps.start + np.arange(len(steps), dtype=np.int64) * steps.step

"""The value objects of the history engine: a read ``Series``, a ``SeriesSummary`` and an
``AppendResult``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from mangodb.errors import MissingExtra


class AppendResult(BaseModel):
    """What one append did, counted in points.

    ``written``: steps that were not stored before. ``unchanged``: steps re-sent with the
    bit-identical value (no-ops). ``replaced``: steps re-sent with a different value; the newer
    value was stored. ``keys``: the keys the append touched, sorted."""

    model_config = ConfigDict(frozen=True)

    written: int = 0
    unchanged: int = 0
    replaced: int = 0
    keys: tuple[str, ...] = ()


class SeriesSummary(BaseModel):
    """What is stored about one series, kept exact by every append (never a downsample):
    what a view shows as a series' count, step range, last value and extremes.

    ``points``: stored points. ``first_step``/``last_step``: None only for a series without
    points. ``last_value``: the value at ``last_step`` when it is a number (NaN and ±Inf
    included), else None. ``min_value``/``max_value``: over the values that are numbers, NaN
    left out (±Inf included); None when there is none. ``nan_count``: values that are NaN."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: str = "numeric"
    points: int
    first_step: int | None
    last_step: int | None
    last_value: float | None
    min_value: float | None
    max_value: float | None
    nan_count: int = 0


class Series(BaseModel):
    """One key's points in step order: ``steps`` (ints) and ``values`` (floats for numeric
    keys; for keys that also logged strings, media dicts or None, the logged values).

    Built with ``model_construct`` by the reader: the lists are not re-validated."""

    model_config = ConfigDict(frozen=True)

    key: str
    steps: list[int]
    values: list[Any]
    kind: str = "numeric"

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def build(cls, key: str, steps: list[int], values: list[Any], kind: str) -> Series:
        return cls.model_construct(key=key, steps=steps, values=values, kind=kind)

    def to_numpy(self) -> tuple[Any, Any]:
        """``(steps, values)`` as numpy arrays (int64 and float64 for numeric keys, object
        otherwise). Needs numpy (the ``pandas`` extra)."""
        try:
            import numpy as np
        except ImportError as error:
            raise MissingExtra("numpy", "pandas") from error
        dtype = np.float64 if self.kind == "numeric" else object
        return np.asarray(self.steps, dtype=np.int64), np.asarray(self.values, dtype=dtype)

    def to_pandas(self) -> Any:
        """A ``pandas.Series`` of the values indexed by step, named after the key."""
        pd = pandas()
        steps, values = self.to_numpy()
        return pd.Series(values, index=pd.Index(steps, name="step"), name=self.key)


def to_dataframe(series: Mapping[str, Series]) -> Any:
    """One ``pandas.DataFrame`` of several series (outer join on step; missing points NaN)."""
    pd = pandas()
    frames = [s.to_pandas() for s in series.values()]
    if not frames:
        return pd.DataFrame(index=pd.Index([], name="step"))
    return pd.concat(frames, axis=1, sort=True)


def pandas() -> Any:
    """The pandas module, or ``MissingExtra`` naming the extra that brings it."""
    try:
        import pandas as pd
    except ImportError as error:
        raise MissingExtra("pandas", "pandas") from error
    return pd

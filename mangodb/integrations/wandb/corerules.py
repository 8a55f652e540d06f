"""What wandb-core does to a history row before writing it, replayed in Python.

The wandb client serializes every logged value itself (media files, tables, custom charts
become JSON descriptions, a chart's table lands under ``<key>_table``) and sends wandb-core the
JSON text. wandb-core (Go: ``core/internal/stream/handler.go``, ``runhistory``, ``runmetric``)
then merges the calls into rows, applies ``define_metric`` and writes each row. The live mirror
sees the JSON the client sent and replays that second half here; ``tests/test_wandb_fidelity.py``
checks the result against ``wandb leet inspect --json`` (W&B's own reader of the file):

* A row is a tree: a JSON object is set leaf by leaf, so ``{"n": {"a": 1}}`` then
  ``{"n": {"b": 2}}`` in one row give ``n.a`` and ``n.b``, and an empty object sets nothing.
* Numbers come back as Go writes them: an integer outside int64 becomes a float, and a float
  is written in Go's shortest ``%g`` form, so an integral float below 1e6 reads back as an
  integer (``2.0`` -> ``2``, ``-0.0`` -> ``0``) while ``1e6`` stays a float.
* ``define_metric(name, step_metric=S)`` with ``step_sync`` (its default when ``S`` is given):
  when a row is committed, the last numeric ``S`` is taken from it, then every leaf that is
  ``name`` (or matches a ``prefix*`` glob; keys starting with ``_`` never do) gets that value
  of ``S`` if the row has no ``S`` (0 before any was logged). A glob is turned into a
  definition of each key the first time the key is committed. ``hidden`` and ``summary`` do
  not touch history (the summary is wandb-core's own, read live by the tracker).

Where wandb-core is not deterministic the replay picks one answer: when several globs match a
key, Go's map order decides, the replay takes the first defined.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mangodb.integrations.wandb.keys import set_path

Tree = dict[str, Any]  # a dict is a subtree; anything else (JSON lists included) is a leaf

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_G_EXPONENT_FROM = 1e6  # Go's shortest %g switches to an exponent from 1e6 on
# Keys wandb-core puts in every committed row itself: a row always "has" them.
_ALWAYS_PRESENT = frozenset({"_step", "_runtime"})


def as_written(value: Any) -> Any:
    """``value`` (decoded JSON) as wandb-core writes it back: see the module docstring."""
    kind = type(value)
    if kind is float:
        return _go_float(value)
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        try:
            return _go_float(float(value))
        except OverflowError:  # Go's ParseFloat overflows to an infinity, and keeps it
            return math.inf if value > 0 else -math.inf
    if kind is list:
        return [as_written(item) for item in value]
    if kind is dict:
        return {key: as_written(item) for key, item in value.items()}
    return value


def _go_float(value: float) -> float | int:
    if value.is_integer() and abs(value) < _G_EXPONENT_FROM:
        return int(value)  # written without '.' or exponent: read back as an integer
    return value


def set_json(row: Tree, key: str, value: Any) -> None:
    """Set one logged top-level ``key`` in ``row`` as wandb-core does (objects leaf by leaf)."""
    if not key:  # wandb-core refuses an empty key
        return
    if isinstance(value, dict):
        _set(row, [key], value)
    else:
        row[key] = value


def _set(row: Tree, path: list[str], value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _set(row, [*path, key], item)
    else:
        set_path(row, path, value)


def leaf(row: Tree, path: list[str]) -> tuple[bool, Any]:
    """``(True, value)`` if ``row`` has a leaf at ``path``, else ``(False, None)``."""
    node: Any = row
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return (False, None) if isinstance(node, dict) else (True, node)


def leaf_keys(row: Tree, prefix: str = "") -> Iterator[str]:
    """Every leaf's path, labels joined with ``"."`` (wandb-core's metric names)."""
    for key, value in row.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from leaf_keys(value, name)
        else:
            yield name


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


@dataclass(frozen=True)
class Definition:
    """One metric's definition as wandb-core keeps it (only what shapes history)."""

    step_metric: str = ""
    step_sync: bool = False


class MetricRules:
    """wandb-core's ``define_metric`` state for one run, and its effect on committed rows."""

    def __init__(self) -> None:
        self.defined: dict[str, Definition] = {}
        self.globs: dict[str, Definition] = {}
        self.latest: dict[str, float] = {}  # the last value of every step metric

    def define(
        self,
        *,
        name: str = "",
        glob: str = "",
        step_metric: str = "",
        step_sync: bool = False,
        overwrite: bool = False,
    ) -> None:
        """One ``MetricRecord`` (what ``run.define_metric`` sends wandb-core)."""
        if step_metric:
            self.latest.setdefault(step_metric, 0.0)
        table, key = (self.defined, name) if name else (self.globs, glob)
        if not key:
            return  # only an x axis: nothing else to record
        previous = Definition() if overwrite else table.get(key, Definition())
        table[key] = Definition(
            step_metric=step_metric or previous.step_metric,
            step_sync=previous.step_sync or step_sync,  # once on, Go never turns it off
        )

    def apply(self, row: Tree, step: int) -> None:
        """What wandb-core does to a row it commits at ``step`` (in place)."""
        if not self.latest and not self.globs:
            return
        for name in self.latest:
            found, value = (True, step) if name == "_step" else leaf(row, name.split("."))
            if found and _is_number(value):
                self.latest[name] = float(value)
        keys = list(leaf_keys(row))
        if self.globs:
            self._expand_globs(keys)
        for key in keys:
            definition = self.defined.get(key)
            if definition is None or not definition.step_metric or not definition.step_sync:
                continue
            step_metric = definition.step_metric
            path = step_metric.split(".")
            if step_metric in _ALWAYS_PRESENT or leaf(row, path)[0]:
                continue
            if step_metric in self.latest:
                set_path(row, path, _go_float(self.latest[step_metric]))

    def _expand_globs(self, keys: list[str]) -> None:
        for key in keys:
            if key.startswith("_") or key in self.defined:
                continue
            for glob, definition in self.globs.items():
                if key.startswith(glob.removesuffix("*")):
                    self.defined[key] = definition
                    break


def define_from_record(rules: MetricRules, record: Any) -> None:
    """Apply a ``wandb_internal_pb2.MetricRecord`` to ``rules``."""
    rules.define(
        name=record.name,
        glob=record.glob_name,
        step_metric=record.step_metric,
        step_sync=bool(record.options.step_sync),
        overwrite=bool(getattr(record, "_control").overwrite),  # noqa: B009 (a proto field)
    )


def decoded(values: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level values as wandb-core will write them."""
    return {key: as_written(value) for key, value in values.items()}

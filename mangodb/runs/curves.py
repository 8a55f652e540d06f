"""Curves per gradient method: one history key of the selected runs, grouped by method and
aggregated on shared steps (mean, std, min, max, count; the rule is in
:mod:`mangodb.history.bands`). One query reads the runs, their methods and the key's chunks.

Runs without a gradient method belong to no curve. A method of the selected runs that never
logged the key still gets a curve, with ``runs`` 0 and no steps. Errors: a ``baseline`` that
no selected run has is ``UnknownGradientMethod``; a key that no selected run logged is
``UnknownHistoryKey`` (no selected run at all gives no curves); both suggest a close name.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from mangodb.db.models import Run
from mangodb.dto import MethodCurve, MethodCurves
from mangodb.errors import UnknownGradientMethod, UnknownHistoryKey
from mangodb.history.bands import band, grid
from mangodb.history.downsample import check_max_points
from mangodb.history.reads import RunNumbers, keys_of_runs, read_numbers
from mangodb.runs.planning import Plan

METHOD = cast(Table, Run.__table__).c.gradient_method


def by_method(
    session: Session,
    plan: Plan,
    key: str,
    *,
    baseline: str | None,
    max_points: int,
    use_numpy: bool = True,
) -> MethodCurves:
    """See the module docstring; ``use_numpy=False`` forces the pure-Python path."""
    check_max_points(max_points)
    np = numpy() if use_numpy else None
    read = read_numbers(session, key, plan.where, METHOD, np=np)
    groups: dict[str, list[RunNumbers]] = {m: [] for m in read.groups if m is not None}
    for run in read.runs:
        if run.group is not None:
            groups[run.group].append(run)
    if baseline is not None and baseline not in groups:
        raise UnknownGradientMethod(baseline, _unknown_method(baseline, sorted(groups)))
    if read.groups and not any(len(run.steps) for run in read.runs):
        raise UnknownHistoryKey(key, _unknown_key(key, keys_of_runs(session, plan.where)))
    steps = grid([run for members in groups.values() for run in members], max_points, np)
    order = sorted(groups, key=lambda method: (method != baseline, method))
    curves = []
    for method in order:
        found = band(groups[method], steps, np)
        curves.append(
            MethodCurve(
                method=method,
                runs=found.runs,
                steps=tuple(found.steps),
                mean=tuple(found.mean),
                std=tuple(found.std),
                min=tuple(found.min),
                max=tuple(found.max),
                count=tuple(found.count),
            )
        )
    return MethodCurves(key=key, max_points=max_points, curves=tuple(curves))


def _close(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_method(method: str, methods: list[str]) -> str:
    if not methods:
        return f"no selected run has a gradient method, so none can be the baseline {method!r}"
    return (
        f"no selected run has gradient method {method!r}{_close(method, methods)} "
        f"(methods: {', '.join(methods)})"
    )


def _unknown_key(key: str, keys: list[str]) -> str:
    if key in keys:
        return f"the selected runs logged no number for history key {key!r}"
    shown = ", ".join(keys[:20]) + (", …" if len(keys) > 20 else "")
    return (
        f"no selected run logged history key {key!r}{_close(key, keys)}"
        + (f" (keys: {shown})" if keys else " (the selected runs have no history)")
    )


@functools.cache
def numpy() -> Any:
    """numpy when it is importable (the ``fast`` extra), else None."""
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None

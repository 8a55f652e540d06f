"""Normalising the accepted input forms into columns ``{key: (steps, values)}``.

Accepted forms:

* columns: ``{"loss": (steps, values), ...}`` (a 2-tuple of sequences, or any object with
  ``.steps`` and ``.values`` such as a read ``Series``);
* rows: ``[{"_step": 3, "loss": 0.1, ...}, ...]``; a row without ``_step`` gets the step after
  the previous row's (the first one gets 0);
* legacy: ``{"loss": [values...], ...}`` (``history_json`` of ``update_run_status``); a ``_step``
  column, when present, gives the steps of every column, otherwise steps are 0..n-1.

Steps must be non-negative integers (integral floats such as ``3.0`` are accepted), keys
non-empty strings. Anything else raises ``ValidationError`` before a write starts.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any, NamedTuple

from mangodb.db.models import KEY_LENGTH
from mangodb.dto import check_text as check_unicode
from mangodb.errors import ValidationError

STEP_KEY = "_step"
MAX_STEP = 2**63 - 1


class Column(NamedTuple):
    """One key's points, sorted by step, each step once (a re-sent step keeps its last value).
    ``consecutive``: the steps go up by exactly 1 (the codec then stores no step bytes)."""

    steps: list[int]
    values: list[Any]
    consecutive: bool


Columns = dict[str, Column]
_Checked = dict[int, tuple[list[Any], "list[int] | None"]]


def to_columns(data: Any) -> Columns:
    """Validate ``data`` (columns, rows or legacy form) and return columns."""
    if isinstance(data, Mapping):
        if data and all(_is_column(value) for value in data.values()):
            return _from_columns(data)
        return _from_legacy(data)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ValidationError(
            f"history must be columns, rows or {{key: [values]}}, not {type(data).__name__}"
        )
    return _from_rows(data)


def column(
    key: Any, steps: Iterable[Any], values: Iterable[Any], checked: _Checked | None = None
) -> Column:
    """Validate one key's steps and values and sort them by step. ``checked`` remembers step
    lists already found consecutive, for keys sharing one list of steps."""
    check_key(key)
    value_list = values if type(values) is list else list(values)
    run = _consecutive(steps, checked)
    if run is not None and len(run) == len(value_list):
        if run[0] < 0 or run[-1] > MAX_STEP:
            raise ValidationError(f"{key}: steps must be in 0..2**63-1, got {run[0]}..{run[-1]}")
        return Column(run, value_list, True)
    step_list = _steps(steps)
    if len(step_list) != len(value_list):
        raise ValidationError(
            f"{key}: {len(step_list)} steps but {len(value_list)} values (lengths must match)"
        )
    return ordered(key, step_list, value_list)


def ordered(key: str, steps: list[int], values: list[Any]) -> Column:
    """Points sorted by step; a step given twice keeps its last value."""
    n = len(steps)
    if n == 0:
        return Column(steps, values, True)
    consecutive = steps[-1] - steps[0] == n - 1 and steps == list(range(steps[0], steps[-1] + 1))
    if not consecutive and not all(map(operator.lt, steps, islice(steps, 1, None))):
        merged = sorted(dict(zip(steps, values, strict=True)).items())
        steps, values = [s for s, _ in merged], [v for _, v in merged]
    if steps[0] < 0:
        raise ValidationError(f"{key}: steps must be non-negative, got {steps[0]}")
    return Column(steps, values, consecutive)


def check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise ValidationError(f"history keys must be strings, got {type(key).__name__}")
    if not key or len(key) > KEY_LENGTH or "\x00" in key:
        raise ValidationError(f"history key {key!r} must be 1..{KEY_LENGTH} characters, no NUL")
    return check_unicode(key, f"history key {key!r}")


def step_value(value: Any) -> int:
    """One step as an int: a non-negative integer (``3.0`` is accepted, ``True`` is not)."""
    if isinstance(value, bool):
        raise ValidationError("step must be an integer, got a bool")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        step = operator.index(value)
    except TypeError:
        raise ValidationError(f"step must be an integer, got {type(value).__name__}") from None
    if step < 0 or step > MAX_STEP:
        raise ValidationError(f"step must be in 0..2**63-1, got {step}")
    return step


def _consecutive(steps: Iterable[Any], checked: _Checked | None) -> list[int] | None:
    """The common case, checked in C: a list of steps going up by 1 becomes that range (as
    pure ints); None when ``steps`` is anything else."""
    if type(steps) is not list or not steps:
        return None
    if checked is not None:
        known = checked.get(id(steps))
        if known is not None and known[0] is steps:
            return known[1]
    first, last = steps[0], steps[-1]
    if type(first) is not int or type(last) is not int or last - first != len(steps) - 1:
        run = None
    else:
        run = list(range(first, last + 1))
        run = run if run == steps else None
    if checked is not None:
        checked[id(steps)] = (steps, run)  # holds ``steps`` so its id is not reused
    return run


def _steps(steps: Iterable[Any]) -> list[int]:
    """Steps as a list of ints: checked by ``array`` in C, one by one only when that fails
    (integral floats such as ``3.0``, or values out of the int64 range)."""
    if isinstance(steps, range):
        return list(steps)
    try:
        packed = array("q", steps)
    except (TypeError, OverflowError):
        return [step_value(s) for s in steps]
    return steps if type(steps) is list else packed.tolist()


def _is_column(value: Any) -> bool:
    if hasattr(value, "steps") and hasattr(value, "values") and not isinstance(value, Mapping):
        return True
    return isinstance(value, tuple) and len(value) == 2 and all(map(_is_sequence, value))


def _is_sequence(value: Any) -> bool:
    return not isinstance(value, (str, bytes, Mapping)) and hasattr(value, "__len__")


def _from_columns(data: Mapping[Any, Any]) -> Columns:
    columns: Columns = {}
    checked: _Checked = {}
    for key, value in data.items():
        steps, values = (value.steps, value.values) if hasattr(value, "steps") else value
        columns[key] = column(key, steps, values, checked)
    return columns


def _from_legacy(data: Mapping[Any, Any]) -> Columns:
    for key, value in data.items():
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise ValidationError(f"history column {key!r} must be a list of values")
    given = data.get(STEP_KEY)
    steps = _steps(given) if given is not None else None
    columns: Columns = {}
    checked: _Checked = {}
    for key, value in data.items():
        if key == STEP_KEY:
            continue
        values = list(value)
        given_steps = steps if steps is not None else list(range(len(values)))
        columns[key] = column(key, given_steps, values, checked)
    return columns


def _from_rows(rows: Iterable[Any]) -> Columns:
    columns: dict[str, tuple[list[int], list[Any]]] = {}
    step = -1
    for row in rows:
        if not isinstance(row, Mapping):
            raise ValidationError(f"a history row must be a mapping, got {type(row).__name__}")
        given = row.get(STEP_KEY)
        step = step + 1 if given is None else step_value(given)
        for key, value in row.items():
            if key == STEP_KEY:
                continue
            points = columns.get(key)
            if points is None:
                points = columns[check_key(key)] = ([], [])
            points[0].append(step)
            points[1].append(value)
    return {key: ordered(key, steps, values) for key, (steps, values) in columns.items()}


def rows_to_columns(rows: Sequence[tuple[int, Mapping[str, Any]]]) -> Columns:
    """Columns of ``(step, row)`` pairs already validated (the buffered writer's rows)."""
    columns: dict[str, tuple[list[int], list[Any]]] = {}
    for step, row in rows:
        for key, value in row.items():
            points = columns.get(key)
            if points is None:
                points = columns[key] = ([], [])
            points[0].append(step)
            points[1].append(value)
    return {key: ordered(key, steps, values) for key, (steps, values) in columns.items()}

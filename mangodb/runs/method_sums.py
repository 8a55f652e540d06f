"""``method_report``'s aggregates, run counts, declared directions and moments read from the
per-method sums the database keeps (migration 0010): a few rows per method instead of every
objective row, when the runs are chosen by status, gradient method and archive mark only (the
default: every run in view; ``compare --baseline``: the completed ones) and the question is
about all their objectives.

The sums are the ``*_sums`` tables plus the ``*_deltas`` waiting to be folded into them
(PostgreSQL), added up here. They hold what the scans compute (see
:mod:`mangodb.runs.method_report`), so the figures agree to rounding. Where they could not be
exact enough, :func:`read` returns None and the report scans the rows as before: a value too
large or small to square (``unsummable``), or a variance or covariance whose one-pass formula
(Σx² − n·mean², Σab − ...) would cancel more than ``_DIGITS_KEPT`` of the 16 digits (a spread
tiny beside the mean, as for a constant)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Numeric, cast, func, select, union_all
from sqlalchemy.orm import Session

from mangodb.db.models import (
    MethodObjectiveDeltas,
    MethodObjectiveSums,
    MethodPairDeltas,
    MethodPairSums,
    MethodRunDeltas,
    MethodRunSums,
)
from mangodb.runs import method_maths
from mangodb.runs.filters import FIELDS, And, FieldFilter, Filter
from mangodb.runs.planning import Plan

# The one-pass sums are used while the subtraction keeps this share of the terms' size
# (at most 6 of the 16 digits lost), as ``method_report._ONE_PASS_SHARE`` for SQLite's scan.
_DIGITS_KEPT = 1e-6


@dataclass(frozen=True)
class _Selection:
    """The runs a plan selects when it selects on the copies the sums are keyed by."""

    marks: tuple[int, ...]  # archived: 0 in view, 1 archived
    statuses: tuple[str, ...] | None  # None: any
    methods: tuple[str, ...] | None


def _selection(filters: Sequence[Filter]) -> _Selection | None:
    """``filters`` as a selection on (method, archived, status), or None: they compare
    something else (or those in another way than =, in, is null, is not null)."""
    items: list[Filter] = []
    pending = list(filters)
    while pending:
        item = pending.pop()
        if isinstance(item, And):
            pending.extend(item.items)
        else:
            items.append(item)
    marks: tuple[int, ...] = (0, 1)
    chosen: dict[str, tuple[str, ...] | None] = {"status": None, "gradient_method": None}
    for item in items:
        if not isinstance(item, FieldFilter):
            return None
        column = FIELDS[item.field].key
        if column == "archived_at" and item.op in ("is null", "is not null"):
            marks = tuple(m for m in marks if m == (0 if item.op == "is null" else 1))
        elif column in chosen and item.op in ("=", "in"):
            values = (item.value,) if item.op == "=" else tuple(item.value)
            named = tuple(str(getattr(v, "value", v)) for v in values)
            was = chosen[column]
            chosen[column] = named if was is None else tuple(v for v in was if v in named)
        else:
            return None
    return _Selection(marks, chosen["status"], chosen["gradient_method"])


@dataclass(frozen=True)
class Summed:
    aggregates: dict[tuple[str, str], method_maths.Aggregate]
    run_counts: dict[str, int]
    counts: dict[str, list[int]]  # objective -> [rows saying max, rows saying min]
    moments: dict[str, method_maths.Moments]


@dataclass
class _Objective:
    rows: int = 0
    says_max: int = 0
    valued: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    nan: int = 0
    unsummable: int = 0
    n: int = 0
    s: float = 0.0
    q: float = 0.0


class _Inexact(Exception):
    """The sums cannot give a figure exactly enough: scan instead."""


def _summed(
    chosen: _Selection, base: Any, deltas: Any, key: Sequence[str], columns: Sequence[str]
) -> Any:
    """One statement: per ``key``, the sums' rows (each sum plus its compensation, where the
    table has one) and the deltas, added up by the database: exactly, as numeric, on
    PostgreSQL, so a value in flight (added in one, taken back in the other) cancels."""

    def stored(name: str) -> Any:
        column = getattr(base, name)
        compensation = getattr(base, f"{name}_c", None)
        return (column if compensation is None else column + compensation).label(name)

    def waiting(name: str) -> Any:
        column = getattr(deltas, name)
        exact = cast(column, Numeric) if hasattr(base, f"{name}_c") else column
        return exact.label(name)

    def where(table: Any) -> list[Any]:
        conditions = [table.archived.in_(list(chosen.marks))]
        if chosen.statuses is not None:
            conditions.append(table.status.in_(list(chosen.statuses)))
        if chosen.methods is not None:
            conditions.append(table.method.in_(list(chosen.methods)))
        return conditions

    both = union_all(
        select(*(getattr(base, k) for k in key), *(stored(c) for c in columns)).where(*where(base)),
        select(*(getattr(deltas, k) for k in key), *(waiting(c) for c in columns)).where(
            *where(deltas)
        ),
    ).subquery("summed")
    keys = [both.c[k] for k in key]
    return select(*keys, *(func.sum(both.c[c]) for c in columns)).group_by(*keys)


_OBJECTIVE_COLUMNS = (
    "rows", "says_max", "valued", "pos_inf", "neg_inf", "nan", "unsummable", "n", "s", "q",
)  # fmt: skip


def _objectives(session: Session, chosen: _Selection) -> dict[tuple[str, str], _Objective]:
    statement = _summed(
        chosen, MethodObjectiveSums, MethodObjectiveDeltas, ("method", "name"), _OBJECTIVE_COLUMNS
    )
    found: dict[tuple[str, str], _Objective] = defaultdict(_Objective)
    for method, name, *numbers in session.connection().execute(statement):
        o = found[(method, name)]
        for column, number in zip(_OBJECTIVE_COLUMNS, numbers, strict=True):
            kind = float if column in ("s", "q") else int
            setattr(o, column, getattr(o, column) + kind(number or 0))
    return {k: o for k, o in found.items() if o.rows}


def _mean_and_squares(o: _Objective) -> tuple[float | None, float | None]:
    """The mean (as AVG gives it: NaN as None, ±Inf) and Σ(x − mean)² where defined."""
    if o.unsummable:
        raise _Inexact
    if o.nan or (o.pos_inf and o.neg_inf):
        return None, None
    if o.pos_inf or o.neg_inf:
        return (math.inf if o.pos_inf else -math.inf), None
    if not o.n:
        return None, None
    mean = o.s / o.n
    if o.n == 1:
        return mean, 0.0
    squares = o.q - o.s * mean
    if o.q and squares < _DIGITS_KEPT * o.q:
        raise _Inexact
    return mean, max(squares, 0.0)


def _pairs(
    session: Session, chosen: _Selection
) -> dict[tuple[str, str, str], tuple[int, float, float, float]]:
    columns = ("n", "sa", "sb", "sab")
    statement = _summed(chosen, MethodPairSums, MethodPairDeltas, ("method", "a", "b"), columns)
    found: dict[tuple[str, str, str], tuple[int, float, float, float]] = {}
    for method, a, b, n, sa, sb, sab in session.connection().execute(statement):
        was = found.get((method, a, b), (0, 0.0, 0.0, 0.0))
        found[(method, a, b)] = (
            was[0] + int(n), was[1] + float(sa), was[2] + float(sb), was[3] + float(sab)
        )  # fmt: skip
    return {k: v for k, v in found.items() if v[0]}


def _covariance(
    sums: tuple[int, float, float, float], means: tuple[float, float], squares: tuple[float, float]
) -> float:
    """Σ(a − mean_a)(b − mean_b) / n over the runs having both, from their sums."""
    n, sa, sb, sab = sums
    ma, mb = means
    terms = (sab, mb * sa, ma * sb, n * ma * mb)
    centred = sab - mb * sa - ma * sb + n * ma * mb
    if sum(abs(t) for t in terms) * _DIGITS_KEPT > math.sqrt(squares[0] * squares[1]):
        raise _Inexact
    return centred / n


def read(session: Session, plan: Plan, names: Sequence[str] | None) -> Summed | None:
    """The report's inputs from the sums, or None: the plan selects on more than status,
    method and archive mark, only some objectives are asked for, or a figure would not be
    exact enough."""
    chosen = _selection(plan.filters)
    if chosen is None or names is not None:
        return None
    try:
        return _read(session, chosen)
    except _Inexact:
        return None


def _read(session: Session, chosen: _Selection) -> Summed:
    objectives = _objectives(session, chosen)
    runs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    statement = _summed(
        chosen, MethodRunSums, MethodRunDeltas, ("method",), ("runs", "valued_runs")
    )
    for method, count, valued in session.connection().execute(statement):
        runs[method][0] += int(count)
        runs[method][1] += int(valued)
    aggregates: dict[tuple[str, str], method_maths.Aggregate] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    spread: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for (method, name), o in objectives.items():
        counts[name][0] += o.says_max
        counts[name][1] += o.rows - o.says_max
        mean, squares = spread[(method, name)] = _mean_and_squares(o)
        std = None
        if squares is not None and o.valued >= 2:
            std = math.sqrt(squares / (o.valued - 1))
        aggregates[(method, name)] = method_maths.Aggregate(o.valued, mean, std)
    pairs = _pairs(session, chosen)
    moments = {
        method: _moments(method, valued, sorted(counts), objectives, spread, pairs)
        for method, (_, valued) in runs.items()
        if valued
    }
    run_counts = {method: count for method, (count, _) in runs.items() if count}
    return Summed(aggregates, run_counts, dict(counts), moments)


def _moments(
    method: str,
    valued: int,
    names: Sequence[str],
    objectives: Mapping[tuple[str, str], _Objective],
    spread: Mapping[tuple[str, str], tuple[float | None, float | None]],
    pairs: Mapping[tuple[str, str, str], tuple[int, float, float, float]],
) -> method_maths.Moments:
    """What :func:`method_report._moments_in_sql` sums, for one method. (An infinite or
    undefined mean makes Δm and its interval undefined: its covariances are never used.)"""
    means = {n: spread.get((method, n), (None, None))[0] for n in names}
    covariances: dict[tuple[str, str], float] = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            ma, mb = means[a], means[b]
            qa, qb = (
                spread.get((method, a), (None, None))[1],
                spread.get((method, b), (None, None))[1],
            )
            c = 0.0  # also where a spread is 0: one value, or all 0 (every deviation is 0)
            finite = ma is not None and mb is not None and math.isfinite(ma) and math.isfinite(mb)
            if finite and qa and qb:
                assert ma is not None and mb is not None
                if a == b:
                    c = qa / objectives[(method, a)].n
                else:
                    key = (method, a, b) if (method, a, b) in pairs else (method, b, a)
                    if key in pairs:
                        c = _covariance(pairs[key], (ma, mb) if key[1] == a else (mb, ma), (qa, qb))
            covariances[(a, b)] = covariances[(b, a)] = c
    return method_maths.Moments(
        runs=valued,
        means=means,
        counts={
            n: objectives[(method, n)].valued if (method, n) in objectives else 0 for n in names
        },
        covariances=covariances,
    )

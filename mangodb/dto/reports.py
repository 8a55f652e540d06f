"""DTOs of the analyses and maintenance reports: method comparisons and reports, curves per
method, crash groups, purge reports. Frozen, like every read."""

from __future__ import annotations

import datetime as dt

from mangodb.dto.core import (
    Direction,
    _Read,
)


class MethodComparison(_Read):
    """Statistics of one gradient method on one objective (NaN values excluded)."""

    gradient_method: str | None
    objective: str
    direction: Direction
    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    median: float | None
    best_run_id: str | None
    best_value: float | None


class CrashGroup(_Read):
    """Crash reports sharing an error type and fingerprint (``crash_groups``): how many
    reports and runs, first and last time (occurred, else recorded), the runs' instance
    types, the newest run ids (at most ``sample``) and the newest message."""

    error_type: str | None
    fingerprint: str | None
    reports: int
    runs: int
    first_at: dt.datetime | None
    last_at: dt.datetime | None
    instance_types: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    message: str | None = None


class ReportObjective(_Read):
    """An objective of a ``MethodReport`` and its direction (the one most of its rows declare)."""

    name: str
    direction: Direction


class ObjectiveStats(_Read):
    """One method on one objective: NaN and never-set values left out. ``ci95`` is a 95%
    confidence interval of the mean (None when n < 2 or without scipy); ``p_value`` is Welch's
    t-test against the baseline's values (None when either side has fewer than 2 values)."""

    mean: float | None
    std: float | None
    n: int
    ci95: tuple[float, float] | None
    p_value: float | None


class MethodRow(_Read):
    """One gradient method of a ``MethodReport``. ``delta_m`` is Δm% against the baseline
    (Maninis et al. 2019; lower is better); ``missing`` names the objectives the method has no
    value for, and ``delta_m_note`` says why ``delta_m`` is None or over fewer objectives."""

    method: str
    runs: int
    objectives: dict[str, ObjectiveStats]
    delta_m: float | None
    delta_m_ci95: tuple[float, float] | None
    mean_rank: float | None
    pareto_optimal: bool
    missing: tuple[str, ...] = ()
    delta_m_note: str | None = None


class MethodReport(_Read):
    """Gradient methods against a baseline on several objectives at once. ``rows`` are sorted
    by ``delta_m`` (undefined last), the baseline's row included; ``statistics`` is False when
    scipy is not installed (then p-values and intervals are None)."""

    baseline: str
    objectives: tuple[ReportObjective, ...]
    rows: tuple[MethodRow, ...]
    statistics: bool


class PurgeReport(_Read):
    """What ``purge_runs`` deleted (or, with ``dry_run``, would delete): the runs, the rows of
    every table that belonged to them, and the S3 keys of their crash artefacts (which the
    database does not delete; ``mangodb runs purge --with-artifacts`` does)."""

    dry_run: bool
    run_ids: tuple[str, ...]
    rows: dict[str, int]
    artifacts: tuple[str, ...]
    batches: int


class ArchiveReport(_Read):
    """What ``archive_runs`` or ``unarchive_runs`` changed (or, with ``dry_run``, would
    change): the runs, in insertion order, and the number of short transactions it took."""

    dry_run: bool
    archived: bool  # True: the runs were archived; False: brought back
    run_ids: tuple[str, ...]
    batches: int


class MethodCurve(_Read):
    """One gradient method's curve of a history key over its runs (seeds), on steps shared by
    every method's curve: at each step the ``mean``, sample ``std`` (None under 2 runs),
    ``min`` and ``max`` of the runs' values and the ``count`` of runs contributing (runs that
    stopped early leave the later steps; NaN is left out, a step of NaN only has count 0 and
    None figures). ``runs``: runs with at least one point for the key. ±Inf shows in
    ``min``/``max`` and makes ``mean`` ±Inf; JSON writes null for it. Bucketing: see
    ``RunRepository.history_by_method``."""

    method: str
    runs: int
    steps: tuple[int, ...]
    mean: tuple[float | None, ...]
    std: tuple[float | None, ...]
    min: tuple[float | None, ...]
    max: tuple[float | None, ...]
    count: tuple[int, ...]


class MethodCurves(_Read):
    """``history_by_method``: one ``MethodCurve`` per gradient method of the selected runs,
    the baseline's first when one was given, then by method name."""

    key: str
    max_points: int
    curves: tuple[MethodCurve, ...]

"""``method_report``: the per-objective aggregates of the selected runs computed by the
database, the figures by :mod:`mangodb.runs.method_maths`. On PostgreSQL the aggregates (n,
mean, variance, declared directions, runs per method) are one statement of hash aggregates;
SQLite has no variance, so it sums values and squares in one pass (squared deviations in a
second one where that would lose digits), then counts the runs per method. With scipy, Δm's
interval needs the per-run values of small samples (fetched, one query) and the moments of
large ones, from one grouping of the rows by run that also counts the runs per method
(PostgreSQL sums the moments in that statement; SQLite's rows go to numpy, faster there).

Runs without a gradient method are left out; NaN and never-set values are left out of their
objective; the direction of an objective is the one most of its rows declare (``min`` unless
``max`` is in the majority), as in ``compare_gradient_methods``."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Numeric,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from mangodb.db.models import Run, RunObjective
from mangodb.dto import Direction, MethodReport
from mangodb.errors import MethodNotFound, ValidationError
from mangodb.language.semantics import suggest
from mangodb.runs import method_deltas, method_maths, method_sums
from mangodb.runs.analysis import _on_objectives
from mangodb.runs.planning import Plan


def _source(plan: Plan, names: Sequence[str] | None) -> tuple[Any, Any, tuple[Any, ...]]:
    """The method column, the run key column and the WHERE of the objective rows selected:
    on ``run_objectives`` alone when the criteria are on status and method only."""
    chosen: tuple[ColumnElement[bool], ...] = ()
    if names is not None:
        chosen = (RunObjective.name.in_(list(names)),)
    moved = _on_objectives(plan)
    if moved is None:
        method: Any = Run.gradient_method
        where = (RunObjective.run_pk == Run.id, *chosen, *plan.where, method.is_not(None))
    else:
        method = RunObjective.run_gradient_method
        where = (*chosen, *moved, method.is_not(None))
    return method, RunObjective.run_pk, where


def _directions(counts: Mapping[str, list[int]], names: Sequence[str] | None) -> dict[str, Any]:
    order = list(names) if names is not None else sorted(counts)
    return {n: ("max" if counts[n][0] > counts[n][1] else "min") for n in order if n in counts}


Aggregates = dict[tuple[str, str], method_maths.Aggregate]


def _fetch_runs(
    session: Session, plan: Plan, names: Sequence[str] | None, methods: Sequence[str]
) -> dict[str, list[dict[str, float]]]:
    """One query: method, run, objective and value of every selected objective row of the
    given methods that has a value (NaN and never-set values are NULL), as each method's
    runs. Read through the Core connection: plain tuples, no ORM row processing."""
    method, run_pk, where = _source(plan, names)
    value = RunObjective.value
    statement = select(method, run_pk, RunObjective.name, value).where(
        *where, value.is_not(None), method.in_(list(methods))
    )
    runs: dict[str, dict[int, dict[str, float]]] = defaultdict(dict)
    for m, pk, name, number in session.connection().execute(statement).all():
        runs[m].setdefault(pk, {})[name] = number
    return {m: list(by_run.values()) for m, by_run in runs.items()}


Moments = dict[str, method_maths.Moments]


def _per_run(plan: Plan, names: Sequence[str]) -> Any:
    """One row per selected run (a grouping by run, which also counts the runs: no probe per
    run as in :func:`_runs_per_method`): its method, how many values it has, its value of each
    of ``names`` (NULL for none). SQLite reads the (run_pk, name) index in order, no sort."""
    method, run_pk, where = _source(plan, names)
    value, name = RunObjective.value, RunObjective.name
    return (
        select(
            func.max(method).label("method"),
            func.count(value).label("valued"),
            *(func.max(case((name == n, value))).label(f"v{i}") for i, n in enumerate(names)),
        )
        .where(*where)
        .group_by(run_pk)
    )


def _moments_in_numpy(
    session: Session, plan: Plan, names: Sequence[str]
) -> tuple[Moments, dict[str, int]]:
    """The moments of each method's runs (Δm's interval of a large sample) and the runs per
    method from :func:`_per_run`'s rows, read as plain tuples into one numpy matrix (SQLite:
    its VDBE sums the deviation products of 100,000 runs slower than numpy does, measured)."""
    import numpy as np

    result = session.connection().execute(_per_run(plan, names))
    rows = result.cursor.fetchall()  # the driver's tuples: no Row object per run
    result.close()
    run_counts = dict(Counter(row[0] for row in rows))
    valued = [row for row in rows if row[1]]
    if not valued or max(run_counts.values()) <= method_maths.EXACT_BOOTSTRAP_RUNS:
        return {}, run_counts  # small samples only: their runs give Δm's interval
    methods = np.array([row[0] for row in valued], dtype=object)
    matrix = np.array([row[2:] for row in valued], dtype=np.float64).reshape(len(valued), -1)
    moments = {
        str(m): method_maths.moments_of(matrix[methods == m], names) for m in sorted(set(methods))
    }
    return moments, run_counts


def _moments_in_sql(
    session: Session,
    plan: Plan,
    names: Sequence[str],
    aggregates: Aggregates,
    skip: Collection[str] = (),
) -> tuple[Moments, dict[str, int]]:
    """The moments of each method's runs (Δm's interval of a large sample) and the runs per
    method, summed by the database in one statement (PostgreSQL): :func:`_per_run`, then per
    method the products of the runs' deviations from the method's means (the ``aggregates``'
    ones, bound as a table of literals: the two-pass sums ``numpy.ma.cov`` makes, no
    cancellation). Only sums per method leave the database, not a row per run. (An infinite
    value makes its mean infinite or undefined, so Δm and its interval too: those moments
    are never used. The methods to ``skip``, holding a value of ``HUGE`` or more, or one under
    ``TINY`` but not 0, get no moments, their deviations NULL: float8 products would overflow
    or underflow. Their runs are fetched.)"""
    k = len(names)
    per_run = _per_run(plan, names).subquery("per_run")
    methods = sorted({m for m, _ in aggregates})
    # A table of literals (SQLite has no column names on VALUES): a row of means per method,
    # cast once there (PostgreSQL would type a NULL alone as text, a literal as numeric).
    means = union_all(
        *(
            select(
                literal(m, String).label("method"),
                *(
                    cast(
                        literal(None if m in skip else _mean(aggregates, m, n), Double), Double
                    ).label(f"m{i}")
                    for i, n in enumerate(names)
                ),
            )
            for m in methods
        )
    ).subquery("means")
    v = [per_run.c[f"v{i}"] for i in range(k)]
    d = [v[i] - means.c[f"m{i}"] for i in range(k)]
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    statement = (
        select(
            per_run.c.method,
            func.count(),
            func.count(case((per_run.c.valued > 0, 1))),
            *(func.count(v[i]) for i in range(k)),
            *(func.count(d[i] * d[j]) for i, j in pairs),
            *(func.sum(d[i] * d[j]) for i, j in pairs),
        )
        .join_from(per_run, means, per_run.c.method == means.c.method, isouter=True)
        .group_by(per_run.c.method)
    )
    moments: Moments = {}
    run_counts: dict[str, int] = {}
    for row in session.connection().execute(statement):
        m, run_counts[row[0]], runs, counts = row[0], int(row[1]), row[2], row[3 : 3 + k]
        both, sums = row[3 + k : 3 + k + len(pairs)], row[3 + k + len(pairs) :]
        if not runs or m in skip:
            continue  # no value at all: no moments (as no row), only its runs
        covariances: dict[tuple[str, str], float] = {}
        for (i, j), n_ij, s_ij in zip(pairs, both, sums, strict=True):
            c = float(s_ij) / n_ij if n_ij and s_ij is not None else 0.0
            covariances[(names[i], names[j])] = covariances[(names[j], names[i])] = c
        moments[m] = method_maths.Moments(
            runs=int(runs),
            means={n: _mean(aggregates, m, n) for n in names},
            counts={n: int(c) for n, c in zip(names, counts, strict=True)},
            covariances=covariances,
        )
    return moments, run_counts


def _mean(aggregates: Aggregates, method: str, name: str) -> float | None:
    aggregate = aggregates.get((method, name))
    return None if aggregate is None else aggregate.mean


def _runs_per_method(plan: Plan, names: Sequence[str] | None) -> Any:
    """Runs per method as the selected runs having a selected objective row (an index probe
    each), not distinct run keys over every objective row (a sort or hash of them all)."""
    chosen = () if names is None else (RunObjective.name.in_(list(names)),)
    having = select(RunObjective.run_pk).where(RunObjective.run_pk == Run.id, *chosen).exists()
    return (
        select(Run.gradient_method.label("method"), func.count().label("runs"))
        .where(*plan.where, Run.gradient_method.is_not(None), having)
        .group_by(Run.gradient_method)
    )


# The grouping by run sorts the selected objective rows: at 100,000 runs x 9 objectives the
# default 4 MB spilled each worker's sort to disk (13 MB each); 64 MB keeps them in memory and
# the moments statement took 1.08 s instead of 1.39-1.46 s (EXPLAIN ANALYZE, same session;
# 32 MB: 1.37 s, 128 MB: 1.20 s). Local to the report's transaction, like the JIT setting.
ANALYSIS_WORK_MEM = "64MB"


def _analysis_settings(session: Session) -> None:
    """For this transaction only (``set_config(..., true)``, so also behind PgBouncer in
    transaction mode): JIT off, since PostgreSQL compiles these statements (their cost is over
    ``jit_above_cost`` at 100,000 runs) and the compiling takes longer than it saves (0.4-0.6 s
    of code generation for the moments at 100,000 runs x 9 objectives, for nine rows out); and
    ``work_mem`` raised to ``ANALYSIS_WORK_MEM`` so the grouping by run sorts in memory."""
    session.execute(select(func.set_config("jit", "off", True)))
    session.execute(select(func.set_config("work_mem", ANALYSIS_WORK_MEM, True)))


def _aggregate(n: int, mean: Any, squares: Any) -> method_maths.Aggregate:
    """n, mean and the sum of squared deviations from the mean -> n, mean, sample std."""
    if mean is None or n == 0:
        return method_maths.Aggregate(n, None, None)
    mean = float(mean)
    if not math.isfinite(mean) or n < 2 or squares is None or not math.isfinite(float(squares)):
        return method_maths.Aggregate(n, None if math.isnan(mean) else mean, None)
    return method_maths.Aggregate(n, mean, math.sqrt(max(float(squares), 0.0) / (n - 1)))


# The values whose squares or sums could overflow float8 (PostgreSQL raises), and, not 0,
# whose deviations' products could underflow (it raises too), as the sums of 0010 leave out:
# the methods holding one get no moments in SQL (their runs are fetched).
HUGE, TINY = method_deltas.HUGE, method_deltas.TINY


def _postgres_aggregates(
    session: Session, plan: Plan, names: Sequence[str] | None, with_runs: bool
) -> tuple[Aggregates, dict[str, int], dict[str, list[int]], set[str]]:
    """One statement: per (method, objective) n, mean, variance and declared directions (a hash
    aggregate), joined to the runs per method ``with_runs`` (else no run counts)."""
    method, _, where = _source(plan, names)
    value = RunObjective.value
    # float8 sums raise on overflow: values of 1e150 or more (finite) are averaged as numeric,
    # in a second statement for the groups holding one, and leave no std (as on SQLite).
    huge = and_(func.abs(value) >= HUGE, value < math.inf, value > -math.inf)
    summed = case((huge, None), else_=value)
    stats = (
        select(
            method.label("method"),
            RunObjective.name.label("name"),
            func.count(value).label("n"),
            func.avg(summed).label("mean"),
            func.var_samp(summed).label("var"),
            func.count().filter(huge).label("huge"),
            func.count().filter(and_(value != 0, func.abs(value) < TINY)).label("tiny"),
            func.count().filter(RunObjective.direction == "max").label("says_max"),
            func.count().filter(RunObjective.direction != "max").label("says_min"),
        )
        .where(*where)
        .group_by(method, RunObjective.name)
        .subquery("stats")
    )
    statement: Any = select(stats)
    if with_runs:
        runs = _runs_per_method(plan, names).subquery("runs")
        statement = select(stats, runs.c.runs).join_from(
            stats, runs, stats.c.method == runs.c.method
        )
    aggregates: Aggregates = {}
    run_counts: dict[str, int] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    huge_groups: list[tuple[str, str]] = []
    tiny_methods: set[str] = set()
    for row in session.connection().execute(statement):
        if with_runs:
            run_counts[row.method] = int(row.runs)
        counts[row.name][0] += int(row.says_max)
        counts[row.name][1] += int(row.says_min)
        n = int(row.n)
        if row.tiny:
            tiny_methods.add(row.method)
        if row.huge:
            huge_groups.append((row.method, row.name))
            continue
        squares = None if row.var is None else float(row.var) * (n - 1)
        aggregates[(row.method, row.name)] = _aggregate(n, row.mean, squares)
    if huge_groups:
        exact = (
            select(method, RunObjective.name, func.count(value), func.avg(cast(value, Numeric)))
            .where(*where, tuple_(method, RunObjective.name).in_(huge_groups))
            .group_by(method, RunObjective.name)
        )
        for m, name, n, mean in session.connection().execute(exact):
            aggregates[(m, name)] = _aggregate(int(n), mean, None)
    return aggregates, run_counts, counts, {m for m, _ in huge_groups} | tiny_methods


# The one-pass variance, (Σv² − n·mean²) / (n − 1), is kept when the subtraction leaves at
# least this share of Σv² (so rounding costs at most a few digits of the 16); otherwise (a
# spread tiny beside the mean) the squared deviations are summed in a second pass.
_ONE_PASS_SHARE = 1e-6


def _sqlite_aggregates(
    session: Session, plan: Plan, names: Sequence[str] | None, with_runs: bool
) -> tuple[Aggregates, dict[str, int], dict[str, list[int]]]:
    """SQLite has no variance: per (method, objective) n, mean, Σv² and declared directions in
    one pass (and Σ(v − mean)² in a second one where Σv² cannot give the variance exactly
    enough), then the runs per method."""
    method, _, where = _source(plan, names)
    value, name = RunObjective.value, RunObjective.name
    # Grouped in the order of the covering index (name, run_status, run_gradient_method, ...)
    # when the criteria are on run_objectives alone: index-only and no sort; the groups of a
    # (method, objective) over statuses are added up here.
    order = (name, RunObjective.run_status, method) if method is not Run.gradient_method else ()
    sums = (
        select(
            method.label("method"),
            name.label("name"),
            func.count(value).label("n"),
            func.total(value).label("total"),
            func.sum(value * value).label("squares"),
            func.count().filter(RunObjective.direction == "max").label("says_max"),
            func.count().filter(RunObjective.direction != "max").label("says_min"),
        )
        .where(*where)
        .group_by(*(order or (name, method)))
    )
    connection = session.connection()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    deviations: dict[tuple[str, str], float | None] = {}
    means: dict[tuple[str, str], tuple[int, Any]] = {}
    redo: dict[tuple[str, str], float] = {}
    added: dict[tuple[str, str], list[Any]] = {}
    for row in connection.execute(sums):
        counts[row.name][0] += int(row.says_max)
        counts[row.name][1] += int(row.says_min)
        group = added.setdefault((row.method, row.name), [0, 0.0, None])
        group[0] += int(row.n)
        group[1] += math.nan if row.total is None else row.total  # NULL: +Inf and -Inf
        if row.squares is not None:
            group[2] = row.squares + (group[2] or 0.0)
    for key, (n, total, squares) in added.items():
        mean = total / n if n else None
        means[key] = (n, mean)
        if n < 2 or mean is None or not math.isfinite(mean):
            continue
        if squares is None or not math.isfinite(squares):
            continue
        left = squares - n * mean * mean
        if left >= _ONE_PASS_SHARE * squares:
            deviations[key] = left
        else:
            redo[key] = float(mean)
    if redo:
        deviations.update(_squared_deviations(connection, method, where, redo))
    aggregates = {k: _aggregate(n, mean, deviations.get(k)) for k, (n, mean) in means.items()}
    run_counts: dict[str, int] = {}
    if with_runs:
        run_counts = {m: int(c) for m, c in connection.execute(_runs_per_method(plan, names))}
    return aggregates, run_counts, counts


def _squared_deviations(
    connection: Any, method: Any, where: tuple[Any, ...], means: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], float | None]:
    """Σ(v − mean)² of the given (method, objective) groups, their means bound as literals."""
    value, name = RunObjective.value, RunObjective.name
    by_name: dict[str, dict[str, float]] = defaultdict(dict)
    for (m, n), c in means.items():
        by_name[n][m] = c
    mean_of = case(
        {
            n: case({m: literal(c) for m, c in of.items()}, value=method)
            for n, of in by_name.items()
        },
        value=name,
    )
    deviation = value - mean_of
    statement = (
        select(method, name, func.sum(deviation * deviation))
        .where(*where, value.is_not(None), tuple_(method, name).in_(list(means)))
        .group_by(method, name)
    )
    return {(m, n): s for m, n, s in connection.execute(statement)}


def _check_objectives(
    session: Session, plan: Plan, names: Sequence[str] | None, found: Mapping[str, Any]
) -> None:
    if names is not None and not names:
        raise ValidationError("objectives is empty: name some, or pass None for all of them")
    unknown = [n for n in names or () if n not in found]
    if not unknown:
        return
    _, _, where = _source(plan, None)  # the error path only: which names would there be?
    known = sorted(session.scalars(select(RunObjective.name).where(*where).distinct()))
    raise ValidationError(
        f"no selected run has an objective {unknown[0]!r}{suggest(unknown[0], known)}"
        + (f" (objectives: {', '.join(known)})" if known else "")
    )


def _check_baseline(baseline: str, methods: Sequence[str]) -> None:
    if baseline not in methods:
        known = sorted(methods)
        listed = f" (methods: {', '.join(known)})" if known else " (no run selected has one)"
        raise MethodNotFound(
            baseline,
            f"no selected run has the gradient method {baseline!r}{suggest(baseline, known)}"
            + listed,
        )


def method_report(
    session: Session, plan: Plan, baseline: str, names: Sequence[str] | None
) -> MethodReport:
    names = None if names is None else list(dict.fromkeys(names))
    statistics = method_maths.scipy_stats() is not None
    # With scipy, the runs per method come with the moments (one grouping by run for both).
    with_runs = not statistics
    postgres = session.get_bind().dialect.name == "postgresql"
    summed = method_sums.read(session, plan, names)
    if summed is not None:
        return _report(session, plan, baseline, names, summed, statistics)
    if postgres:
        _analysis_settings(session)
        aggregates, run_counts, counts, huge = _postgres_aggregates(session, plan, names, with_runs)
    else:
        aggregates, run_counts, counts = _sqlite_aggregates(session, plan, names, with_runs)
    _check_objectives(session, plan, names, counts)
    directions: dict[str, Direction] = _directions(counts, names)
    # Δm's interval (scipy): the moments of large samples, which the database sums.
    moments: Moments | None = None
    if statistics and directions:
        if postgres:
            moments, run_counts = _moments_in_sql(
                session, plan, list(directions), aggregates, skip=huge
            )
        else:
            moments, run_counts = _moments_in_numpy(session, plan, list(directions))
    elif statistics:  # no objective row selected: no moments, and no runs to count
        run_counts = {}
    return _finish(
        session, plan, baseline, names, directions, aggregates, run_counts, moments, statistics
    )


def _report(
    session: Session,
    plan: Plan,
    baseline: str,
    names: Sequence[str] | None,
    summed: method_sums.Summed,
    statistics: bool,
) -> MethodReport:
    """The report from the per-method sums: the runs themselves are read only for the exact
    bootstrap of small samples."""
    _check_objectives(session, plan, names, summed.counts)
    directions: dict[str, Direction] = _directions(summed.counts, names)
    moments = summed.moments if statistics and directions else None
    return _finish(
        session,
        plan,
        baseline,
        names,
        directions,
        summed.aggregates,
        summed.run_counts,
        moments,
        statistics,
    )


def _finish(
    session: Session,
    plan: Plan,
    baseline: str,
    names: Sequence[str] | None,
    directions: dict[str, Direction],
    aggregates: Aggregates,
    run_counts: dict[str, int],
    moments: Moments | None,
    statistics: bool,
) -> MethodReport:
    """The baseline checked, then the figures; ``moments`` None: no statistics (no scipy, or
    no objective). With them, Δm's interval needs the runs themselves for the exact bootstrap
    of small samples only; a large sample's normal limit needs its moments."""
    _check_baseline(baseline, sorted(run_counts))
    runs: dict[str, list[dict[str, float]]] = {}
    if moments is not None:
        exact = method_maths.EXACT_BOOTSTRAP_RUNS
        small = [m for m in run_counts if m not in moments or moments[m].runs <= exact]
        if small:
            runs = _fetch_runs(session, plan, names, small)
    return method_maths.build_report(
        baseline,
        directions,
        runs,
        aggregates=aggregates,
        run_counts=run_counts,
        statistics=statistics,
        moments=moments or {},
    )

"""The figures of a method report from plain numbers, no database: Δm% (Maninis et al. 2019),
mean rank, the Pareto set and, when scipy is installed, Welch p-values and 95% intervals.

Input: per gradient method, its runs, each a mapping objective name -> value (NaN and never-set
values already left out; ±Inf kept). Output: a ``MethodReport``. ``method_report`` reads the
rows from the database and calls :func:`build_report`; tests drive it directly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mangodb.dto import Direction, MethodReport, MethodRow, ObjectiveStats, ReportObjective

Runs = Sequence[Mapping[str, float]]
# Means closer than this (relative) tie in ranks: a table typed in from a paper rounds its means,
# and a mean of seeds around a rounded value differs from it in the last bits only.
TIE_TOLERANCE = 1e-9
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20190101
# Above this many runs on a side, Δm's interval draws each resampled mean vector from its normal
# limit (same interval to within Monte Carlo error, O(resamples·objectives) instead of
# O(resamples·runs·objectives)); below it, scipy.stats.bootstrap resamples the runs themselves.
EXACT_BOOTSTRAP_RUNS = 500


@dataclass(frozen=True)
class Aggregate:
    """What SQL can compute of one method on one objective (PostgreSQL does, in one statement)."""

    n: int
    mean: float | None
    std: float | None


@dataclass(frozen=True)
class Moments:
    """What Δm's interval needs of a large sample (more than ``EXACT_BOOTSTRAP_RUNS`` runs):
    the runs with a value, per objective its mean and number of values, per pair of objectives
    the mean product of the deviations from those means over the runs having both (what
    ``numpy.ma.cov(bias=True)`` gives). See :func:`moments_of`."""

    runs: int
    means: Mapping[str, float | None]
    counts: Mapping[str, int]
    covariances: Mapping[tuple[str, str], float]


def aggregate(values: Sequence[float]) -> Aggregate:
    """Mean and sample standard deviation; a mean of +Inf and -Inf is undefined (None)."""
    n = len(values)
    if n == 0:
        return Aggregate(0, None, None)
    if not all(math.isfinite(v) for v in values):
        mean = sum(values) / n
        return Aggregate(n, None if math.isnan(mean) else mean, None)
    mean = math.fsum(values) / n
    if n < 2:
        return Aggregate(n, mean, None)
    return Aggregate(n, mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)))


def close(a: float, b: float) -> bool:
    return a == b or (
        math.isfinite(a) and math.isfinite(b) and abs(a - b) <= TIE_TOLERANCE * max(abs(a), abs(b))
    )


def better(a: float, b: float, direction: Direction) -> bool:
    return a < b if direction == "min" else a > b


def delta_m(
    means: Mapping[str, float | None],
    baseline: Mapping[str, float | None],
    directions: Mapping[str, Direction],
) -> tuple[float | None, str | None]:
    """Δm% = (100/K) Σ_k (−1)^{δ_k} (M_k − B_k) / B_k over the objectives both sides have, δ_k = 1
    when higher is better; lower is better. Returns (value, note): the note says which objectives
    were left out, or why there is no value."""
    for name in directions:
        if baseline.get(name) == 0:
            return None, f"baseline mean of {name!r} is 0, so Δm (relative to it) is undefined"
    used = [n for n in directions if means.get(n) is not None and baseline.get(n) is not None]
    if not used:
        return None, "no objective with a value on both this method and the baseline"
    for name in used:
        for side, value in (("this method", means[name]), ("the baseline", baseline[name])):
            if not math.isfinite(value or 0.0):
                return None, f"mean of {name!r} on {side} is not finite"
    total = 0.0
    for name in used:
        m, b = means[name], baseline[name]
        assert m is not None and b is not None
        sign = -1.0 if directions[name] == "max" else 1.0
        total += sign * (m - b) / b
    left_out = [n for n in directions if n not in used]
    note = None
    if left_out:
        whose = [n for n in left_out if baseline.get(n) is None]
        note = f"Δm over {len(used)} of {len(directions)} objectives; no value for " + ", ".join(
            f"{n!r}" + (" (baseline)" if n in whose else "") for n in left_out
        )
    return 100.0 * total / len(used), note


def ranks(
    means: Mapping[str, Mapping[str, float | None]], directions: Mapping[str, Direction]
) -> dict[str, float | None]:
    """Per method, its rank (1 = best mean) on each objective among the given methods, tied
    means sharing the average of their ranks, averaged over the objectives it has a mean on."""
    totals: dict[str, list[float]] = {m: [] for m in means}
    for name, direction in directions.items():
        present = {m: v[name] for m, v in means.items() if v.get(name) is not None}
        for method, value in present.items():
            assert value is not None
            ahead = tied = 0
            for other, theirs in present.items():
                assert theirs is not None
                if other == method:
                    continue
                if close(value, theirs):
                    tied += 1
                elif better(theirs, value, direction):
                    ahead += 1
            totals[method].append(ahead + 1 + tied / 2)
    return {m: (sum(r) / len(r) if r else None) for m, r in totals.items()}


def pareto(
    means: Mapping[str, Mapping[str, float | None]], directions: Mapping[str, Direction]
) -> set[str]:
    """Methods no other method dominates (at least as good on every objective mean and strictly
    better on one). A missing mean is worse than any value, so it never helps to dominate."""

    def at_least(a: float | None, b: float | None, direction: Direction) -> bool:
        return b is None or (a is not None and not better(b, a, direction))

    def strictly(a: float | None, b: float | None, direction: Direction) -> bool:
        return a is not None and (b is None or better(a, b, direction))

    def dominates(x: Mapping[str, float | None], y: Mapping[str, float | None]) -> bool:
        pairs = [(x.get(n), y.get(n), d) for n, d in directions.items()]
        return all(at_least(a, b, d) for a, b, d in pairs) and any(
            strictly(a, b, d) for a, b, d in pairs
        )

    return {m for m in means if not any(dominates(means[o], means[m]) for o in means if o != m)}


# -- statistics (scipy) ---------------------------------------------------------------------


def scipy_stats() -> Any | None:
    """scipy.stats, or None when scipy is not installed (the report then has no statistics)."""
    try:
        import numpy  # noqa: F401
        import scipy.stats  # type: ignore[import-untyped]
    except ImportError:
        return None
    return scipy.stats


def _finite(pair: tuple[float, float]) -> tuple[float, float] | None:
    low, high = float(pair[0]), float(pair[1])
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def mean_interval(stats: Any, agg: Aggregate) -> tuple[float, float] | None:
    """95% interval of the mean from Student's t (right for a handful of seeds, where a
    percentile bootstrap of the mean is too narrow)."""
    if agg.n < 2 or agg.mean is None or agg.std is None:
        return None
    if agg.std == 0:
        return (agg.mean, agg.mean)
    half = float(stats.t.ppf(0.975, agg.n - 1)) * agg.std / math.sqrt(agg.n)
    return _finite((agg.mean - half, agg.mean + half))


def welch(stats: Any, agg: Aggregate, baseline: Aggregate) -> float | None:
    """Welch's t-test (unequal variances) p-value from the two sides' n, mean and std (the
    test ``ttest_ind(equal_var=False)`` does on the values); None with fewer than 2 values a
    side or when the test is undefined (both sides constant, infinite values)."""
    if agg.n < 2 or baseline.n < 2 or agg.std is None or baseline.std is None:
        return None
    assert agg.mean is not None and baseline.mean is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind_from_stats(
            agg.mean, agg.std, agg.n, baseline.mean, baseline.std, baseline.n, equal_var=False
        )
    p = float(result.pvalue)
    return p if math.isfinite(p) else None


def _matrix(runs: Runs, names: Sequence[str]) -> Any:
    import numpy as np

    return np.array([[run.get(n, math.nan) for n in names] for run in runs], dtype=float)


def _delta_m_of_means(means: Any, base: Any, signs: Any) -> Any:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * np.mean(signs * (means - base) / base, axis=-1)


def moments_of(matrix: Any, names: Sequence[str]) -> Moments:
    """The moments of a sample given as a matrix (a row per run, a column per objective of
    ``names``, NaN where a run has no value): means and counts of the observed values, and
    pairwise covariances over the runs having both (``numpy.ma.cov(bias=True)``)."""
    import numpy as np

    ma: Any = np.ma
    masked = ma.masked_invalid(np.asarray(matrix, dtype=np.float64).reshape(-1, len(names)))
    means = masked.mean(axis=0)
    counts = (~ma.getmaskarray(masked)).sum(axis=0)
    cov = np.atleast_2d(np.asarray(ma.cov(masked, rowvar=False, bias=True).filled(0.0)))
    return Moments(
        runs=len(masked),
        means={n: None if ma.is_masked(means[i]) else float(means[i]) for i, n in enumerate(names)},
        counts={n: int(counts[i]) for i, n in enumerate(names)},
        covariances={
            (a, b): float(cov[i, j]) for i, a in enumerate(names) for j, b in enumerate(names)
        },
    )


def _normal_means(rng: Any, moments: Moments, names: Sequence[str], resamples: int) -> Any:
    """Resampled mean vectors of a large sample, from their normal limit (pairwise covariances
    of the observed values, divided by the number of values)."""
    import numpy as np

    means = np.array([moments.means.get(n) for n in names], dtype=np.float64)
    counts = np.maximum(np.array([moments.counts.get(n, 0) for n in names], dtype=float), 1)
    cov = np.array(
        [[moments.covariances.get((a, b), 0.0) for b in names] for a in names], dtype=np.float64
    )
    cov = cov / np.sqrt(np.outer(counts, counts))
    return rng.multivariate_normal(means, cov, size=resamples, method="eigh", check_valid="ignore")


def delta_m_interval(
    stats: Any,
    runs: Runs,
    baseline: Runs,
    directions: Mapping[str, Direction],
    moments: tuple[Moments | None, Moments | None] = (None, None),
) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of Δm over runs: the method's runs and the baseline's
    resampled independently (a run keeps its objectives together), seeded and deterministic.
    A side given as ``moments`` (the database's) is large: its runs are not needed."""
    import numpy as np

    names = list(directions)
    sizes = [
        len(r) if m is None else m.runs for r, m in zip((runs, baseline), moments, strict=True)
    ]
    if min(sizes) < 2 or not names:
        return None
    signs = np.array([-1.0 if directions[n] == "max" else 1.0 for n in names])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    if max(sizes) > EXACT_BOOTSTRAP_RUNS:
        drawn = [
            _normal_means(
                rng, m or moments_of(_matrix(r, names), names), names, BOOTSTRAP_RESAMPLES
            )
            for r, m in zip((runs, baseline), moments, strict=True)
        ]
        sampled = _delta_m_of_means(drawn[0], drawn[1], signs)
        low, high = np.percentile(sampled, [2.5, 97.5])
        return _finite((float(low), float(high)))
    mine, theirs = _matrix(runs, names), _matrix(baseline, names)

    def statistic(i: Any, j: Any, axis: int = -1) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample may lack an objective
            return _delta_m_of_means(
                np.nanmean(mine[i], axis=-2), np.nanmean(theirs[j], axis=-2), signs
            )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples: the bounds say so (NaN -> None)
        result = _bootstrap(stats, statistic, np.arange(len(mine)), np.arange(len(theirs)), rng)
    return _finite((result.low, result.high))


def _bootstrap(stats: Any, statistic: Callable[..., Any], i: Any, j: Any, rng: Any) -> Any:
    options: dict[str, Any] = {
        "n_resamples": BOOTSTRAP_RESAMPLES,
        "method": "percentile",
        "vectorized": True,
        "paired": False,
    }
    try:  # scipy >= 1.15 names the generator ``rng``; older ones ``random_state``
        return stats.bootstrap((i, j), statistic, rng=rng, **options).confidence_interval
    except TypeError:
        return stats.bootstrap((i, j), statistic, random_state=rng, **options).confidence_interval


# -- the report -----------------------------------------------------------------------------


def build_report(
    baseline: str,
    directions: Mapping[str, Direction],
    runs: Mapping[str, Runs],
    *,
    aggregates: Mapping[tuple[str, str], Aggregate] | None = None,
    run_counts: Mapping[str, int] | None = None,
    statistics: bool = True,
    moments: Mapping[str, Moments] | None = None,
) -> MethodReport:
    """The report of ``runs`` (method -> its runs) against ``baseline`` on ``directions``
    (objective -> direction, in report order). ``aggregates`` (method, objective) -> n, mean,
    std replace the ones computed from ``runs`` when given (the database computes them), and
    ``moments`` replace the runs of the methods they are given for in Δm's interval (large
    samples only); ``statistics`` False, or scipy missing, leaves p-values and intervals None."""
    stats = scipy_stats() if statistics else None
    methods = sorted(set(runs) | {m for m, _ in aggregates or {}})
    given = aggregates or {}
    aggs = {
        m: {
            n: given.get((m, n)) or aggregate([r[n] for r in runs.get(m, ()) if n in r])
            for n in directions
        }
        for m in methods
    }
    none = Aggregate(0, None, None)
    means = {m: {n: a.mean for n, a in per.items()} for m, per in aggs.items()}
    base = means.get(baseline, {})
    rank = ranks({m: v for m, v in means.items() if m != baseline}, directions)
    front = pareto(means, directions)
    rows = []
    for m in methods:
        missing = tuple(n for n in directions if aggs[m][n].n == 0)
        dm, note = delta_m(means[m], base, directions)
        if m == baseline and dm is not None:
            dm, note = 0.0, None
        interval = None
        if stats is not None and dm is not None and m != baseline:
            used = {n: d for n, d in directions.items() if n not in missing and base.get(n)}
            interval = delta_m_interval(
                stats,
                runs.get(m, ()),
                runs.get(baseline, ()),
                used,
                ((moments or {}).get(m), (moments or {}).get(baseline)),
            )
        objectives = {
            n: ObjectiveStats(
                mean=a.mean,
                std=a.std,
                n=a.n,
                ci95=mean_interval(stats, a) if stats is not None else None,
                p_value=welch(stats, a, aggs.get(baseline, {}).get(n, none))
                if stats is not None and m != baseline
                else None,
            )
            for n, a in aggs[m].items()
        }
        rows.append(
            MethodRow(
                method=m,
                runs=(run_counts or {}).get(m, len(runs.get(m, ()))),
                objectives=objectives,
                delta_m=dm,
                delta_m_ci95=interval,
                mean_rank=None if m == baseline else rank.get(m),
                pareto_optimal=m in front,
                missing=missing,
                delta_m_note=note,
            )
        )
    rows.sort(key=lambda r: (r.delta_m is None, r.delta_m or 0.0, r.method))
    return MethodReport(
        baseline=baseline,
        objectives=tuple(ReportObjective(name=n, direction=d) for n, d in directions.items()),
        rows=tuple(rows),
        statistics=stats is not None,
    )

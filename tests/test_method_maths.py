"""The figures of a method report from plain numbers (mangodb.runs.method_maths): Δm%, ranks,
the Pareto set, and the properties issue 14 lists, driven by hypothesis without a database."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mangodb.runs import method_maths
from mangodb.runs.method_maths import build_report, delta_m, pareto, ranks

DIRECTIONS = {"acc": "max", "loss": "min", "err": "min"}
VALUES = st.floats(min_value=0.01, max_value=1000, allow_nan=False, allow_infinity=False)
RUN = st.fixed_dictionaries({name: VALUES for name in DIRECTIONS})
METHODS = st.dictionaries(
    st.sampled_from(["base", "mgda", "pcgrad", "imtl", "nash"]),
    st.lists(RUN, min_size=1, max_size=4),
    min_size=1,
).filter(lambda d: "base" in d)


def report_of(runs, directions=DIRECTIONS, baseline="base", statistics=False):  # type: ignore[no-untyped-def]
    return build_report(baseline, directions, runs, statistics=statistics)


def by_method(report):  # type: ignore[no-untyped-def]
    return {row.method: row for row in report.rows}


def test_delta_m_by_hand() -> None:
    # acc up 10% (better, -10), loss down 20% (better, -20), err up 30% (worse, +30): mean 0.
    value, note = delta_m(
        {"acc": 0.55, "loss": 0.8, "err": 1.3}, {"acc": 0.5, "loss": 1.0, "err": 1.0}, DIRECTIONS
    )
    assert value == pytest.approx(0.0, abs=1e-12) and note is None
    value, _ = delta_m(
        {"acc": 0.45, "loss": 1.0, "err": 1.0}, {"acc": 0.5, "loss": 1.0, "err": 1.0}, DIRECTIONS
    )
    assert value == pytest.approx(100 / 3 * 0.1)


def test_ranks_share_ties_and_average_over_objectives() -> None:
    means = {
        "a": {"acc": 0.9, "loss": 1.0},
        "b": {"acc": 0.9, "loss": 2.0},
        "c": {"acc": 0.5, "loss": 3.0},
    }
    got = ranks(means, {"acc": "max", "loss": "min"})
    assert got == {"a": (1.5 + 1) / 2, "b": (1.5 + 2) / 2, "c": (3 + 3) / 2}


def test_ranks_tie_means_that_differ_in_the_last_bits() -> None:
    means = {"a": {"x": 0.1 + 0.2}, "b": {"x": 0.3}}
    assert ranks(means, {"x": "min"}) == {"a": 1.5, "b": 1.5}


def test_pareto_by_hand() -> None:
    means = {
        "a": {"acc": 0.9, "loss": 2.0},
        "b": {"acc": 0.5, "loss": 1.0},
        "c": {"acc": 0.5, "loss": 2.0},  # dominated by both
        "d": {"acc": 0.9, "loss": 2.0},  # equal to a: neither dominates
        "e": {"acc": 0.95, "loss": None},  # best acc, no loss: still on the front
    }
    assert pareto(means, {"acc": "max", "loss": "min"}) == {"a", "b", "d", "e"}


@settings(max_examples=60, deadline=None)
@given(METHODS, st.randoms(use_true_random=False))
def test_delta_m_does_not_depend_on_run_order(runs, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    shuffled = {m: rng.sample(r, len(r)) for m, r in reversed(list(runs.items()))}
    first, second = by_method(report_of(runs)), by_method(report_of(shuffled))
    for method, row in first.items():
        assert second[method].delta_m == pytest.approx(row.delta_m, rel=1e-9, abs=1e-9)
        assert second[method].mean_rank == row.mean_rank
        assert second[method].pareto_optimal == row.pareto_optimal


@settings(max_examples=60, deadline=None)
@given(METHODS, st.sampled_from(list(DIRECTIONS)), st.floats(min_value=1e-3, max_value=1e3))
def test_delta_m_is_invariant_to_scaling_an_objective(runs, name: str, factor: float) -> None:  # type: ignore[no-untyped-def]
    scaled = {m: [{**r, name: r[name] * factor} for r in rs] for m, rs in runs.items()}
    first, second = by_method(report_of(runs)), by_method(report_of(scaled))
    for method, row in first.items():
        assert second[method].delta_m == pytest.approx(row.delta_m, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(METHODS)
def test_a_method_with_the_baselines_runs_has_delta_m_zero(runs) -> None:  # type: ignore[no-untyped-def]
    twin = {**runs, "twin": list(reversed(runs["base"]))}
    rows = by_method(report_of(twin))
    assert rows["twin"].delta_m == pytest.approx(0.0, abs=1e-9)
    assert rows["base"].delta_m == 0.0 and rows["base"].mean_rank is None


@settings(max_examples=100, deadline=None)
@given(METHODS)
def test_the_pareto_set_is_never_empty(runs) -> None:  # type: ignore[no-untyped-def]
    assert any(row.pareto_optimal for row in report_of(runs).rows)


@settings(max_examples=100, deadline=None)
@given(METHODS, st.sampled_from(list(DIRECTIONS)))
def test_a_unique_best_mean_is_on_the_front(runs, name: str) -> None:  # type: ignore[no-untyped-def]
    report = report_of(runs)
    means = {row.method: row.objectives[name].mean for row in report.rows}
    best = (min if DIRECTIONS[name] == "min" else max)(means.values())
    winners = [m for m, v in means.items() if v == best]
    assume(len(winners) == 1)
    assert by_method(report)[winners[0]].pareto_optimal


def test_missing_objective_gives_partial_delta_m_with_a_note() -> None:
    runs = {
        "base": [{"acc": 0.5, "loss": 1.0, "err": 1.0}] * 2,
        "mgda": [{"acc": 0.5, "loss": 0.5}, {"acc": 0.5, "loss": 0.5}],
    }
    row = by_method(report_of(runs))["mgda"]
    assert row.missing == ("err",)
    assert row.delta_m == pytest.approx(-25.0)  # over acc (0) and loss (-50) only
    assert (
        row.delta_m_note is not None
        and "2 of 3" in row.delta_m_note
        and "'err'" in row.delta_m_note
    )
    assert row.objectives["err"].n == 0 and row.objectives["err"].mean is None


def test_zero_baseline_mean_makes_delta_m_undefined_with_a_reason() -> None:
    runs = {"base": [{"loss": 0.0}, {"loss": 0.0}], "mgda": [{"loss": 1.0}, {"loss": 2.0}]}
    report = report_of(runs, {"loss": "min"})
    for row in report.rows:
        assert row.delta_m is None and "is 0" in (row.delta_m_note or "")
    assert "NaN" not in report.model_dump_json() and "Infinity" not in report.model_dump_json()


def test_infinite_values_never_reach_json() -> None:
    runs = {"base": [{"loss": 1.0}, {"loss": 2.0}], "mgda": [{"loss": math.inf}, {"loss": 1.0}]}
    report = report_of(runs, {"loss": "min"}, statistics=True)
    row = by_method(report)["mgda"]
    assert row.objectives["loss"].mean == math.inf
    assert row.delta_m is None and "not finite" in (row.delta_m_note or "")
    assert "Infinity" not in report.model_dump_json()


def test_rows_sorted_by_delta_m_baseline_included() -> None:
    runs = {
        "base": [{"loss": 1.0}],
        "worse": [{"loss": 2.0}],
        "better": [{"loss": 0.5}],
    }
    report = report_of(runs, {"loss": "min"})
    assert [r.method for r in report.rows] == ["better", "base", "worse"]
    assert [r.delta_m for r in report.rows] == [-50.0, 0.0, 100.0]


def test_statistics_with_scipy() -> None:
    import scipy.stats

    base = [{"loss": v} for v in (1.0, 1.1, 0.9, 1.05)]
    fast = [{"loss": v} for v in (0.5, 0.55, 0.45, 0.52)]
    report = report_of({"base": base, "fast": fast}, {"loss": "min"}, statistics=True)
    assert report.statistics
    row = by_method(report)["fast"]
    expected = scipy.stats.ttest_ind(
        [0.5, 0.55, 0.45, 0.52], [1.0, 1.1, 0.9, 1.05], equal_var=False
    )
    assert row.objectives["loss"].p_value == pytest.approx(expected.pvalue)
    low, high = row.objectives["loss"].ci95 or (0, 0)
    assert low < row.objectives["loss"].mean < high  # type: ignore[operator]
    dlow, dhigh = row.delta_m_ci95 or (0, 0)
    assert dlow <= row.delta_m <= dhigh < 0  # type: ignore[operator]
    again = by_method(report_of({"base": base, "fast": fast}, {"loss": "min"}, statistics=True))
    assert again["fast"].delta_m_ci95 == row.delta_m_ci95  # seeded: deterministic
    assert by_method(report)["base"].objectives["loss"].p_value is None


def test_large_samples_use_the_normal_limit_of_the_bootstrap() -> None:
    rng = random.Random(3)
    n = method_maths.EXACT_BOOTSTRAP_RUNS + 100
    base = [{"loss": rng.gauss(1.0, 0.1), "acc": rng.gauss(0.5, 0.05)} for _ in range(n)]
    other = [{"loss": rng.gauss(0.9, 0.1), "acc": rng.gauss(0.5, 0.05)} for _ in range(n)]
    directions = {"loss": "min", "acc": "max"}
    row = by_method(report_of({"base": base, "other": other}, directions, statistics=True))["other"]
    low, high = row.delta_m_ci95 or (0, 0)
    assert low < row.delta_m < high  # type: ignore[operator]
    # the Δm standard error here is about 0.5 points: the interval is about 2 points wide
    assert 0.5 < high - low < 5


def test_fewer_than_two_values_give_no_interval_and_no_p_value() -> None:
    report = report_of(
        {"base": [{"loss": 1.0}], "m": [{"loss": 0.5}, {"loss": 0.6}]},
        {"loss": "min"},
        statistics=True,
    )
    row = by_method(report)["m"]
    assert row.objectives["loss"].p_value is None and row.delta_m_ci95 is None
    assert row.objectives["loss"].ci95 is not None

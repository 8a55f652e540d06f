"""``RunRepository.history_by_method``: one history key per gradient method, on both dialects.

The expected figures are computed here with pandas from the raw values the test inserted,
by the rule written in ``mangodb.history.bands`` (buckets by the direct formula
``(step - first) * max_points // width``, not mangodb's code); numpy and pure-Python paths
must agree with it and with each other."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mangodb import MethodCurves, RunCreate, RunRepository, ValidationError
from mangodb.cli import app
from mangodb.errors import UnknownGradientMethod, UnknownHistoryKey
from mangodb.runs import curves as curves_module

KEY = "train/loss"
Runs = dict[str, tuple[str, list[int], list[float]]]  # run id -> (method, steps, values)
_prefixes = itertools.count()
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def insert(repo: RunRepository, runs: Runs, order: list[str] | None = None) -> None:
    for run_id in order or list(runs):
        method, steps, values = runs[run_id]
        repo.insert_run(RunCreate(run_id=run_id, gradient_method=method, config={}))
        if steps:
            other = (steps, [0.5] * len(steps))
            repo.append_history(run_id, {KEY: (steps, values), "lr": other})


def where(prefix: str) -> str:
    return f"run_id like '{prefix}%'"


@contextmanager
def pure_python() -> Iterator[None]:
    with mock.patch.object(curves_module, "numpy", lambda: None):
        yield


def _none(value: float) -> float | None:
    return None if value != value else float(value)


def expected(runs: Runs, max_points: int) -> dict[str, dict[str, list[Any]]]:
    """The curves by the documented rule, with pandas from the raw values."""
    rows = [
        (run_id, method, step, value)
        for run_id, (method, steps, values) in runs.items()
        for step, value in zip(steps, values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["run", "method", "step", "value"])
    distinct = np.sort(frame["step"].unique())
    if len(distinct) <= max_points:
        frame["bucket"] = frame["step"]
    else:
        first, width = int(distinct[0]), int(distinct[-1] - distinct[0] + 1)
        frame["bucket"] = (frame["step"] - first) * max_points // width
    label = frame.groupby("bucket")["step"].min()
    result: dict[str, dict[str, list[Any]]] = {}
    for method in sorted({m for m, _, _ in runs.values()}):
        part = frame[frame["method"] == method]
        curve: dict[str, list[Any]] = {k: [] for k in ("steps", "mean", "std", "min", "max")}
        curve["count"] = []
        for bucket, points in part.groupby("bucket", sort=True):
            per_run = points.groupby("run")["value"]
            counted = per_run.count() > 0  # runs with a value that is not NaN
            means = per_run.mean()[counted]
            count = int(counted.sum())
            mean = means.mean(skipna=False) if count else math.nan
            std = means.std(ddof=1, skipna=False) if count >= 2 else math.nan
            curve["steps"].append(int(label[bucket]))
            curve["mean"].append(_none(mean))
            curve["std"].append(_none(std) if math.isfinite(std) else None)
            curve["min"].append(_none(points["value"].min()))
            curve["max"].append(_none(points["value"].max()))
            curve["count"].append(count)
        result[method] = curve
    return result


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_matches(result: MethodCurves, truth: dict[str, dict[str, list[Any]]]) -> None:
    assert sorted(c.method for c in result.curves) == sorted(truth)
    for curve in result.curves:
        want = truth[curve.method]
        assert list(curve.steps) == want["steps"], curve.method
        assert list(curve.count) == want["count"], curve.method
        assert list(curve.min) == want["min"], curve.method
        assert list(curve.max) == want["max"], curve.method
        for name in ("mean", "std"):
            got = getattr(curve, name)
            assert all(close(a, b) for a, b in zip(got, want[name], strict=True)), (name, got)


def assert_same(a: MethodCurves, b: MethodCurves) -> None:
    assert [c.method for c in a.curves] == [c.method for c in b.curves]
    for x, y in zip(a.curves, b.curves, strict=True):
        assert (x.runs, x.steps, x.count, x.min, x.max) == (y.runs, y.steps, y.count, y.min, y.max)
        for name in ("mean", "std"):
            pairs = zip(getattr(x, name), getattr(y, name), strict=True)
            assert all(close(p, q) for p, q in pairs), name


# -- strategies -----------------------------------------------------------------------------------
VALUES = st.floats(-1000, 1000, allow_nan=False)
SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf])


@st.composite
def campaigns(draw: st.DrawFn, special: bool = False) -> Runs:
    """Runs of 1-3 methods with ragged lengths, offsets and strides (some NaN/±Inf)."""
    prefix = f"c{next(_prefixes)}-"
    runs: Runs = {}
    values = VALUES | SPECIAL if special else VALUES
    for method in draw(st.lists(st.sampled_from(["mgda", "pcgrad", "uniform"]), min_size=1,
                                max_size=3, unique=True)):  # fmt: skip
        for seed in range(draw(st.integers(1, 3))):
            start, stride = draw(st.integers(0, 4)), draw(st.integers(1, 3))
            length = draw(st.integers(0, 40))
            steps = [start + stride * i for i in range(length)]
            runs[f"{prefix}{method}-{seed}"] = (method, steps, draw(st.lists(
                values, min_size=length, max_size=length)))  # fmt: skip
    return runs


def logged(runs: Runs) -> bool:
    return any(steps for _, steps, _ in runs.values())


# -- properties ------------------------------------------------------------------------------------
@SETTINGS
@given(runs=campaigns(special=True), max_points=st.integers(5, 60))
def test_curves_match_pandas_on_the_raw_values(
    repo: RunRepository, runs: Runs, max_points: int
) -> None:
    insert(repo, runs)
    prefix = next(iter(runs)).split("-")[0] + "-"
    if not logged(runs):
        with pytest.raises(UnknownHistoryKey):
            repo.history_by_method(KEY, where=where(prefix), max_points=max_points)
        return
    result = repo.history_by_method(KEY, where=where(prefix), max_points=max_points)
    assert_matches(result, expected(runs, max_points))
    with pure_python():
        assert_same(repo.history_by_method(KEY, where=where(prefix), max_points=max_points), result)
    for curve in result.curves:
        assert len(curve.steps) <= max_points
        assert curve.runs == sum(1 for m, s, _ in runs.values() if m == curve.method and s)


@SETTINGS
@given(runs=campaigns(), data=st.data())
def test_insertion_order_does_not_matter(
    repo: RunRepository, runs: Runs, data: st.DataObject
) -> None:
    if not logged(runs):
        return
    prefix = next(iter(runs)).split("-")[0] + "-"
    copy_prefix = prefix.replace("c", "r", 1)
    copy = {copy_prefix + run_id[len(prefix):]: spec for run_id, spec in runs.items()}
    insert(repo, runs)
    insert(repo, copy, data.draw(st.permutations(list(copy))))
    assert_same(
        repo.history_by_method(KEY, where=where(prefix), max_points=10),
        repo.history_by_method(KEY, where=where(copy_prefix), max_points=10),
    )


@SETTINGS
@given(
    lengths=st.lists(st.integers(50, 600), min_size=2, max_size=4),
    spike_run=st.integers(0, 3),
    spike_at=st.floats(0, 1, exclude_max=True),
    max_points=st.integers(5, 40),
)
def test_a_spike_in_one_seed_stays_in_max_after_bucketing(
    repo: RunRepository, lengths: list[int], spike_run: int, spike_at: float, max_points: int
) -> None:
    prefix = f"s{next(_prefixes)}-"
    spike_run %= len(lengths)
    spike_step = int(spike_at * lengths[spike_run])
    runs: Runs = {}
    for seed, length in enumerate(lengths):
        values = [1.0 / (1 + step) for step in range(length)]
        if seed == spike_run:
            values[spike_step] = 1e9
        runs[f"{prefix}{seed}"] = ("mgda", list(range(length)), values)
    insert(repo, runs)
    (curve,) = repo.history_by_method(KEY, where=where(prefix), max_points=max_points).curves
    assert len(curve.steps) <= max_points
    at = max(i for i, step in enumerate(curve.steps) if step <= spike_step)
    assert curve.max[at] == 1e9
    assert max(v for v in curve.max if v is not None) == 1e9
    assert curve.mean[at] is not None and curve.mean[at] < 1e9  # averaged with the others


@pytest.mark.parametrize("max_points", [5, 1000, 20_000])
def test_many_chunks_irregular_steps_and_mixed_values_match_pandas(
    repo: RunRepository, max_points: int
) -> None:
    """Runs of several chunks (appended in pieces and beyond one chunk's 4,096 points), with
    progressions of different strides, irregular steps and a chunk holding non-numbers."""
    rng = np.random.default_rng(max_points)
    prefix = f"m{next(_prefixes)}-"
    runs: Runs = {}
    progression = list(range(0, 6000, 1)) + list(range(6000, 9000, 3))
    irregular = sorted({int(s) for s in rng.integers(0, 9000, 3000)})
    for index, steps in enumerate([progression, irregular, progression[:3000]]):
        values = rng.normal(size=len(steps))
        values[rng.integers(0, len(steps), 10)] = math.nan
        runs[f"{prefix}{index}"] = ("mgda" if index < 2 else "pcgrad", steps, values.tolist())
    for run_id, (method, steps, values) in runs.items():
        repo.insert_run(RunCreate(run_id=run_id, gradient_method=method, config={}))
        for start in range(0, len(steps), 2500):
            piece = slice(start, start + 2500)
            repo.append_history(run_id, {KEY: (steps[piece], values[piece])})
    # A chunk with a string in it (kept as JSON): the string is left out, its step too.
    odd = f"{prefix}odd"
    repo.insert_run(RunCreate(run_id=odd, gradient_method="pcgrad", config={}))
    repo.append_history(odd, {KEY: ([5, 50, 500], [1.0, "skip", 3.0])})
    runs[odd] = ("pcgrad", [5, 500], [1.0, 3.0])
    result = repo.history_by_method(KEY, where=where(prefix), max_points=max_points)
    assert_matches(result, expected(runs, max_points))
    with pure_python():
        assert_same(repo.history_by_method(KEY, where=where(prefix), max_points=max_points), result)


# -- rules on examples ----------------------------------------------------------------------------
def test_count_says_how_many_runs_reach_each_step(repo: RunRepository) -> None:
    runs: Runs = {
        "a": ("mgda", [0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0]),
        "b": ("mgda", [0, 1, 2], [3.0, 4.0, 5.0]),
        "c": ("mgda", [0], [5.0]),
        "d": ("pcgrad", [1, 3], [1.0, 1.0]),
    }
    insert(repo, runs)
    result = repo.history_by_method(KEY)
    mgda, pcgrad = result.curves
    assert (mgda.method, mgda.runs, mgda.steps) == ("mgda", 3, (0, 1, 2, 3))
    assert mgda.count == (3, 2, 2, 1)
    assert mgda.mean == (3.0, 3.0, 4.0, 4.0)
    assert mgda.std == (2.0, pytest.approx(math.sqrt(2)), pytest.approx(math.sqrt(2)), None)
    assert (mgda.min, mgda.max) == ((1.0, 2.0, 3.0, 4.0), (5.0, 4.0, 5.0, 4.0))
    assert (pcgrad.steps, pcgrad.count, pcgrad.std) == ((1, 3), (1, 1), (None, None))


def test_nan_is_left_out_but_a_step_of_nan_only_stays(repo: RunRepository) -> None:
    nan = math.nan
    insert(repo, {
        "a": ("mgda", [0, 1, 2], [1.0, nan, nan]),
        "b": ("mgda", [0, 1, 2], [nan, 3.0, nan]),
    })  # fmt: skip
    for path in (contextmanager(lambda: iter([None]))(), pure_python()):
        with path:
            (curve,) = repo.history_by_method(KEY).curves
        assert curve.steps == (0, 1, 2)
        assert curve.count == (1, 1, 0)
        assert curve.mean == (1.0, 3.0, None)
        assert (curve.min, curve.max, curve.std) == ((1.0, 3.0, None), (1.0, 3.0, None),
                                                     (None, None, None))  # fmt: skip


def test_inf_shows_in_the_envelope_and_the_mean_never_in_json(repo: RunRepository) -> None:
    inf = math.inf
    insert(repo, {
        "a": ("mgda", [0, 1, 2], [inf, 1.0, inf]),
        "b": ("mgda", [0, 1, 2], [1.0, 2.0, -inf]),
    })  # fmt: skip
    for path in (contextmanager(lambda: iter([None]))(), pure_python()):
        with path:
            result = repo.history_by_method(KEY)
        (curve,) = result.curves
        assert curve.mean == (inf, 1.5, None)  # +Inf and -Inf together: undefined
        assert curve.std == (None, pytest.approx(math.sqrt(0.5)), None)
        assert curve.max == (inf, 2.0, inf)
        assert curve.min == (1.0, 1.0, -inf)
        assert curve.count == (2, 2, 2)
        document = json.loads(result.model_dump_json())
        assert document["curves"][0]["mean"] == [None, 1.5, None]
        assert document["curves"][0]["max"] == [None, 2.0, None]


def test_values_that_are_not_numbers_are_skipped(repo: RunRepository) -> None:
    insert(repo, {"a": ("mgda", [0, 1, 2], [1.0, 2.0, 3.0])})
    repo.insert_run(RunCreate(run_id="b", gradient_method="mgda", config={}))
    repo.append_history("b", {KEY: ([0, 1, 2], [5.0, "diverged", None])})
    (curve,) = repo.history_by_method(KEY).curves
    assert (curve.runs, curve.count, curve.mean) == (2, (2, 1, 1), (3.0, 2.0, 3.0))


def test_where_baseline_order_and_methods_without_the_key(repo: RunRepository) -> None:
    insert(repo, {
        "a": ("uniform", [0, 1], [1.0, 2.0]),
        "b": ("mgda", [0, 1], [3.0, 4.0]),
        "c": ("pcgrad", [0, 1], [5.0, 6.0]),
        "d": ("cagrad", [], []),
        "e": ("mgda", [0, 1], [9.0, 9.0]),
    })  # fmt: skip
    repo.insert_run(RunCreate(run_id="f", config={}))  # no method: in no curve
    repo.append_history("f", {KEY: ([0], [100.0])})
    result = repo.history_by_method(KEY, baseline="uniform")
    assert [c.method for c in result.curves] == ["uniform", "cagrad", "mgda", "pcgrad"]
    cagrad = result.curves[1]
    assert (cagrad.runs, cagrad.steps, cagrad.mean) == (0, (), ())
    selected = repo.history_by_method(KEY, where="run_id in ('b', 'c')")
    assert [(c.method, c.mean) for c in selected.curves] == [("mgda", (3.0, 4.0)),
                                                             ("pcgrad", (5.0, 6.0))]  # fmt: skip
    assert repo.history_by_method(KEY, where="run_id = 'nobody'").curves == ()


def test_unknown_names_and_max_points_are_typed_errors(repo: RunRepository) -> None:
    insert(repo, {"a": ("uniform", [0, 1], [1.0, 2.0]), "b": ("mgda", [0], [3.0])})
    with pytest.raises(UnknownHistoryKey, match="did you mean 'train/loss'"):
        repo.history_by_method("train/los")
    with pytest.raises(UnknownGradientMethod, match="did you mean 'uniform'"):
        repo.history_by_method(KEY, baseline="unifrom")
    with pytest.raises(UnknownGradientMethod, match=r"\(methods: mgda\)"):
        repo.history_by_method(KEY, baseline="uniform", where="method = mgda")
    with pytest.raises(ValidationError) as ours:
        repo.history_by_method(KEY, max_points=4)
    with pytest.raises(ValidationError) as history_cli:
        repo.get_history("a", max_points=4)
    assert str(ours.value) == str(history_cli.value)


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_json_and_table(db_url: Any) -> None:
    url = db_url.render_as_string(hide_password=False)
    with RunRepository.connect(db_url) as repo:
        insert(repo, {
            "a": ("uniform", [0, 1, 2], [1.0, 2.0, math.inf]),
            "b": ("mgda", [0, 1, 2], [3.0, 4.0, 5.0]),
            "c": ("mgda", [0, 1], [5.0, 6.0]),
        })  # fmt: skip
        direct = repo.history_by_method(KEY, baseline="uniform")

    def mangodb(*args: str) -> Any:
        return CliRunner().invoke(app, ["history", *args, "--url", url])

    result = mangodb("--by-method", KEY, "--baseline", "uniform", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == json.loads(direct.model_dump_json())
    assert document["curves"][0]["mean"] == [1.0, 2.0, None]  # +Inf: null
    table = mangodb("--by-method", KEY, "method", "=", "mgda")  # words joined into a query
    assert table.exit_code == 0, table.output
    lines = [line for line in table.stdout.splitlines() if line.strip().startswith("mgda")]
    assert len(lines) == 1 and "uniform" not in table.stdout
    # runs, steps, sparkline, last mean (only b reaches step 2: no std), runs at the end
    assert re.search(r"mgda\s+2\s+0–2\s+\S+\s+5\s+1\s*$", lines[0]), lines[0]
    both = mangodb("--by-method", KEY, "--where", "method = mgda", "--max-points", "5")
    assert both.exit_code == 0 and both.stdout == table.stdout
    unknown = mangodb("--by-method", "train/los")
    assert unknown.exit_code != 0 and "did you mean 'train/loss'" in unknown.output
    assert "Traceback" not in unknown.output

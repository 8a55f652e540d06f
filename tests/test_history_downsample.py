"""Downsampled history hides nothing a chart must show: the M4 rule (first, last, minimum and
maximum point of every equal-width step bucket, plus its first NaN), never more than
``max_points``, in step order, only points that were logged; and reads of a step range (a
chart's zoom) downsample that range by the same rule (both dialects)."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from equality import same
from hypothesis import given, settings
from hypothesis import strategies as st

from mangodb import RunRepository, ValidationError
from mangodb.codecs.floats import is_number
from mangodb.history.downsample import MIN_POINTS, check_max_points, downsample
from mangodb.history.m4_arrays import downsample_arrays, downsample_objects
from mangodb.history.steps import ProgressionSteps

SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0, 1.0, -1.0]
floats = st.one_of(st.floats(), st.sampled_from(SPECIAL))
others = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.just({"_type": "image"}))


def is_nan(value: Any) -> bool:
    return is_number(value) and value != value


def expected_buckets(steps: list[int], values: list[Any], max_points: int) -> list[list[int]]:
    """The indexes of each non-empty bucket, by the documented rule (not by the library's
    code): as many equal-width buckets over the step range as fit ``max_points`` points of 2
    (first, last), 4 (and min, max: some value is a number) or 5 (and a NaN) each."""
    numbers = [v for v in values if is_number(v)]
    per_bucket = 2 if not numbers else 5 if any(is_nan(v) for v in numbers) else 4
    count = max_points // per_bucket
    width = steps[-1] - steps[0] + 1
    found: dict[int, list[int]] = {}
    for index, step in enumerate(steps):
        found.setdefault((step - steps[0]) * count // width, []).append(index)
    return list(found.values())


def check(steps: list[int], values: list[Any], max_points: int, *, numeric: bool) -> None:
    kept_steps, kept_values = downsample(steps, values, max_points, numeric=numeric)
    assert len(kept_steps) == len(kept_values) <= max_points
    assert kept_steps == sorted(set(kept_steps))  # step order, no point twice
    position = {step: index for index, step in enumerate(steps)}
    kept = [position[step] for step in kept_steps]  # KeyError: a step that was not logged
    assert all(values[i] is v for i, v in zip(kept, kept_values, strict=True))
    assert kept[0] == 0 and kept[-1] == len(steps) - 1  # the first and the last point
    if len(steps) <= max_points:
        assert kept == list(range(len(steps)))
        return
    chosen = set(kept)
    for bucket in expected_buckets(steps, values, max_points):
        assert bucket[0] in chosen and bucket[-1] in chosen
        numbers = [values[i] for i in bucket if is_number(values[i]) and not is_nan(values[i])]
        shown = [values[i] for i in bucket if i in chosen and is_number(values[i])]
        if numbers:
            assert min(numbers) in shown and max(numbers) in shown
        if any(is_nan(values[i]) for i in bucket):
            assert any(is_nan(v) for v in shown)


@st.composite
def series(draw: st.DrawFn, elements: st.SearchStrategy[Any]) -> tuple[list[int], list[Any]]:
    values = draw(st.lists(elements, min_size=1, max_size=200))
    gaps = st.one_of(st.integers(1, 3), st.integers(1, 2**40))
    start = draw(st.integers(-(2**62), 2**62))
    steps = [start]
    for gap in draw(st.lists(gaps, min_size=len(values) - 1, max_size=len(values) - 1)):
        steps.append(steps[-1] + gap)
    return steps, values


@settings(max_examples=300, deadline=None)
@given(points=series(floats), max_points=st.integers(MIN_POINTS, 80))
def test_numeric_downsampling_keeps_ends_extremes_and_nan(
    points: tuple[list[int], list[float]], max_points: int
) -> None:
    check(*points, max_points, numeric=True)


@settings(max_examples=200, deadline=None)
@given(points=series(st.one_of(floats, others)), max_points=st.integers(MIN_POINTS, 80))
def test_mixed_downsampling_keeps_ends_extremes_and_nan(
    points: tuple[list[int], list[Any]], max_points: int
) -> None:
    check(*points, max_points, numeric=False)


@pytest.mark.parametrize("max_points", [-1, 0, 1, 2, 3, MIN_POINTS - 1, 2.5, True, "9"])
def test_a_max_points_too_small_for_the_rule_is_a_clear_error(max_points: Any) -> None:
    with pytest.raises(ValidationError, match="max_points must be"):
        check_max_points(max_points)
    with pytest.raises(ValidationError, match="max_points must be"):
        downsample([0, 1], [0.0, 1.0], max_points)


def test_the_end_of_a_series_is_always_shown() -> None:
    """The issue's case: 64 points over 0..1260, downsampled to 60, used to stop at 1240."""
    steps = list(range(0, 1261, 20))
    values = [1.6 * math.exp(-s / 400) + 0.4 for s in steps]
    for max_points in range(MIN_POINTS, 64):
        kept_steps, kept_values = downsample(steps, values, max_points)
        assert (kept_steps[0], kept_steps[-1]) == (0, 1260)
        assert kept_values[-1] == values[-1]


def test_reads_downsample_by_the_same_rule(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    steps = list(range(0, 20_000, 2))
    loss = [1.0 / (1 + s) for s in steps]
    loss[1_500], loss[4_000], loss[7_500] = -5.0, math.nan, math.inf
    repo.append_history("r", {"loss": (steps, loss), "tag": (steps, [f"t{s}" for s in steps])})
    for low, high in ((None, None), (3_001, 14_999), (8_000, None), (None, 2)):
        history = repo.get_history("r", min_step=low, max_step=high, max_points=50)
        inside = [i for i, s in enumerate(steps) if (low or 0) <= s <= (high or steps[-1])]
        range_steps, range_values = [steps[i] for i in inside], [loss[i] for i in inside]
        series = history["loss"]
        expected_steps, expected_values = downsample(range_steps, range_values, 50)
        assert series.steps == expected_steps and same(series.values, expected_values)
        check(range_steps, range_values, 50, numeric=True)  # its zoom keeps the range's ends
        tags = history["tag"]
        assert tags.steps[0] == range_steps[0] and tags.steps[-1] == range_steps[-1]
        assert len(tags) <= 50
    many = repo.get_history_many(["r"], "loss", min_step=3_001, max_step=14_999, max_points=50)
    assert many["r"].steps == history_steps(repo, 3_001, 14_999)
    with pytest.raises(ValidationError, match="at least 5"):
        repo.get_history("r", max_points=4)


def history_steps(repo: RunRepository, low: int, high: int) -> list[int]:
    return repo.get_history("r", ["loss"], min_step=low, max_step=high, max_points=50)["loss"].steps


# The numpy path (mangodb.history.m4_arrays) picks the very points the Python code picks.
big_ints = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**53, 2**53 + 1, 10**400]))
duplicated = st.sampled_from([1.0, -1.0, 0.0, -0.0, math.inf, -math.inf, math.nan, 2.0])
float_bits = st.integers(0, 2**64 - 1).map(
    lambda bits: struct.unpack("<d", bits.to_bytes(8, "little"))[0]
)


def numpy() -> Any:
    return pytest.importorskip("numpy")


def numpy_points(steps: list[int], values: list[float], max_points: int) -> tuple[list, list]:
    np = numpy()
    step_array = np.asarray(steps, dtype=np.int64)
    return downsample_arrays(np, step_array, np.asarray(values, dtype=np.float64), max_points)


@settings(max_examples=400, deadline=None)
@given(
    points=series(st.one_of(floats, duplicated, float_bits)),
    max_points=st.integers(MIN_POINTS, 80),
)
def test_numpy_and_python_keep_the_same_numeric_points(
    points: tuple[list[int], list[float]], max_points: int
) -> None:
    steps, values = points
    expected = downsample(steps, values, max_points, numeric=True)
    got = numpy_points(steps, values, max_points)
    assert got[0] == expected[0]
    assert [bits(v) for v in got[1]] == [bits(v) for v in expected[1]]


@settings(max_examples=300, deadline=None)
@given(
    points=series(st.one_of(floats, duplicated, others, big_ints)),
    max_points=st.integers(MIN_POINTS, 80),
)
def test_numpy_and_python_keep_the_same_mixed_points(
    points: tuple[list[int], list[Any]], max_points: int
) -> None:
    steps, values = points
    expected = downsample(steps, values, max_points, numeric=False)
    got = downsample_objects(numpy(), steps, values, max_points)
    assert got[0] == expected[0]
    assert all(a is b for a, b in zip(got[1], expected[1], strict=True))


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(-(2**62), 2**62),
    parts=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 2**20)), min_size=1, max_size=6),
    data=st.data(),
    max_points=st.integers(MIN_POINTS, 40),
)
def test_steps_kept_as_progressions_give_the_same_points(
    start: int, parts: list[tuple[int, int]], data: st.DataObject, max_points: int
) -> None:
    """Chunks whose steps are progressions are read as ``ProgressionSteps``, not arrays."""
    ranges, first = [], start
    for count, stride in parts:
        ranges.append(range(first, first + count * stride, stride))
        first += count * stride + data.draw(st.integers(0, 2**30))
    steps = [s for part in ranges for s in part]
    values = data.draw(st.lists(duplicated, min_size=len(steps), max_size=len(steps)))
    expected = downsample(steps, values, max_points, numeric=True)
    np = numpy()
    array = np.asarray(values, dtype=np.float64)
    got = downsample_arrays(np, ProgressionSteps(np, ranges), array, max_points)
    assert got[0] == expected[0]
    assert [bits(v) for v in got[1]] == [bits(v) for v in expected[1]]


def bits(value: float) -> bytes:
    return struct.pack("<d", value)

"""What the history keeps besides plain floats, how it downsamples, reads many runs, takes
the legacy ``history_json`` and refuses bad input (both dialects)."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

import pytest

from mangodb import RunRepository, ValidationError
from mangodb.codecs.jsontext import encode
from mangodb.db.types import dumps
from mangodb.errors import MissingExtra
from mangodb.history import Series, to_columns, to_dataframe


def same(a: object, b: object) -> bool:
    """Equal as stored documents (NaN equal to NaN, -0.0 distinct from 0.0)."""
    return bool(dumps(encode(a)) == dumps(encode(b)))


IMAGE = {
    "_type": "image-file",
    "path": "media/images/samples_12_3f2a.png",
    "sha256": "3f2a" * 16,
    "size": 51234,
    "width": 256,
    "height": 256,
    "format": "png",
}
HISTOGRAM = {
    "_type": "histogram",
    "values": [1, 0, 4, 12],
    "bins": [-1.5, -0.5, 0.5, 1.5, math.inf],
    "mean": math.nan,
}


def test_non_numeric_values_are_kept(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    logged = {
        "samples": ([0, 10, 20], [IMAGE, None, "no image this step"]),
        "grads": ([5, 6], [HISTOGRAM, {"$mangodb.float": "user data, not a tag"}]),
        "flags": ([1, 2, 3], [True, "yes", [1, 2.5, -0.0]]),
    }
    repo.append_history("r", logged)
    history = repo.get_history("r")
    for key, (steps, values) in logged.items():
        assert history[key].kind == "json"
        assert history[key].steps == steps
        assert all(same(a, b) for a, b in zip(history[key].values, values, strict=True))
    assert history["samples"].values[0] == IMAGE
    # Re-sending a document is a no-op; a different document replaces it.
    again = repo.append_history("r", {"samples": ([0, 10], [dict(IMAGE), "changed"])})
    assert (again.written, again.unchanged, again.replaced) == (0, 1, 1)
    assert repo.get_history("r")["samples"].values[1] == "changed"


def test_a_key_that_turns_non_numeric_keeps_both(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    repo.append_history("r", {"lr": (list(range(100)), [1e-3] * 100)})
    repo.append_history("r", [{"_step": 100, "lr": "cosine restart"}, {"lr": 2e-3}])
    repo.append_history("r", {"lr": ([50], [math.nan])})
    series = repo.get_history("r")["lr"]
    assert series.kind == "json"
    assert series.steps == list(range(102))
    assert series.values[100] == "cosine restart" and series.values[101] == 2e-3
    assert math.isnan(series.values[50]) and series.values[49] == 1e-3
    assert repo.history_keys("r") == {"lr": 102}


def test_values_that_are_neither_numbers_nor_json_are_refused(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with pytest.raises(ValidationError, match="neither a number nor JSON"):
        repo.append_history("r", {"x": ([0], [object()])})
    assert repo.history_keys("r") == {}


# -- downsampling --------------------------------------------------------------------------------
# (the M4 rule itself: tests/test_history_downsample.py)
def test_get_history_downsamples_without_hiding_spikes(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    loss = [1.0 / (1 + i) for i in range(20_000)]
    loss[3_000], loss[9_999], loss[15_000] = -5.0, math.nan, math.inf
    repo.append_history("r", {"loss": (list(range(20_000)), loss), "lr": ([0, 1], [0.1, 0.2])})
    history = repo.get_history("r", max_points=100)
    series = history["loss"]
    assert len(series) <= 100
    assert {3_000, 9_999, 15_000} <= set(series.steps)
    assert math.isnan(series.values[series.steps.index(9_999)])
    assert history["lr"].values == [0.1, 0.2]
    with pytest.raises(ValidationError):
        repo.get_history("r", max_points=2)


# -- many runs ------------------------------------------------------------------------------------
def test_get_history_many_reads_one_key_across_runs(repo: RunRepository) -> None:
    for name, offset in (("a", 0.0), ("b", 10.0), ("c", 20.0)):
        repo.insert_run(run_id=name)
        if name != "c":
            steps = list(range(0, 1000, 10))
            repo.append_history(
                name, {"loss": (steps, [offset + s for s in steps]), "acc": ([0], [1])}
            )
    repo.append_history("c", {"acc": ([0], [0.5])})
    missing = [f"ghost-{i}" for i in range(1_000)]  # past SQLite's variable limit in one call
    many = repo.get_history_many(["a", "b", "c", *missing], "loss", min_step=100, max_step=200)
    assert sorted(many) == ["a", "b"]
    assert many["a"].key == "loss" and many["a"].steps == list(range(100, 201, 10))
    assert many["b"].values == [10.0 + s for s in range(100, 201, 10)]
    assert len(repo.get_history_many(["a", "b"], "loss", max_points=10)["a"]) <= 10
    assert repo.get_history_many(["a"], "loss", min_step=5000) == {
        "a": Series.build("loss", [], [], "numeric")
    }


# -- the legacy call ----------------------------------------------------------------------------
def test_legacy_update_run_status_with_history_json(repo: RunRepository) -> None:
    repo.insert_run(run_id="legacy")
    repo.update_run_status("legacy", "running")
    history = {
        "_step": [0, 1, 2, 3.0],
        "loss": [2.5, math.nan, 1.5, -math.inf],
        "epoch": [0, 0, 1, 1],
        "_runtime": [0.5, 1.0, 1.5, 2.0],
    }
    run = repo.update_run_status(
        run_id="legacy",
        status="completed",
        final_metrics_json={"loss": 1.5},
        history_json=history,
        ended_at=dt.datetime.now(dt.timezone.utc),
        total_training_steps=4,
    )
    assert run.status == "completed"
    stored = repo.get_history("legacy")
    assert sorted(stored) == ["_runtime", "epoch", "loss"]
    assert stored["loss"].steps == [0, 1, 2, 3]
    assert stored["loss"].values[0] == 2.5 and math.isnan(stored["loss"].values[1])
    assert stored["loss"].values[3] == -math.inf and stored["epoch"].values == [0, 0, 1, 1]


def test_legacy_history_json_as_text_without_steps(repo: RunRepository) -> None:
    repo.insert_run(run_id="legacy")
    text = json.dumps({"loss": [3.0, 2.0, float("nan")], "acc": [0.1, 0.2]})
    repo.update_run_status("legacy", "failed", history_json=text)
    stored = repo.get_history("legacy")
    assert stored["loss"].steps == [0, 1, 2] and math.isnan(stored["loss"].values[2])
    assert stored["acc"].steps == [0, 1]


# -- input forms and validation ---------------------------------------------------------------
def test_the_three_input_forms_agree() -> None:
    columns = to_columns({"loss": ([0, 1, 2], [0.3, 0.2, 0.1])})
    rows = to_columns([{"loss": 0.3}, {"loss": 0.2}, {"_step": 2, "loss": 0.1}])
    legacy = to_columns({"loss": [0.3, 0.2, 0.1]})
    assert columns == rows == legacy
    assert to_columns({"a": ([2, 0, 2], [1, 2, 3])})["a"][:2] == ([0, 2], [2, 3])


def test_numpy_arrays_are_accepted_as_columns(repo: RunRepository) -> None:
    import numpy as np

    repo.insert_run(run_id="r")
    steps = np.arange(0, 3000, 3, dtype=np.int64)
    values = np.linspace(1.0, 0.0, len(steps), dtype=np.float32)
    repo.append_history("r", {"loss": (steps, values)})
    series = repo.get_history("r")["loss"]
    assert series.steps == steps.tolist()
    assert series.values == [float(v) for v in values]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"loss": ([0, -1], [1.0, 2.0])}, "non-negative"),
        ({"loss": ([-1, 0], [1.0, 2.0])}, "0..2"),
        ({"loss": ([2**63 - 1, 2**63], [1.0, 2.0])}, "0..2"),
        ({"loss": ([0, 1.5], [1.0, 2.0])}, "integer"),
        ({"loss": ([0, "1"], [1.0, 2.0])}, "integer"),
        ({"loss": ([0, 1, 2], [1.0, 2.0])}, "lengths must match"),
        ({"_step": [0, 1], "loss": [1.0, 2.0, 3.0]}, "lengths must match"),
        ({3: ([0], [1.0])}, "must be strings"),
        ([{"_step": -2, "loss": 1.0}], "0..2"),
        ([{"_step": True, "loss": 1.0}], "integer"),
        ([{1: 1.0}], "must be strings"),
        (["loss"], "mapping"),
        ("loss", "not str"),
        ({"loss": 0.5}, "list of values"),
        ({"": ([0], [1.0])}, "1..512"),
    ],
)
def test_bad_input_is_refused_before_writing(
    repo: RunRepository, data: object, message: str
) -> None:
    repo.insert_run(run_id="r")
    with pytest.raises(ValidationError, match=message):
        repo.append_history("r", data)
    assert repo.history_keys("r") == {}


# -- numpy and pandas helpers ---------------------------------------------------------------------
def test_numpy_and_pandas_helpers(repo: RunRepository) -> None:
    import numpy as np

    repo.insert_run(run_id="r")
    repo.append_history("r", {"loss": ([0, 5, 9], [0.5, math.nan, -0.0]), "acc": ([5], [0.9])})
    history = repo.get_history("r")
    steps, values = history["loss"].to_numpy()
    assert steps.dtype == np.int64 and values.dtype == np.float64
    assert steps.tolist() == [0, 5, 9] and np.isnan(values[1]) and np.signbit(values[2])
    frame = to_dataframe(history)
    assert list(frame.columns) == ["acc", "loss"] and frame.index.tolist() == [0, 5, 9]
    assert frame.loc[5, "acc"] == 0.9 and np.isnan(frame.loc[0, "acc"])


def test_helpers_name_the_missing_extra(
    repo: RunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.insert_run(run_id="r")
    repo.append_history("r", {"loss": ([0], [0.5])})
    series = repo.get_history("r")["loss"]
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(MissingExtra, match=r"mangodb\[pandas\]"):
        series.to_pandas()

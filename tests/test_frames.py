"""``repo.runs_frame`` and ``repo.history_frame`` on both dialects, and the error naming the
extra when pandas is missing."""

from __future__ import annotations

import sys

import pytest
from demo_db import DEMO_RUNS, demo_url

from mangodb import RunRepository
from mangodb.errors import MissingExtra
from mangodb.frames import flatten

__all__ = ["demo_url"]


def test_flatten_makes_dotted_columns() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": [1, {"x": 2}]}, "e": {}}) == {
        "a.b.c": 1,
        "a.d": [1, {"x": 2}],
        "e": {},
    }


def test_runs_frame_has_one_row_per_run_with_flat_config(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        frame = repo.runs_frame()
        completed = repo.runs_frame("status = completed and config.data.batch_size = 96")
        runs = {r.run_id: r for r in repo.query_runs(limit=1000)}
    assert len(frame) == DEMO_RUNS
    assert set(frame["run_id"]) == set(runs)
    for column in ("status", "gradient_method", "config.data.batch_size", "config.optim.lr",
                   "objective.hop", "metric.val/hop_loss", "tags"):  # fmt: skip
        assert column in frame.columns, column
    for run_id, row in frame.iterrows():
        assert row["config.data.batch_size"] == runs[str(run_id)].config["data"]["batch_size"]
        assert row["status"] == runs[str(run_id)].status.value
    assert len(completed) > 0
    assert set(completed["status"]) == {"completed"}
    assert set(completed["config.data.batch_size"]) == {96}


def test_runs_frame_columns(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        frame = repo.runs_frame(columns=["run_id", "method", "objective.seg"], status="completed")
    assert list(frame.columns) == ["run_id", "method", "objective.seg"]
    assert frame["objective.seg"].between(0, 1).all()


def test_history_frame_is_long_format(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        run_ids = [r.run_id for r in repo.query_runs(status="completed", limit=3)]
        frame = repo.history_frame(run_ids, ["val/hop_loss", "train/loss"])
        expected = {rid: repo.get_history(rid, ["val/hop_loss", "train/loss"]) for rid in run_ids}
    assert list(frame.columns) == ["run_id", "key", "step", "value"]
    assert str(frame["step"].dtype) == "int64"
    for (run_id, key), group in frame.groupby(["run_id", "key"]):
        series = expected[str(run_id)][str(key)]
        assert list(group["step"]) == series.steps
        assert list(group["value"]) == series.values
    wide = frame.pivot_table(index=["run_id", "step"], columns="key", values="value")
    assert set(wide.columns) == {"val/hop_loss", "train/loss"}


def test_without_pandas_the_error_names_the_extra(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with RunRepository.connect(demo_url) as repo:
        with pytest.raises(MissingExtra, match=r"mangodb\[pandas\]"):
            repo.runs_frame()
        with pytest.raises(MissingExtra, match=r"mangodb\[pandas\]"):
            repo.history_frame(["x"])

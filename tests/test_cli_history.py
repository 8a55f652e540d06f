"""``mangodb history`` through Typer's runner on both dialects: summary, CSV, JSON, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from demo_db import demo_url
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from mangodb import RunRepository
from mangodb.cli import app
from mangodb.cli.render import sparkline

__all__ = ["demo_url"]


def mangodb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def run_id(demo_url: str) -> str:
    with RunRepository.connect(demo_url) as repo:
        return repo.query_runs(status="completed", order_by="run_id", limit=1)[0].run_id


def test_summary_has_one_row_per_key_with_a_sparkline(demo_url: str, run_id: str) -> None:
    result = mangodb("history", run_id, "--url", demo_url)
    assert result.exit_code == 0, result.output
    for key in ("train/loss", "val/hop_loss", "val/seg_miou", "val/depth_abs_err"):
        assert key in result.stdout
    assert "101" in result.stdout  # 0..2000 every 20 steps
    assert any(bar in result.stdout for bar in "▁▂▃▄▅▆▇█")


def test_csv_is_wide_and_matches_get_history(demo_url: str, run_id: str) -> None:
    result = mangodb("history", run_id, "val/hop_loss", "train/loss", "--csv", "--url", demo_url)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["step", "val/hop_loss", "train/loss"]
    with RunRepository.connect(demo_url) as repo:
        series = repo.get_history(run_id, ["val/hop_loss", "train/loss"])
    assert [int(r[0]) for r in rows[1:]] == series["val/hop_loss"].steps
    assert [float(r[1]) for r in rows[1:]] == series["val/hop_loss"].values
    assert [float(r[2]) for r in rows[1:]] == series["train/loss"].values


def test_json_and_max_points(demo_url: str, run_id: str) -> None:
    result = mangodb("history", run_id, "val/seg_miou", "--json", "--max-points", "10",
                     "--url", demo_url)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["val/seg_miou"]
    assert 2 <= len(data["val/seg_miou"]["steps"]) <= 10
    assert len(data["val/seg_miou"]["steps"]) == len(data["val/seg_miou"]["values"])


def test_unknown_key_is_a_one_line_error(demo_url: str, run_id: str) -> None:
    result = mangodb("history", run_id, "val/nope", "--url", demo_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "val/nope" in result.stderr
    assert "Traceback" not in result.output


def test_bad_max_points_is_a_usage_error(demo_url: str, run_id: str) -> None:
    result = mangodb("history", run_id, "--max-points", "0", "--url", demo_url)
    assert result.exit_code == 2


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=400),
    width=st.integers(2, 60),
    spike=st.floats(1e7, 1e9),
    where=st.floats(0, 1),
)
def test_a_sparkline_never_hides_a_spike(
    values: list[float], width: int, spike: float, where: float
) -> None:
    """One cell per value up to ``width`` values, and a spike anywhere (the series' maximum,
    far above the rest) is drawn at the top, a dip at the bottom, unless the opposite extreme
    shares its cell."""
    at = int(where * len(values))
    for series, bar in (
        ([*values[:at], spike, *values[at:]], "█"),
        ([*(-v for v in values[:at]), -spike, *(-v for v in values[at:])], "▁"),
    ):
        line = sparkline(series, width)
        assert len(line) == min(width, len(series))
        cell = at * len(line) // len(series)
        opposite = series.index(min(series) if bar == "█" else max(series))
        if opposite * len(line) // len(series) != cell:
            assert line[cell] == bar

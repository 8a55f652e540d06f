"""What a user reads about a series (points, step range, last value, extremes, NaN count) is
its stored summary, exact whatever the appends were, never a downsample; ``runs show`` and
``history`` print it (both dialects)."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import pytest
from demo_db import cli_demo_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError
from test_history_roundtrip import Model, anything, as_input, bits, is_number, numbers, operations
from typer.testing import CliRunner, Result

from mangodb import RunNotFound, RunRepository
from mangodb.cli import app
from mangodb.cli.history import MIN_POINTS as CLI_MIN_POINTS
from mangodb.history import SeriesSummary, chunk_plan, store
from mangodb.history.downsample import MIN_POINTS

__all__ = ["cli_demo_url"]

# The run: val/hop_loss has 64 points over steps 0..1260 and ends at 0.4563.
DEMO_RUN = "deco_hop_bs64_mgda_i-0c68bf56155a83e50"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_plan, "MAX_CHUNK_POINTS", 8)
    monkeypatch.setattr(store, "SMALL_APPEND", 4)
    monkeypatch.setattr(store, "COMPACT_POINTS", 3)


def same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isnan(b) if math.isnan(a) else bits(a) == bits(b) or a == b == 0.0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.one_of(operations(numbers), operations(anything)))
def test_the_summary_read_is_exact_whatever_was_appended(
    repo: RunRepository, small_chunks: None, ops: list[Any]
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    repo.insert_run(run_id=run_id)
    model = Model()
    for points, form in ops:
        model.apply(points)
        repo.append_history(run_id, as_input(points, form))
    summaries = repo.history_summary(run_id)
    assert list(summaries) == sorted(model.points)
    for key, stored in model.points.items():
        summary = summaries[key]
        numbers_ = [float(v) for v in stored.values() if is_number(v)]
        kept = [v for v in numbers_ if not math.isnan(v)]
        last = stored[max(stored)]
        assert summary.key == key
        assert summary.kind == ("json" if key in model.json_keys else "numeric")
        assert summary.points == len(stored)
        assert (summary.first_step, summary.last_step) == (min(stored), max(stored))
        assert summary.min_value == (min(kept) if kept else None)
        assert summary.max_value == (max(kept) if kept else None)
        assert summary.nan_count == len(numbers_) - len(kept)
        assert same_float(summary.last_value, float(last) if is_number(last) else None)


def test_summaries_are_frozen_dtos_of_a_run(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    assert repo.history_summary("r") == {}
    repo.append_history("r", {"loss": ([0, 5, 9], [math.nan, -math.inf, -0.0]), "x": ([3], ["a"])})
    summaries = repo.history_summary("r")
    loss = summaries["loss"]
    assert type(loss) is SeriesSummary
    assert (loss.points, loss.first_step, loss.last_step, loss.nan_count) == (3, 0, 9, 1)
    assert loss.min_value == -math.inf and loss.max_value == 0.0
    assert loss.last_value == 0.0 and math.copysign(1.0, loss.last_value) == -1.0
    assert summaries["x"].kind == "json" and summaries["x"].last_value is None
    with pytest.raises(PydanticValidationError):
        loss.points = 4  # type: ignore[misc]
    with pytest.raises(RunNotFound):
        repo.history_summary("nope")


# -- the CLI, on the database `mangodb demo` writes --------------------------------------------
def mangodb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def hop_row(output: str) -> list[str]:
    """The row of val/hop_loss in the history table (the last section of the output)."""
    rows = [line.split() for line in output.splitlines() if line.split()[:1] == ["val/hop_loss"]]
    assert len(rows) == 1, output
    return rows[0]


def test_the_demo_run_ends_where_its_summary_says(cli_demo_url: str) -> None:
    with RunRepository.connect(cli_demo_url) as repo:
        series = repo.get_history(DEMO_RUN, ["val/hop_loss"])["val/hop_loss"]
        summary = repo.history_summary(DEMO_RUN)["val/hop_loss"]
        run = repo.get_run(DEMO_RUN)
    assert (summary.points, summary.first_step, summary.last_step) == (64, 0, 1260)
    assert summary.last_value == series.values[-1] and f"{summary.last_value:.4}" == "0.4563"
    assert summary.min_value == min(series.values) and summary.max_value == max(series.values)
    hop = next(o for o in run.objectives if o.name == "hop")
    assert (hop.value, hop.step) == (summary.last_value, summary.last_step)


@pytest.mark.parametrize(
    "command",
    [["runs", "show", DEMO_RUN], ["history", DEMO_RUN, "--max-points", str(MIN_POINTS)]],
)
def test_the_cli_shows_exact_figures_of_a_downsampled_series(
    cli_demo_url: str, command: list[str]
) -> None:
    result = mangodb(*command, "--url", cli_demo_url)
    assert result.exit_code == 0, result.output
    row = hop_row(result.stdout)
    assert row[1:4] == ["64", "0–1260", "0.4563"]  # points, steps, last: not 60, 0–1240, 0.4667


def test_runs_show_json_counts_every_point(cli_demo_url: str) -> None:
    result = mangodb("runs", "show", DEMO_RUN, "--json", "--url", cli_demo_url)
    assert result.exit_code == 0, result.output
    keys = json.loads(result.stdout)["history_keys"]
    assert keys == {"train/loss": 64, "val/depth_abs_err": 64, "val/hop_loss": 64,
                    "val/seg_miou": 64}  # fmt: skip


def test_the_max_points_option_agrees_with_the_library(cli_demo_url: str) -> None:
    assert CLI_MIN_POINTS == MIN_POINTS
    too_few = mangodb("history", DEMO_RUN, "--max-points", str(MIN_POINTS - 1),
                      "--url", cli_demo_url)  # fmt: skip
    assert too_few.exit_code == 2 and "Traceback" not in too_few.output
    help_text = mangodb("history", "--help").stdout
    assert f"at least {MIN_POINTS}" in " ".join(help_text.split())

"""``mangodb runs ls/show/set-status/tag``, ``compare`` and ``export`` through Typer's runner,
on SQLite and PostgreSQL, against a simulated campaign; bad input gives a one-line error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from demo_db import DEMO_RUNS, demo_url
from typer.testing import CliRunner, Result

from mangodb import RunRepository
from mangodb.cli import app

__all__ = ["demo_url"]  # the module-scoped campaign fixture

UNREACHABLE = "postgresql://u:secret@127.0.0.1:1/x"


def mangodb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = mangodb(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def ids_of(url: str, where: str) -> set[str]:
    rows = json.loads(ok("runs", "ls", where, "--json", "--limit", "1000", "--url", url))
    return {row["run_id"] for row in rows}


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_every_command_has_help() -> None:
    for command in (
        [],
        ["runs"],
        ["runs", "ls"],
        ["runs", "show"],
        ["runs", "set-status"],
        ["runs", "tag"],
        ["compare"],
        ["export"],
        ["history"],
        ["demo"],
    ):
        result = mangodb(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.stdout


def test_ls_lists_runs_matching_a_query(demo_url: str) -> None:
    every = ids_of(demo_url, "run_id like '%'")
    assert len(every) == DEMO_RUNS
    crashed = ids_of(demo_url, "status = crashed")
    assert crashed and crashed < every
    with RunRepository.connect(demo_url) as repo:
        assert crashed == {r.run_id for r in repo.query_runs(status="crashed")}
    table = ok("runs", "ls", "status = crashed", "--url", demo_url)
    for run_id in crashed:
        assert run_id in table
    assert f"{len(crashed)} of {len(crashed)} runs" in table


def test_ls_columns_sort_and_limit(demo_url: str) -> None:
    rows = json.loads(
        ok(
            "runs", "ls", "status = completed",
            "--columns", "run_id,objective.hop,config.data.batch_size,metric.val/hop_loss,tags",
            "--sort", "metric.val/hop_loss", "--limit", "3", "--json", "--url", demo_url,
        )
    )  # fmt: skip
    assert len(rows) == 3
    assert list(rows[0]) == [
        "run_id",
        "objective.hop",
        "config.data.batch_size",
        "metric.val/hop_loss",
        "tags",
    ]
    losses = [row["metric.val/hop_loss"] for row in rows]
    assert losses == sorted(losses)
    assert all(row["config.data.batch_size"] in (64, 96) for row in rows)


def test_show_prints_everything_about_a_run(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        crashed = next(r for r in repo.query_runs(status="crashed") if r.crash_reports)
    text = ok("runs", "show", crashed.run_id, "--url", demo_url)
    expected = ["config", "data.batch_size", "objectives", "status events", "crash report"]
    expected += ["OutOfMemoryError", "history", "val/hop_loss", "running → crashed"]
    for fragment in expected:
        assert fragment in text, fragment
    assert any(bar in text for bar in "▁▂▃▄▅▆▇█")
    data = json.loads(ok("runs", "show", crashed.run_id, "--json", "--url", demo_url))
    assert data["run_id"] == crashed.run_id
    assert data["status"] == "crashed"
    assert data["crash_reports"][0]["error_type"] == "OutOfMemoryError"
    assert data["history_keys"]["val/hop_loss"] > 0
    assert [e["to_status"] for e in data["events"]][:2] == ["launched", "running"]


def test_set_status_records_an_event_and_refuses_without_force(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        run_id = repo.query_runs(status="completed", limit=1)[0].run_id
    refused = mangodb("runs", "set-status", run_id, "crashed", "--url", demo_url)
    assert_one_line_error(refused, 1, "cannot move from 'completed' to 'crashed'", "--force")
    assert len(refused.stderr.strip().splitlines()) == 1
    text = ok(
        "runs", "set-status", run_id, "crashed", "--force", "--wandb-run-id", "hzg69uzq",
        "--reason", "OOM seen in the logs", "--url", demo_url,
    )  # fmt: skip
    assert "completed -> crashed (forced)" in text
    with RunRepository.connect(demo_url) as repo:
        run = repo.get_run(run_id)
    assert run.status == "crashed"
    assert run.wandb_run_id == "hzg69uzq"
    assert run.events[-1].forced and run.events[-1].reason == "OOM seen in the logs"
    assert run.events[-1].source == "cli"
    again = ok("runs", "set-status", run_id, "crashed", "--url", demo_url)
    assert "already crashed" in again
    bad = mangodb("runs", "set-status", run_id, "crashd", "--force", "--url", demo_url)
    assert_one_line_error(bad, 1, "unknown status 'crashd'")


def test_tag_adds_and_removes(demo_url: str) -> None:
    run_id = sorted(ids_of(demo_url, "status = completed"))[0]
    ok("runs", "tag", run_id, "best", "keep", "--url", demo_url)
    assert run_id in ids_of(demo_url, "tag = best and tag = keep")
    ok("runs", "tag", run_id, "keep", "--remove", "--url", demo_url)
    assert run_id in ids_of(demo_url, "tag = best and not tag = keep")


def test_compare_matches_the_repository(demo_url: str) -> None:
    data = json.loads(ok("compare", "--objective", "hop", "--json", "--url", demo_url))
    with RunRepository.connect(demo_url) as repo:
        expected = repo.compare_gradient_methods("hop")
    assert [row["gradient_method"] for row in data["hop"]] == [r.gradient_method for r in expected]
    assert [row["n"] for row in data["hop"]] == [r.n for r in expected]
    everything = json.loads(ok("compare", "--json", "--url", demo_url))
    assert set(everything) == {"hop", "seg", "depth"}
    subset = json.loads(
        ok("compare", "-o", "hop", "--where", "batch_size = 96", "--json", "--url", demo_url)
    )
    assert sum(r["n"] for r in subset["hop"]) < sum(r["n"] for r in data["hop"])
    table = ok("compare", "-o", "hop", "--url", demo_url)
    assert "objective hop (lower is better)" in table
    for method in ("mgda", "pcgrad", "imtlg", "uniform"):
        assert method in table


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_every_matching_run(demo_url: str, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"runs.{fmt}"
    result = mangodb("export", "status = completed", "--format", fmt, "--out", str(target),
                     "--url", demo_url)  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = ids_of(demo_url, "status = completed")
    assert f"wrote {len(expected)} runs" in result.stdout
    if fmt == "csv":
        with target.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in target.read_text().splitlines()]
    else:
        import pandas as pd

        rows = pd.read_parquet(target).to_dict("records")
    assert {row["run_id"] for row in rows} == expected
    assert all(str(row["config.data.batch_size"]) in ("64", "96") for row in rows)


def test_export_refuses_an_unknown_format(demo_url: str, tmp_path: Path) -> None:
    result = mangodb("export", "--format", "xlsx", "--out", str(tmp_path / "x"), "--url", demo_url)
    assert_one_line_error(result, 1, "unknown export format 'xlsx'")


# -- bad input: one line on stderr, meaningful exit code, no traceback ---------------------
@pytest.mark.parametrize(
    "command",
    [
        ["runs", "show", "nope"],
        ["runs", "set-status", "nope", "crashed"],
        ["runs", "tag", "nope", "x"],
        ["history", "nope"],
    ],
)
def test_unknown_run(demo_url: str, command: list[str]) -> None:
    result = mangodb(*command, "--url", demo_url)
    assert_one_line_error(result, 1, "run not found: 'nope'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_column_is_refused_even_when_nothing_matches(demo_url: str) -> None:
    result = mangodb("runs", "ls", "run_id = nope", "-c", "run_id,stauts", "--url", demo_url)
    assert_one_line_error(result, 1, "unknown column 'stauts'")
    export = mangodb("export", "-c", "config.", "--out", "never-written.csv", "--url", demo_url)
    assert_one_line_error(export, 1, "unknown column 'config.'")


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "ls", "status = crashd"],
        ["compare", "--where", "status = crashd"],
        ["export", "status = crashd", "--out", "never-written.csv"],
    ],
)
def test_malformed_query_points_at_the_column(demo_url: str, command: list[str]) -> None:
    result = mangodb(*command, "--url", demo_url)
    assert_one_line_error(
        result, 1, "unknown status 'crashd', did you mean 'crashed'? at column 10"
    )
    assert "           ^" in result.stderr  # the caret under column 10
    assert not Path("never-written.csv").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "ls"],
        ["runs", "show", "r"],
        ["runs", "set-status", "r", "crashed"],
        ["runs", "tag", "r", "x"],
        ["compare"],
        ["history", "r"],
        ["export", "--out", "never-written.csv"],
    ],
)
def test_unreachable_database(command: list[str]) -> None:
    result = mangodb(*command, "--url", UNREACHABLE)
    assert_one_line_error(result, 3, "cannot use database", "u:***@127.0.0.1:1")
    assert "secret" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_parquet_without_pyarrow_names_the_extra(
    demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    target = tmp_path / "runs.parquet"
    result = mangodb("export", "--format", "parquet", "--out", str(target), "--url", demo_url)
    assert_one_line_error(result, 1, "pyarrow is not installed", "mangodb[pandas]")
    assert not target.exists()


def test_user_text_is_printed_literally_never_as_markup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'markup.sqlite3'}"
    run_id = "exp[bold]1[/bold]"
    with RunRepository.connect(url) as repo:
        repo.insert_run(run_id=run_id, gradient_method="[red]x", config={"a[0]": "[b]"})
    listed = ok("runs", "ls", "-c", "run_id,method,config.a[0]", "--url", url)
    assert run_id in listed and "[red]x" in listed
    shown = ok("runs", "show", run_id, "--url", url)
    assert f"run {run_id}" in shown and "[b]" in shown
    tagged = ok("runs", "tag", run_id, "[i]", "--url", url)
    assert f"{run_id}: tags [i]" in tagged

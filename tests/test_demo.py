"""``mangodb demo``: a simulated campaign written through the public API, re-runnable."""

from __future__ import annotations

from pathlib import Path

from demo_db import DEMO_RUNS, demo_url
from typer.testing import CliRunner

from mangodb import RunRepository
from mangodb.cli import app
from mangodb.demo import METHODS, OBJECTIVES
from mangodb.settings import sqlite_url

__all__ = ["demo_url"]


def test_demo_command_prints_the_comparison_and_can_run_again(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    first = CliRunner().invoke(app, ["demo", "--db", str(db)])
    assert first.exit_code == 0, first.output
    # Rich wraps lines at the terminal width, where the (temporary) path length decides.
    printed = " ".join(first.stdout.split())
    assert "wrote 24 runs, 0 already there; reaped 1 stale run(s)" in printed
    for objective in ("hop (lower is better)", "seg (higher is better)", "depth (lower"):
        assert f"objective {objective}" in printed
    for method in METHODS:
        assert method in first.stdout
    again = CliRunner().invoke(app, ["demo", "--db", str(db)])
    assert again.exit_code == 0, again.output
    assert "wrote 0 runs, 24 already there; reaped 0 stale run(s)" in " ".join(again.stdout.split())
    more = CliRunner().invoke(app, ["demo", "--db", str(db), "--runs", "8", "--seed", "3"])
    assert more.exit_code == 0, more.output
    with RunRepository.connect(sqlite_url(db)) as repo:
        assert repo.count_runs() == 32


def test_the_campaign_has_what_the_demo_promises(demo_url: str) -> None:
    with RunRepository.connect(demo_url) as repo:
        runs = repo.query_runs(limit=1000)
        by_status = repo.count_by_status()
        comparison = repo.compare_gradient_methods("hop")
        histories = {r.run_id: repo.history_keys(r.run_id) for r in runs}
    assert len(runs) == DEMO_RUNS
    assert {r.gradient_method for r in runs} == set(METHODS)
    assert {"completed", "failed", "crashed"} <= set(by_status)
    assert {o.name for o in runs[0].objectives} == {o.name for o in OBJECTIVES}
    assert all(isinstance(r.config["data"], dict) for r in runs)
    crash_reports = [c for r in runs for c in r.crash_reports]
    assert len(crash_reports) == 1
    assert crash_reports[0].error_type == "OutOfMemoryError"
    assert crash_reports[0].error_log_s3_key and crash_reports[0].analysis_s3_key
    reaped = [
        e for r in runs for e in r.events if e.source == "reaper" and e.to_status == "crashed"
    ]
    assert len(reaped) == 1 and reaped[0].reason == "heartbeat lost"
    assert all(keys.get("val/hop_loss", 0) > 0 for keys in histories.values())
    assert {row.gradient_method for row in comparison} == set(METHODS)
    assert sum(row.n for row in comparison) == by_status["completed"]


def test_demo_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    unwritable = tmp_path / "a-file" / "demo.sqlite3"
    result = CliRunner().invoke(app, ["demo", "--db", str(unwritable)])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    usage = CliRunner().invoke(app, ["demo", "--db", str(tmp_path / "d.sqlite3"), "--runs", "0"])
    assert usage.exit_code == 2

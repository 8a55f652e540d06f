"""``import-wandb``: a local run directory becomes a mangodb run equal to its ``.wandb`` file;
killed runs (torn tail, no exit record) are imported as far as they go and marked crashed;
importing again changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from test_wandb_reader import log_every_pattern, same
from typer.testing import CliRunner
from waiting import wait_for

from mangodb import RunRepository
from mangodb.errors import ValidationError
from mangodb.integrations.wandb import find_run_logs, import_run
from mangodb.integrations.wandb.logfile import read_run_log
from mangodb.status import RunStatus

wandb = pytest.importorskip("wandb")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished offline run (every logging pattern), shared by the module's tests."""
    root = tmp_path_factory.mktemp("wandb-import")
    run = wandb.init(project="mangodb-import", dir=str(root), config={"lr": 0.5, "opt": {"b": 1}})
    log_every_pattern(run)
    run.finish()
    (path,) = root.glob("wandb/offline-run-*/run-*.wandb")
    # wandb-core may still be writing after finish()
    wait_for(lambda: read_run_log(path).has_exit, f"wandb-core to write the end of {path.name}")
    return path.parent


def stored_rows(repo: RunRepository, run_id: str) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for key, series in repo.get_history(run_id).items():
        for step, value in zip(series.steps, series.values, strict=True):
            rows.setdefault(step, {})[key] = value
    return rows


def test_import_equals_the_file_and_is_idempotent(repo: RunRepository, run_dir: Path) -> None:
    log = read_run_log(next(run_dir.glob("run-*.wandb")))
    result = import_run(repo, run_dir)
    wandb_id = log.run["run_id"]
    assert result.created and result.run_id == wandb_id and result.status is RunStatus.COMPLETED
    assert result.points_written == log.points and result.rows == len(log.history)
    rows = stored_rows(repo, wandb_id)
    assert sorted(rows) == [r.step for r in log.history]
    for row in log.history:  # every key, W&B's _runtime and _timestamp included
        assert same(rows[row.step], row.values), row.step
    run = repo.get_run(wandb_id)
    assert run.config == log.config and run.config["opt"] == {"b": 1}
    assert same(run.final_metrics, log.summary)
    assert run.wandb_project == "mangodb-import" and run.exit_code == 0
    events = len(run.events)
    again = import_run(repo, run_dir)
    assert (again.points_written, again.points_skipped, again.created) == (0, log.points, False)
    assert len(repo.get_run(wandb_id).events) == events


def test_killed_run_is_imported_as_far_as_it_goes_and_crashed(
    repo: RunRepository, run_dir: Path, tmp_path: Path
) -> None:
    source = next(run_dir.glob("run-*.wandb"))
    full = read_run_log(source)
    torn = tmp_path / "offline-run-x" / source.name
    torn.parent.mkdir()
    torn.write_bytes(source.read_bytes()[: source.stat().st_size * 2 // 3])
    log = read_run_log(torn)
    assert 0 < len(log.history) < len(full.history) and not log.has_exit
    result = import_run(repo, torn.parent, run_id="killed")
    assert result.created and result.status is RunStatus.CRASHED
    run = repo.get_run("killed")
    assert run.events[-1].reason == "no exit record in .wandb file"
    assert run.events[-1].details is not None and run.events[-1].details["history_rows"] == len(
        log.history
    )
    assert sorted(stored_rows(repo, "killed")) == [r.step for r in log.history]
    last = log.history[-1].values["_timestamp"]  # ended: when it last logged, not now
    assert run.ended_at is not None and abs(run.ended_at.timestamp() - last) < 1e-3
    # The whole file later (e.g. copied from the node): the rest is filled in, the verdict
    # already given stands.
    more = import_run(repo, source, run_id="killed")
    assert more.points_written == full.points - log.points
    assert more.status is RunStatus.CRASHED


def test_cli_imports_with_progress_and_is_idempotent(run_dir: Path, tmp_path: Path) -> None:
    from mangodb.cli.app import app

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    first = CliRunner().invoke(app, ["import-wandb", str(run_dir.parent), "--url", url])
    assert first.exit_code == 0, first.output
    assert "[completed]" in first.output and "created" in first.output
    again = CliRunner().invoke(app, ["import-wandb", str(run_dir.parent), "--url", url])
    assert again.exit_code == 0 and "0 new points" in again.output
    other = CliRunner().invoke(app, ["import-wandb", str(run_dir), "--url", url, "--run-id", "x"])
    assert other.exit_code == 0 and "-> run x [completed]" in other.output
    ambiguous = CliRunner().invoke(app, ["import-wandb", str(run_dir), "--url", url])
    assert ambiguous.exit_code == 1 and "several mangodb runs record W&B run" in ambiguous.output


def test_cli_errors_are_one_line(run_dir: Path, tmp_path: Path) -> None:
    from mangodb.cli.app import app

    twice = tmp_path / "two"
    for name in ("offline-run-a", "offline-run-b"):
        shutil.copytree(run_dir, twice / name, symlinks=True)
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    outcome = CliRunner().invoke(app, ["import-wandb", str(twice), "--run-id", "x", "--url", url])
    assert (
        outcome.exit_code == 1 and "--run-id needs exactly one W&B run, found 2" in outcome.output
    )
    missing = CliRunner().invoke(app, ["import-wandb", str(tmp_path / "nope"), "--url", url])
    assert missing.exit_code == 1 and "no such file or directory" in missing.output


def test_keep_status_leaves_statuses_alone(repo: RunRepository, run_dir: Path) -> None:
    result = import_run(repo, run_dir, run_id="kept", set_status=False)
    assert result.status is RunStatus.LAUNCHED


def test_find_run_logs_accepts_files_run_dirs_and_wandb_dirs(run_dir: Path) -> None:
    (log,) = run_dir.glob("run-*.wandb")
    expected = [log.resolve()]
    assert find_run_logs([log]) == expected
    assert find_run_logs([run_dir]) == expected
    assert find_run_logs([run_dir.parent]) == expected  # ./wandb (latest-run link deduplicated)
    assert find_run_logs([run_dir.parent.parent, log]) == expected
    with pytest.raises(ValidationError, match=r"not a \.wandb file"):
        find_run_logs([run_dir / "files" / "requirements.txt"])

"""What a user meets on the command line: read-only commands never create a database, export
checks its destination and follows the file's extension, a mistyped objective is an error with
a suggestion, ``--max-points`` says and checks the same minimum, ``--version``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from demo_db import demo_url
from typer.testing import CliRunner, Result

from mangodb.cli import app
from mangodb.history.downsample import MIN_POINTS

__all__ = ["demo_url"]


def mangodb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


READ_ONLY = {
    "runs ls": ["runs", "ls"],
    "runs show": ["runs", "show", "r"],
    "compare": ["compare"],
    "history": ["history", "r"],
    "db status": ["db", "status"],
    "db current": ["db", "current"],
    "export": ["export", "--out", "{tmp}/runs.csv"],
    "report": ["report", "--out", "{tmp}/report.html"],
    "ui": ["ui", "--port", "0"],
    "runs set-status": ["runs", "set-status", "r", "failed"],
    "runs tag": ["runs", "tag", "r", "x"],
}


@pytest.mark.parametrize("command", READ_ONLY)
@pytest.mark.parametrize("how", ["--url", "MANGODB_URL"])
def test_a_missing_sqlite_file_is_an_error_and_nothing_is_created(
    command: str, how: str, tmp_path: Path
) -> None:
    missing = tmp_path / "sub" / "nothing.sqlite3"
    args = [a.replace("{tmp}", str(tmp_path)) for a in READ_ONLY[command]]
    if how == "--url":
        result = CliRunner().invoke(app, [*args, "--url", str(missing)])
    else:
        result = CliRunner().invoke(app, args, env={"MANGODB_URL": str(missing)})
    assert_one_line_error(result, 3, f"no mangodb database at {missing}")
    assert list(tmp_path.iterdir()) == []  # no file, no directory, no export


def test_writing_commands_still_create_the_database(tmp_path: Path) -> None:
    target = tmp_path / "new" / "demo.sqlite3"
    result = mangodb("demo", "--runs", "2", "--url", str(target))
    assert result.exit_code == 0, result.output
    assert target.exists()


def test_export_to_a_missing_directory_or_onto_a_directory(demo_url: str, tmp_path: Path) -> None:
    result = mangodb("export", "--out", str(tmp_path / "no" / "x.csv"), "--url", demo_url)
    assert_one_line_error(result, 1, "does not exist")
    result = mangodb("export", "--out", str(tmp_path), "--url", demo_url)
    assert_one_line_error(result, 1, "is a directory")


@pytest.mark.parametrize("name", ["x.jsonl", "x.csv", "x.parquet", "x.CSV", "x.txt"])
def test_export_follows_the_extension(demo_url: str, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = mangodb("export", "--out", str(out), "--url", demo_url)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if name.endswith(".jsonl"):
        assert all(json.loads(line)["run_id"] for line in data.decode().splitlines())
    elif name.endswith(".parquet"):
        assert data[:4] == b"PAR1"
    else:  # .csv, and csv by default for an extension that implies nothing
        assert data.decode().startswith("run_id,")


@pytest.mark.parametrize(("name", "fmt"), [("x.csv", "jsonl"), ("x.jsonl", "csv")])
def test_a_format_that_contradicts_the_extension_is_an_error(
    demo_url: str, tmp_path: Path, name: str, fmt: str
) -> None:
    result = mangodb("export", "--out", str(tmp_path / name), "--format", fmt, "--url", demo_url)
    assert_one_line_error(result, 1, "does not match the extension")
    assert not (tmp_path / name).exists()


def test_exported_columns_come_in_the_same_order_on_both_dialects(
    demo_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "runs.csv"
    assert mangodb("export", "--out", str(out), "--url", demo_url).exit_code == 0
    with out.open() as handle:
        header = next(csv.reader(handle))
    for prefix in ("config.", "metric.", "objective."):
        group = [c for c in header if c.startswith(prefix)]
        assert group and group == sorted(group)
    # The demo's config, in the one order both dialects now give (the campaign is the same).
    config = [c for c in header if c.startswith("config.")]
    assert config[:3] == ["config.data.augment", "config.data.batch_size", "config.data.dataset"]
    jsonl = tmp_path / "runs.jsonl"
    assert mangodb("export", "--out", str(jsonl), "--url", demo_url).exit_code == 0
    first = json.loads(jsonl.read_text().splitlines()[0])
    keys = [k for k in first if k.startswith("config.")]
    assert keys == sorted(keys)


def test_compare_with_an_unknown_objective_suggests_one(demo_url: str) -> None:
    result = mangodb("compare", "--objective", "hpo", "--url", demo_url)
    assert_one_line_error(result, 1, "no run has an objective 'hpo'", "did you mean 'hop'?")
    result = mangodb("compare", "--objective", "nope", "--url", demo_url)
    assert_one_line_error(result, 1, "'nope'", "depth, hop, seg")


def test_compare_with_a_known_objective_but_no_matching_run_is_not_an_error(
    demo_url: str,
) -> None:
    result = mangodb("compare", "-o", "hop", "--where", "batch_size = 12345", "--url", demo_url)
    assert result.exit_code == 0, result.output


def test_max_points_help_and_check_agree(demo_url: str) -> None:
    from mangodb import RunRepository

    with RunRepository.connect(demo_url) as repo:
        run_id = repo.query_runs(status="completed", limit=1)[0].run_id
    help_text = " ".join(mangodb("history", "--help").stdout.split())
    assert f"at least {MIN_POINTS}" in help_text
    below = mangodb("history", run_id, "--max-points", str(MIN_POINTS - 1), "--url", demo_url)
    assert below.exit_code == 2
    at = mangodb("history", run_id, "--max-points", str(MIN_POINTS), "--url", demo_url)
    assert at.exit_code == 0, at.output


def test_version() -> None:
    from importlib.metadata import version

    result = mangodb("--version")
    assert result.exit_code == 0
    assert result.stdout == f"mangodb {version('mangodb')}\n"

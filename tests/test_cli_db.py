"""``mangodb db``: upgrade, current, and status (revision, rows per table, size, writing hosts,
and the advice to move to PostgreSQL with the exact copy command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import RunCreate, RunRepository
from mangodb.cli import app
from mangodb.db.schema import head_revision
from mangodb.transfer.status import SQLITE_RUNS_LIMIT


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _status(url: URL) -> dict[str, Any]:
    result = _invoke("db", "status", "--url", url.render_as_string(hide_password=False), "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


@pytest.mark.parametrize("revision", ["", "@", "head+1", "haed", "nope", "-1", "base:head"])
def test_upgrade_to_an_unknown_revision_is_one_error_line(
    revision: str, sqlite_url: URL
) -> None:
    """Alembic's own errors (an AssertionError for "" or "@") used to escape as tracebacks."""
    text_url = sqlite_url.render_as_string(hide_password=False)
    result = _invoke("db", "upgrade", "--url", text_url, "--revision", revision)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: unknown schema revision {revision!r}: give one of")
    assert "Traceback" not in result.output and result.stdout == ""
    assert _invoke("db", "current", "--url", text_url).output.startswith("empty")


def test_upgrade_then_current_then_status(db_url: URL) -> None:
    text_url = db_url.render_as_string(hide_password=False)
    if db_url.get_backend_name() == "sqlite":  # read-only commands never create the file
        assert _invoke("db", "current", "--url", text_url).exit_code == 3
        Path(str(db_url.database)).touch()  # an empty SQLite file is an empty database
    assert _invoke("db", "current", "--url", text_url).output.startswith("empty")
    upgraded = _invoke("db", "upgrade", "--url", text_url)
    assert upgraded.exit_code == 0 and f"empty -> {head_revision()}" in upgraded.output
    assert _invoke("db", "current", "--url", text_url).output.strip() == (
        f"{head_revision()} (head)"
    )
    with RunRepository.connect(db_url) as repo:
        repo.insert_runs(RunCreate(run_id=f"r{i}") for i in range(7))
    status = _status(db_url)
    assert (status["revision"], status["head"]) == (head_revision(), head_revision())
    assert status["rows"]["runs"] == 7 and status["rows"]["run_events"] == 7
    assert "mangodb_copy_state" not in status["rows"]
    assert status["size_bytes"] > 0
    assert status["warnings"] == [] and status["copy_command"] is None
    table = _invoke("db", "status", "--url", text_url)
    assert table.exit_code == 0 and "runs" in table.output and "warning" not in table.output


def test_status_warns_when_several_machines_write_to_sqlite(sqlite_url: URL) -> None:
    for host in ("ip-10-0-0-1", "ip-10-0-0-2"):
        with RunRepository.connect(sqlite_url) as repo:
            repo.host = host  # as if the process ran on that EC2 instance
            repo.insert_run(RunCreate(run_id=f"run-on-{host}"))
            repo.update_run_status(f"run-on-{host}", "running")
    status = _status(sqlite_url)
    assert status["writing_hosts"] == ["ip-10-0-0-1", "ip-10-0-0-2"]
    expected = f"mangodb db copy '{sqlite_url.render_as_string()}' 'postgresql://"
    assert status["copy_command"].startswith(expected)
    assert "2 machines write to it" in status["warnings"][0]
    shown = _invoke("db", "status", "--url", str(sqlite_url.database))
    assert "warning:" in shown.output and "mangodb db copy" in shown.output


def test_status_warns_past_ten_thousand_runs_on_sqlite(sqlite_url: URL) -> None:
    with RunRepository.connect(sqlite_url) as repo:
        repo.insert_runs(RunCreate(run_id=f"r{i:05d}") for i in range(SQLITE_RUNS_LIMIT + 1))
    status = _status(sqlite_url)
    assert status["rows"]["runs"] == SQLITE_RUNS_LIMIT + 1
    assert f"{SQLITE_RUNS_LIMIT + 1:,} runs" in status["warnings"][0]
    assert status["copy_command"] is not None


def test_postgres_status_masks_the_password_and_never_advises_a_move(
    pg_schema_url: URL,
) -> None:
    url = pg_schema_url.set(password="s3cret-pass")  # trust auth ignores it
    with RunRepository.connect(url) as repo:
        for host in ("a", "b", "c"):
            repo.host = host
            repo.insert_run(RunCreate(run_id=f"r-{host}"))
            repo.update_run_status(f"r-{host}", "running")
    result = _invoke("db", "status", "--url", url.render_as_string(hide_password=False))
    assert result.exit_code == 0
    assert "s3cret-pass" not in result.output and "***" in result.output
    status = _status(url)
    assert status["dialect"] == "postgresql" and status["warnings"] == []
    assert status["writing_hosts"] == ["a", "b", "c"]
    assert status["size_bytes"] > 0


def test_status_of_an_unreachable_database_is_one_line(tmp_path: Any) -> None:
    result = _invoke(
        "db", "status", "--url", "postgresql://postgres:pw@127.0.0.1:1/nowhere", "--json"
    )
    assert result.exit_code == 3
    assert "pw@" not in result.output and "Traceback" not in result.output

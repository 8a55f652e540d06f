"""Inputs the fault fuzz (tests/faults/test_faults_fuzz.py) found escaping as tracebacks; each
is now one ``error:`` line with exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import RunCreate, RunRepository
from mangodb.cli import app
from mangodb.errors import ValidationError
from mangodb.integrations.aws.clients import ec2_client, s3_client


def _one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    return result.stderr


def test_export_to_a_name_too_long_for_the_file_system(sqlite_url: URL, tmp_path: Path) -> None:
    """OSError(ENAMETOOLONG) escaped from Path.is_dir."""
    RunRepository.connect(sqlite_url).close()
    url = sqlite_url.render_as_string(hide_password=False)
    error = _one_error_line(["export", "--out", str(tmp_path / ("x" * 5000)), "--url", url])
    assert "File name too long" in error


@pytest.mark.parametrize("since", ["9223372036854775808", "99999999d"])
def test_crash_backfill_since_too_far_back(since: str, sqlite_url: URL) -> None:
    """OverflowError escaped from timedelta (too long) and from now - timedelta (year 0)."""
    RunRepository.connect(sqlite_url).close()
    url = sqlite_url.render_as_string(hide_password=False)
    error = _one_error_line(["crash", "backfill", "--since", since, "--url", url])
    assert since in error


def test_a_region_botocore_refuses_is_a_validation_error(sqlite_url: URL) -> None:
    """botocore's InvalidRegionError (a ValueError) escaped from `reap --region 0`."""
    for make in (ec2_client, s3_client):
        with pytest.raises(ValidationError, match="region_name '0'"):
            make(region="0", endpoint_url="http://127.0.0.1:9")
    with RunRepository.connect(sqlite_url) as repo:
        repo.insert_run(RunCreate(run_id="r", status="running", instance_id="i-0"))
    url = sqlite_url.render_as_string(hide_password=False)
    error = _one_error_line(
        ["reap", "--region", "0", "--dry-run", "--endpoint-url", "http://127.0.0.1:9", "--url", url]
    )
    assert "region_name '0'" in error

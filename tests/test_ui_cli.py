"""``mangodb ui`` refuses to expose the runs without a token; ``mangodb report`` writes one
self-contained file (no external script, style or request)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="the ui extra is not installed")

from ui_seed import SCRIPT, seed

from mangodb import RunRepository
from mangodb.cli import app


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_a_public_address_without_a_token_is_refused(tmp_path: Path, host: str) -> None:
    database = tmp_path / "empty.sqlite3"
    RunRepository.connect(str(database)).close()
    result = CliRunner().invoke(app, ["ui", "--url", str(database), "--host", host])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--token" in lines[0] and host in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_report_is_self_contained(tmp_path: Path) -> None:
    database = tmp_path / "seeded.sqlite3"
    with RunRepository.connect(str(database)) as writer:
        seed(writer)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["report", "--out", str(out), "--keys", "train/loss", "--url", str(database)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(?!data:)', html)  # nothing to fetch
    assert "uPlot" in html and "run-000" in html
    assert SCRIPT not in html  # escaped, in the table and in the inlined JSON


def test_report_of_a_malformed_query_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "seeded.sqlite3"
    RunRepository.connect(str(database)).close()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["report", "status = = x", "--out", str(out), "--url", str(database)]
    )
    assert result.exit_code == 1 and not out.exists()
    assert "column 10" in result.output and "Traceback" not in result.output

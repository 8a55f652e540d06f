"""The README cannot drift: its Python quickstart runs on both dialects, CI runs its test
command verbatim, and its demo command's mangodb part works. (Its console blocks are re-run by
tests/test_docs.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _marked(name: str) -> str:
    match = re.search(rf"<!-- {name} -->\n```\n(.*?)\n```\n<!-- /{name} -->", README, re.S)
    assert match, f"README has no {name} block"
    return match.group(1).strip()


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_two_commands_are_there_and_ci_runs_the_test_command() -> None:
    demo, tests = _marked("demo-command"), _marked("test-command")
    assert "\n" not in demo and "\n" not in tests  # one command each
    assert "mangodb demo" in demo and "pip install" in demo
    assert "pytest" in tests and '".[dev]"' in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI extracts the block between these markers and runs it as is.
    assert "<!-- test-command -->" in ci and 'bash -c "$TEST_COMMAND"' in ci
    assert "mypy --strict mangodb" in ci and "ruff check" in ci


def test_demo_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mangodb.cli import app

    demo = _marked("demo-command")
    args = demo.split(".venv/bin/mangodb ", 1)[1].split()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "objective hop" in result.output
    written = [p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite3"]
    assert written == ["mangodb-demo.sqlite3"]
    # The tour and the examples use the database the demo command wrote.
    assert "$ export MANGODB_URL=mangodb-demo.sqlite3" in README
    assert "--db demo.sqlite3" not in README


def test_readme_says_how_to_run_mangodb_and_install_extras_from_a_checkout() -> None:
    assert ". .venv/bin/activate" in README  # the tour runs bare `mangodb`
    assert ".venv/bin/pip install -e '.[postgres]'" in README
    assert "takes `--url`" in README


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_python_blocks_run(index: int, db_url: URL, tmp_path: Path) -> None:
    code = _python_blocks()[index]
    env = {**os.environ, "MANGODB_URL": db_url.render_as_string(hide_password=False)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Each block prints what its comments promise.
    for promised in re.findall(r"print\(.*\)  # (\S+)", code):
        assert promised in result.stdout

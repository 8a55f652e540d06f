"""The examples run as scripts against a demo campaign, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from demo_db import demo_url

from mangodb import RunRepository
from mangodb.errors import MissingExtra

__all__ = ["demo_url"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OOM_LOG = """\
epoch 3 step 1260 loss 0.4412
Traceback (most recent call last):
  File "train.py", line 212, in <module>
    loss.backward()
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB (GPU 0; 22.05 GiB total)
"""


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_crash_notification_records_the_verdict_and_one_report(
    demo_url: str, tmp_path: Path
) -> None:
    with RunRepository.connect(demo_url) as repo:
        run_id = repo.query_runs(status="running", limit=1)[0].run_id
    log = tmp_path / "error.log"
    log.write_text(OOM_LOG)
    args = ("--db", demo_url, "--run-id", run_id, "--log", str(log), "--exit-code", "1")
    first = run_example("crash_notifications.py", *args)
    again = run_example("crash_notifications.py", *args)  # the notifier retried
    assert f"{run_id}: failed; crash report #" in first
    assert first.split("fingerprint")[1] == again.split("fingerprint")[1]
    with RunRepository.connect(demo_url) as repo:
        run = repo.get_run(run_id)
    assert run.status == "failed"
    assert run.exit_code == 1
    assert run.events[-1].source == "crash-notifier"
    assert "cuda_oom" in (run.events[-1].reason or "")
    (report,) = run.crash_reports
    assert report.error_type == "OutOfMemoryError"
    assert report.error_log_s3_key == f"crashes/{run_id}/error.log"
    assert report.analysis_s3_key == f"crashes/{run_id}/analysis.md"
    assert report.analysis_summary == "classified as cuda_oom"
    assert report.excerpt and "CUDA out of memory" in report.excerpt


def test_crash_notification_keeps_a_verdict_already_made(demo_url: str, tmp_path: Path) -> None:
    with RunRepository.connect(demo_url) as repo:
        run = next(r for r in repo.query_runs(status="crashed") if not r.crash_reports)
    log = tmp_path / "error.log"
    log.write_text("Killed\n")
    out = run_example("crash_notifications.py", "--db", demo_url, "--run-id", run.run_id,
                      "--log", str(log))  # fmt: skip
    assert f"{run.run_id}: crashed; crash report #" in out
    with RunRepository.connect(demo_url) as repo:
        after = repo.get_run(run.run_id)
    assert after.status == "crashed"
    assert len(after.crash_reports) == 1
    assert not after.events[-1].applied  # the refused attempt is kept in the event log


def test_analyze_prints_the_comparison_and_plots_a_png(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    text = run_example("analyze.py", "--db", demo_url, "--out", str(out))
    assert "objective hop (lower is better)" in text
    for method in ("mgda", "pcgrad", "imtlg", "uniform"):
        assert method in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_analyze_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze = load_example("analyze.py")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(MissingExtra, match=r"mangodb\[plot\]"):
        analyze.main(["--db", str(tmp_path / "x.sqlite3"), "--out", str(tmp_path / "c.png")])
    assert not (tmp_path / "x.sqlite3").exists()


def documented_commands(name: str) -> list[str]:
    """The shell commands an example's docstring tells a user to run (indented lines starting
    with ``mangodb``, ``python`` or ``VAR=… python``; backslash continuations joined)."""
    doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text(encoding="utf-8")))
    assert doc, f"{name} has no docstring"
    commands: list[str] = []
    continued = False
    for line in doc.splitlines():
        text = line.strip()
        if continued:
            commands[-1] += " " + text.removesuffix("\\").strip()
        elif line.startswith("    ") and re.match(r"(\w+=\S+ )*(python|mangodb) ", text + " "):
            commands.append(text.removesuffix("\\").strip())
        continued = bool(commands) and text.endswith("\\")
    return commands


# launch_ec2.py talks to EC2: tests/test_aws_end_to_end.py runs it against moto instead.
RUN_AS_DOCUMENTED = ["analyze.py", "crash_notifications.py", "train_with_wandb.py"]


@pytest.mark.parametrize("name", RUN_AS_DOCUMENTED)
def test_every_example_runs_as_its_docstring_says(name: str, tmp_path: Path) -> None:
    """From a fresh directory holding the checkout's examples/, after the README's demo."""
    commands = documented_commands(name)
    assert any(f"examples/{name}" in c for c in commands), commands
    (tmp_path / "examples").symlink_to(EXAMPLES)
    bin_dir = str(Path(sys.executable).parent)  # the venv's python and mangodb
    env = {k: v for k, v in os.environ.items() if k not in ("MANGODB_URL", "TRAINING_DB_PATH")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["WANDB_DIR"] = str(tmp_path)
    for command in ["mangodb demo", *commands]:
        result = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"

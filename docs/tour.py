"""Execute the ``console`` blocks of a Markdown file so documented output cannot drift.

A block looks like::

    ```console
    $ mangodb runs ls "status = crashed"
    <the output>
    ```

Lines starting with ``$ `` are commands: ``mangodb …`` runs through Typer's test runner,
``export NAME=value`` sets an environment variable for the following commands,
``python …`` runs a script; other commands (``pip install …``) are not run and keep the output
written under them. Everything else is output. ``python docs/tour.py FILE…``
rewrites the outputs in place (run it in a fresh directory: ``mangodb demo`` creates
``mangodb-demo.sqlite3`` there); ``tests/test_docs.py`` checks them, with timestamps masked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BLOCK = re.compile(r"(```console\n)(.*?)(```)", re.S)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(\+00:00)?")
WIDTH = "100"


def normalize(text: str) -> str:
    """Mask what changes from one run to the next (timestamps) and trailing spaces."""
    masked = _TIMESTAMP.sub("<time>", text)
    return "\n".join(line.rstrip() for line in masked.strip().splitlines())


def run_command(command: str, env: dict[str, str]) -> str | None:
    """The output of one command; None for commands a tour does not run (``pip install``…)."""
    args = shlex.split(command)
    if args[0] == "export":
        name, _, value = args[1].partition("=")
        env[name] = value
        return ""
    if args[0] == "mangodb":
        from typer.testing import CliRunner

        from mangodb.cli import app

        result = CliRunner().invoke(app, args[1:], env={**env, "COLUMNS": WIDTH})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.output
    if args[0] == "python":
        completed = subprocess.run(
            [sys.executable, *args[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=False,
        )
        return completed.stdout + completed.stderr
    return None


def steps(body: str) -> list[tuple[str, list[str]]]:
    """The commands of a block, each with the output lines documented under it."""
    found: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            found.append((line, []))
        elif found:
            found[-1][1].append(line)
    return found


def execute(body: str, env: dict[str, str]) -> str:
    """The block with every command's real output (commands not run keep theirs)."""
    out: list[str] = []
    for command, documented in steps(body):
        out.append(command)
        output = run_command(command[2:], env)
        if output is None:
            out.extend(documented)
        else:
            out.extend(row.rstrip() for row in output.rstrip("\n").splitlines())
    return "\n".join(out) + "\n"


def blocks(markdown: str) -> list[str]:
    return [match.group(2) for match in BLOCK.finditer(markdown)]


@contextmanager
def scratch_directory() -> Iterator[Path]:
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def refresh(path: Path) -> None:
    markdown = path.read_text(encoding="utf-8")
    env: dict[str, str] = {}
    with scratch_directory():
        updated = BLOCK.sub(lambda m: m.group(1) + execute(m.group(2), env) + m.group(3), markdown)
    path.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        refresh(Path(name).resolve())

"""Small helpers shared by the fault tests: the CLI as a user runs it, copy progress."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

# The console script's entry point (``mangodb = "mangodb.cli:main"``), run by this interpreter.
MANGODB = [sys.executable, "-c", "from mangodb.cli import main; main()"]


def mangodb_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MANGODB, *args], capture_output=True, text=True, timeout=timeout)


def copied_rows(url: URL) -> int:
    """Rows ``db copy`` has committed so far, from the target's progress table
    (``mangodb_copy_state``, see the ``mangodb.transfer.copy`` docstring); 0 while the
    server is down."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not connection.scalar(text("SELECT to_regclass('mangodb_copy_state') IS NOT NULL")):
                return 0
            total = connection.scalar(
                text("SELECT coalesce(sum(rows_copied), 0) FROM mangodb_copy_state")
            )
            return int(total or 0)
    except Exception:  # the server is restarting
        return 0
    finally:
        engine.dispose()

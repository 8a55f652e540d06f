"""The ``mangodb`` command line (Typer + Rich). Each command group lives in its own module;
errors print as one line on stderr with a non-zero exit code, never a traceback."""

from __future__ import annotations

from mangodb.cli.app import app, main

# Each command module registers its commands on ``app`` when imported.
from mangodb.cli import aws, db, demo, history, retention, runs, ui, wandb  # noqa: F401  # isort: skip

__all__ = ["app", "main"]

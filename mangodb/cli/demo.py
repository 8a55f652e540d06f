"""``mangodb demo``: simulate a small campaign on a SQLite file and compare the methods."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from mangodb.cli.app import app, console
from mangodb.cli.render import out
from mangodb.cli.show import comparison_table
from mangodb.demo import OBJECTIVES, run_demo
from mangodb.repository import RunRepository
from mangodb.settings import mask_url

DEMO_FILE = "mangodb-demo.sqlite3"


@app.command("demo")
def demo(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            "--db",
            help="Database to write: a SQLite file path or a URL (never MANGODB_URL, so a "
            "demo cannot land in a real database).",
        ),
    ] = DEMO_FILE,
    runs: Annotated[int, typer.Option(min=1, max=1000, help="How many runs to simulate.")] = 24,
    seed: Annotated[int, typer.Option(help="Seed of the simulation (run ids derive from it).")] = 0,
) -> None:
    """Simulate a small campaign (on a SQLite file by default) and print the comparison.

    4 gradient methods, 3 objectives, failures, a crash report and a stale run that the
    reaper marks crashed. Running it again on the same file skips the runs already there."""

    with RunRepository.connect(url, source="demo") as repo:
        result = run_demo(repo, runs=runs, seed=seed)
        counts = repo.count_by_status()
        tables = [
            comparison_table(o.name, repo.compare_gradient_methods(o.name)) for o in OBJECTIVES
        ]
    shown = url if "://" not in url else mask_url(url)
    console.print(
        f"{shown}: wrote {len(result.written)} runs, {len(result.skipped)} already there; "
        f"reaped {len(result.reaped)} stale run(s)",
        highlight=False,
    )
    console.print(
        "statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), highlight=False
    )
    for table in tables:
        out(table)
    console.print(
        f"next: mangodb runs ls --url {shlex.quote(shown)} 'status != completed'",
        style="dim",
        highlight=False,
        markup=False,
    )

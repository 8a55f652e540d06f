"""``mangodb db``: schema upgrade, current revision, status."""

from __future__ import annotations

from typing import Annotated

import typer

from mangodb.cli.app import EXIT_VERIFY_FAILED, app, console, err_console
from mangodb.cli.render import existing_url
from mangodb.db import schema
from mangodb.db.engine import make_engine
from mangodb.db.translate import translated
from mangodb.settings import mask_url, resolve_url
from mangodb.transfer import copy_database, database_status, dry_run_plan
from mangodb.transfer.report import print_checks, print_plan, print_status

db_app = typer.Typer(help="Database schema and maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Database URL (default: MANGODB_URL, TRAINING_DB_PATH, ./mangodb.sqlite3)."
    ),
]


@db_app.command("upgrade")
def upgrade(url: UrlOption = None, revision: str = "head") -> None:
    """Migrate the database schema to REVISION (default: head)."""

    resolved = resolve_url(url)
    engine = make_engine(resolved)
    try:
        with translated(resolved):
            before = schema.schema_state(engine).current
            schema.upgrade(engine, revision)
            after = schema.schema_state(engine).current
    finally:
        engine.dispose()
    console.print(f"{mask_url(resolved)}: {before or 'empty'} -> {after}", highlight=False)


@db_app.command("current")
def current(url: UrlOption = None) -> None:
    """Print the schema revision of the database and of this package."""

    resolved = existing_url(url)
    engine = make_engine(resolved)
    try:
        with translated(resolved):
            state = schema.schema_state(engine)
    finally:
        engine.dispose()
    marker = "(head)" if state.is_current else f"(package head: {state.head})"
    console.print(f"{state.current or 'empty'} {marker}", highlight=False)


@db_app.command("copy")
def copy(
    source_url: Annotated[str, typer.Argument(help="The database to copy from.")],
    target_url: Annotated[str, typer.Argument(help="The database to copy into.")],
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Add to a target that holds other runs (ids renumbered)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be copied; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = 1000,
) -> None:
    """Copy every run (and its history) from SOURCE_URL into TARGET_URL, then verify.

    Resumable: if killed, run the same command again. Exit code 4 if verification finds a
    difference."""

    if dry_run:
        print_plan(console, dry_run_plan(source_url, target_url, merge=merge))
        return
    result = copy_database(
        source_url, target_url, merge=merge, batch_size=batch_size, console=err_console
    )
    print_checks(console, result)
    if not result.ok:
        raise typer.Exit(EXIT_VERIFY_FAILED)


@db_app.command("status")
def status(
    url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Schema revision, rows per table, size, writing hosts, and whether to move to PostgreSQL."""

    report = database_status(existing_url(url))
    if as_json:
        console.print_json(data=report.as_dict())
    else:
        print_status(console, report)

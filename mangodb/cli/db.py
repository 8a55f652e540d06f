"""``mangodb db``: schema upgrade, current revision, status."""

from __future__ import annotations

from typing import Annotated

import typer

from mangodb.cli.app import app, console

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
    from mangodb.db import schema
    from mangodb.db.engine import make_engine
    from mangodb.db.translate import translated
    from mangodb.settings import mask_url, resolve_url

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
    from mangodb.db import schema
    from mangodb.db.engine import make_engine
    from mangodb.db.translate import translated
    from mangodb.settings import resolve_url

    resolved = resolve_url(url)
    engine = make_engine(resolved)
    try:
        with translated(resolved):
            state = schema.schema_state(engine)
    finally:
        engine.dispose()
    marker = "(head)" if state.is_current else f"(package head: {state.head})"
    console.print(f"{state.current or 'empty'} {marker}", highlight=False)

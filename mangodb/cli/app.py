"""The root Typer app and the error boundary shared by every command."""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from mangodb.errors import DatabaseUnavailable, MangoDBError, SchemaError


class _App(typer.Typer):
    """A Typer app whose every invocation (console script or test runner) turns mangodb
    errors into one line on stderr and a meaningful exit code."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except MangoDBError as error:
            err_console.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
            sys.exit(exit_code_for(error))


class _Group(TyperGroup):
    """The same boundary inside the click command, so ``typer.testing.CliRunner`` (which
    bypasses ``_App.__call__``) sees exactly what a user sees."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except MangoDBError as error:
            err_console.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
            ctx.exit(exit_code_for(error))


def _print_version(value: bool) -> None:
    if value:

        typer.echo(f"mangodb {version('mangodb')}")
        raise typer.Exit()


app = _App(
    cls=_Group,
    name="mangodb",
    help="mangodb: one queryable record of every training run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """mangodb: one queryable record of every training run."""

# Exit codes that mean something to scripts.
EXIT_ERROR = 1  # a mangodb error (bad input, missing run, refused transition)
EXIT_USAGE = 2  # bad command-line usage (Typer/Click's own code)
EXIT_UNAVAILABLE = 3  # the database cannot be reached or its schema is wrong
EXIT_VERIFY_FAILED = 4  # a verification found differences (db copy)


def exit_code_for(error: MangoDBError) -> int:

    if isinstance(error, (DatabaseUnavailable, SchemaError)):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def main() -> None:
    """Console-script entry point."""
    app()


"""Alembic glue: where the migration scripts are, what revision a database is at, and the
check run at connect: empty -> upgrade to head; behind -> SchemaOutOfDate;
ahead -> SchemaTooNew."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect

from alembic import command
from mangodb.errors import SchemaError, SchemaOutOfDate, SchemaTooNew, ValidationError
from mangodb.settings import mask_url

VERSION_TABLE = "mangodb_alembic_version"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def script_location() -> Path:
    """The migration scripts: inside the wheel (``mangodb/migrations``) or, in a checkout,
    the top-level ``alembic/`` directory."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError("mangodb's migration scripts are missing from this installation")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped scripts; ``env.py`` runs on ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest shipped revision. Reading it loads every migration script (~12 ms of CPU),
    which every ``RunRepository.connect()`` needs: it is kept per scripts directory and that
    directory's modification time, so a fleet's hosts pay it once per process."""
    versions = script_location() / "versions"
    return _head_revision(str(versions), versions.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _head_revision(versions: str, modified: int) -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError("mangodb ships no migrations")
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    has_tables: bool

    @property
    def is_empty(self) -> bool:
        return self.current is None and not self.has_tables

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as connection:
        current = current_revision(connection)
        # Only an unversioned database needs the catalog asked (empty, or tables without one).
        has_tables = current is not None or inspect(connection).has_table("runs")
    return SchemaState(current=current, head=head_revision(), has_tables=has_tables)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``: ``head`` (or ``heads``) or one of the known revision ids.
    Anything else (alembic's relative and branch syntaxes included, where it can fail on an
    assertion) is a ``ValidationError`` and nothing is migrated."""
    targets = ["head", "heads", *sorted(known_revisions())]
    if revision not in targets:
        close = difflib.get_close_matches(revision, targets, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            f"unknown schema revision {revision!r}: give one of {', '.join(targets)}{hint}"
        )
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    except CommandError as error:
        raise ValidationError(f"cannot upgrade to schema revision {revision!r}: {error}") from error


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def upgrade_command(engine: Engine) -> str:
    return f"mangodb db upgrade --url '{mask_url(engine.url)}'"


def ensure_schema(engine: Engine, *, auto_upgrade_empty: bool = True) -> SchemaState:
    """Check the database against this package; migrate an empty database to head."""
    state = schema_state(engine)
    if state.is_current:
        return state
    if state.is_empty and auto_upgrade_empty:
        upgrade(engine)
        return schema_state(engine)
    if state.current is None:
        raise SchemaOutOfDate(
            f"database {mask_url(engine.url)} has a 'runs' table but no mangodb revision; "
            f"it was not created by mangodb's migrations. Inspect it, then run "
            f"`{upgrade_command(engine)}`"
        )
    if state.current not in known_revisions():
        raise SchemaTooNew(
            f"database {mask_url(engine.url)} is at schema revision {state.current}, which this "
            f"mangodb does not know (its newest is {state.head}): it was migrated by a newer "
            "mangodb. Upgrade the package: pip install -U mangodb"
        )
    raise SchemaOutOfDate(
        f"database {mask_url(engine.url)} is at schema revision {state.current}, behind this "
        f"mangodb ({state.head}). Run: {upgrade_command(engine)}"
    )

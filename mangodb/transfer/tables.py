"""What ``mangodb db copy`` copies: every schema table in foreign-key order, each with its key
for keyset batches, and how ``--merge`` shifts its surrogate ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Integer, LargeBinary, Table, literal, tuple_

from mangodb.db.base import Base
from mangodb.db.models import CopyState, Run

# Tables with packed blobs are copied in smaller batches so one batch stays a few MB.
BLOB_BATCH_ROWS = 50


@dataclass(frozen=True)
class TableSpec:
    """One copied table. ``own_id``: its single integer primary key, shifted on ``--merge``;
    ``references``: foreign-key columns and the table whose shift they follow; ``scope``: the
    column telling which target rows came from this copy (id or the parent id)."""

    table: Table
    key: tuple[str, ...]
    own_id: str | None
    references: tuple[tuple[str, str], ...]
    scope: tuple[str, str]  # (column, table whose offset bounds it)

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def columns(self) -> tuple[Column[Any], ...]:
        """The stored columns: a generated one (``runs.config_text``) is computed by each
        database from the others, so it is neither copied nor compared."""
        return tuple(c for c in self.table.columns if c.computed is None)

    @property
    def has_blobs(self) -> bool:
        return any(isinstance(c.type, LargeBinary) for c in self.columns)

    def batch_rows(self, requested: int) -> int:
        return min(requested, BLOB_BATCH_ROWS) if self.has_blobs else requested

    def after(self, last_key: tuple[object, ...] | None) -> ColumnElement[bool] | None:
        """Rows strictly after ``last_key`` in key order (lexicographic on composite keys)."""
        if last_key is None:
            return None
        columns = [self.table.c[name] for name in self.key]
        if len(columns) == 1:
            return columns[0] > last_key[0]
        # A row-value comparison: both dialects walk the primary-key index from there.
        return tuple_(*columns) > tuple_(
            *(literal(v, c.type) for v, c in zip(last_key, columns, strict=True))
        )


def _spec(table: Table) -> TableSpec:
    key = tuple(c.name for c in table.primary_key.columns)
    own_id = None
    if (
        len(key) == 1
        and isinstance(table.c[key[0]].type, Integer)
        and not table.c[key[0]].foreign_keys
    ):
        own_id = key[0]
    references = tuple(
        (fk.parent.name, fk.column.table.name) for fk in sorted(table.foreign_keys, key=str)
    )
    if own_id is not None:
        scope = (own_id, table.name)
    elif references:
        scope = references[0]
    else:  # pragma: no cover - every mangodb table has an id or a parent
        raise AssertionError(f"table {table.name} has neither an integer id nor a parent")
    return TableSpec(table=table, key=key, own_id=own_id, references=references, scope=scope)


def copied_tables() -> tuple[TableSpec, ...]:
    """Every mangodb table except the copy's own progress table and the per-method sums (the
    target's triggers keep those as the objective rows arrive), parents before children."""
    derived = {t.name for t in Base.metadata.sorted_tables if t.name.startswith("method_")}
    skip = {CopyState.__tablename__, *derived}
    return tuple(_spec(t) for t in Base.metadata.sorted_tables if t.name not in skip)


RUNS_TABLE = Run.__tablename__

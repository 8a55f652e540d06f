"""The child rows of a page of runs (events, objectives, crash reports, attachments, final
metrics, tags) and the ``RunRead`` built from them.

PostgreSQL: the page's own statement carries each run's child rows, one JSON array per child
table (``json_agg`` over an index probe per run), so a page is read in one statement and one
round trip. Floats travel as their text (``NaN``, ``-0`` and full precision survive), times
as ISO 8601 with an offset, documents as JSON (decoded by :mod:`mangodb.codecs.jsontext`).

SQLite (no round trips to save): the page's statement says, per run, whether it has rows in
each child table (``EXISTS``); then one query per child table that some run of the page uses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Double,
    Label,
    Select,
    Table,
    Text,
    func,
    select,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from mangodb.codecs import jsontext
from mangodb.db.models import (
    CrashReport,
    Run,
    RunAttachment,
    RunEvent,
    RunMetric,
    RunObjective,
    RunTag,
)
from mangodb.db.types import JSONDocument, UTCDateTime
from mangodb.dto import RunRead
from mangodb.runs.assembly import run_read_from_row

CHILDREN: tuple[tuple[str, type[Any]], ...] = (
    ("events", RunEvent),
    ("objectives", RunObjective),
    ("crash_reports", CrashReport),
    ("attachments", RunAttachment),
    ("metrics", RunMetric),
    ("tags", RunTag),
)
_IN_CHUNK = 500  # ids per IN list, well under SQLite's variable limit


def table_of(model: type[Any]) -> Table:
    """The Core table of an ORM model."""
    return cast(Table, model.__table__)


def run_columns(dialect: str) -> tuple[ColumnElement[Any], ...]:
    """The columns of ``runs`` to read a run: on PostgreSQL the config comes from its stored
    text (``config_text``, migration 0005), which spares the server a jsonb-to-text
    conversion per row."""
    return _POSTGRES_RUN_COLUMNS if dialect == "postgresql" else _RUN_COLUMNS


_RUN_COLUMNS = tuple(c for c in table_of(Run).c if c.key != "config_text")


def page_columns(dialect: str) -> tuple[Label[Any], ...]:
    """Columns to add to a statement selecting ``runs`` rows: on PostgreSQL each run's child
    rows (``children_<name>``), elsewhere whether it has any (``has_<name>``)."""
    return _INLINE if dialect == "postgresql" else _HAS_CHILDREN


def load_reads(session: Session, rows: Sequence[RowMapping]) -> list[RunRead]:
    """``RunRead`` of ``runs`` rows selected with :func:`page_columns`."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        children = {name: [_inline_rows(name, row) for row in rows] for name, _ in CHILDREN}
    else:
        children = _queried(session, rows)
    return [
        run_read_from_row(row, **{name: children[name][i] for name, _ in CHILDREN})
        for i, row in enumerate(rows)
    ]


def load_read(session: Session, run_id: str) -> RunRead | None:
    """The ``RunRead`` of one run, or None."""
    dialect = session.get_bind().dialect.name
    statement = select(*run_columns(dialect), *page_columns(dialect)).where(Run.run_id == run_id)
    row = session.execute(statement).mappings().first()
    return None if row is None else load_reads(session, [row])[0]


# -- PostgreSQL: the config as stored text, child rows inline as JSON --------------------------
_POSTGRES_RUN_COLUMNS: tuple[ColumnElement[Any], ...] = (
    *(c for c in table_of(Run).c if c.key not in ("config", "config_text")),
    type_coerce(table_of(Run).c.config_text, JSONDocument()).label("config"),
)

_Convert = Callable[[Any], Any]


def _as_float(text: Any) -> float | None:
    return None if text is None else float(text)


def _as_time(text: Any) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc)


def _as_document(value: Any) -> Any:
    return None if value is None else jsontext.decode(value)


def _json_field(column: ColumnElement[Any]) -> tuple[ColumnElement[Any], _Convert | None]:
    """How a column travels inside a JSON array, and how it is turned back into its value."""
    kind = column.type
    if isinstance(kind, Double):
        return sql_cast(column, Text), _as_float  # float8 text: exact, NaN/Infinity/-0 too
    if isinstance(kind, UTCDateTime):
        return column, _as_time
    if isinstance(kind, JSONDocument):
        return column, _as_document
    return column, None


class _Inline:
    """One child table's rows of a run as a JSON array of arrays, and its reader."""

    def __init__(self, name: str, model: type[Any]) -> None:
        table = table_of(model)
        columns = [c for c in table.c if c.key != "run_pk"]
        fields = [_json_field(c) for c in columns]
        self.keys = tuple(c.key for c in columns)
        self.converters = tuple(
            (index, convert) for index, (_, convert) in enumerate(fields) if convert is not None
        )
        order = table.c.id if "id" in table.c else columns[0]
        row = func.json_build_array(*(field for field, _ in fields))
        rows = func.json_agg(aggregate_order_by(row, order))
        self.column: Label[Any] = (
            select(sql_cast(rows, Text))
            .where(table.c.run_pk == Run.id)
            .scalar_subquery()
            .label(f"children_{name}")
        )

    def read(self, text: str | None) -> list[dict[str, Any]]:
        if text is None:
            return []
        found: list[dict[str, Any]] = []
        for values in jsontext.parse(text):
            for index, convert in self.converters:
                values[index] = convert(values[index])
            found.append(dict(zip(self.keys, values, strict=True)))
        return found


_INLINE_READERS = {name: _Inline(name, model) for name, model in CHILDREN}
_INLINE = tuple(reader.column for reader in _INLINE_READERS.values())


def _inline_rows(name: str, row: RowMapping) -> list[dict[str, Any]]:
    return _INLINE_READERS[name].read(row[f"children_{name}"])


# -- SQLite: one query per child table --------------------------------------------------------
# Per page row, whether it has rows in each child table (one index probe each, in the page's
# statement): child tables no run of the page has rows in are not queried.
_HAS_CHILDREN = tuple(
    select(model.run_pk).where(model.run_pk == Run.id).exists().label(f"has_{name}")
    for name, model in CHILDREN
)


def _of_runs(table: Table, pks: Sequence[int]) -> list[Select[Any]]:
    """SELECTs of the rows of ``table`` that belong to the runs ``pks``, in IN lists of at
    most ``_IN_CHUNK`` ids."""
    return [
        select(table).where(table.c.run_pk.in_(pks[start : start + _IN_CHUNK]))
        for start in range(0, len(pks), _IN_CHUNK)
    ]


def _queried(session: Session, rows: Sequence[RowMapping]) -> dict[str, list[list[dict[str, Any]]]]:
    pks = [row["id"] for row in rows]
    children: dict[str, list[list[dict[str, Any]]]] = {}
    for name, model in CHILDREN:
        by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if any(row[f"has_{name}"] for row in rows):  # else known empty: not queried
            for statement in _of_runs(table_of(model), pks):
                result = session.execute(statement)
                keys = tuple(result.keys())  # plain dicts: a RowMapping rebuilds its keys
                for values in result:
                    child = dict(zip(keys, values, strict=True))
                    by_run[child["run_pk"]].append(child)
        children[name] = [by_run.get(pk, []) for pk in pks]
    return children

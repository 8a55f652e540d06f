"""Driver-level statements of the append hot path (both dialects).

One append touches every series row of the run twice (find; then insert it with its
summaries, or update them); going through the driver with plain tuples avoids SQLAlchemy's
per-row parameter processing, which otherwise costs more than the packing. On PostgreSQL each
write is one statement taking a column array per field (``unnest``), not one statement per
row: a flush of 50 keys is three statements, not a hundred."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Row, Table
from sqlalchemy.orm import Session

T = TypeVar("T")
IN_LIST = 900  # bound values per statement: below SQLite's historical limit of 999

# A series' summary, as stored; ``_STATE`` reads it, ``_UPDATED`` writes it.
_SUMMARY = (
    "kind",
    "point_count",
    "chunk_count",
    "first_step",
    "last_step",
    "min_value",
    "max_value",
    "last_value",
    "last_value_kind",
    "tail_step",
)
_STATE = ("id", "key", *_SUMMARY)
_UPDATED = (*_SUMMARY, "updated_at")

# PostgreSQL types of the columns of ``history_series`` and ``history_chunks`` that the append
# path sends as arrays (one per column, ``unnest``-ed into rows).
_PG_TYPES = {
    "id": "bigint",
    "series_id": "bigint",
    "key": "text",
    "kind": "text",
    "codec": "smallint",
    "point_count": "bigint",
    "chunk_count": "bigint",
    "nan_count": "bigint",
    "first_step": "bigint",
    "last_step": "bigint",
    "min_value": "float8",
    "max_value": "float8",
    "last_value": "float8",
    "last_value_kind": "smallint",
    "tail_step": "bigint",
    "steps": "bytea",
    "payload": "bytea",
}


def _arrays(names: Sequence[str]) -> str:
    """``unnest``'s arguments for the columns ``names``: one binary array parameter each."""
    return ", ".join(f"%b::{_PG_TYPES[name]}[]" for name in names)


@dataclass(frozen=True, slots=True)
class SeriesState:
    """The summary of one series as stored before this append."""

    id: int
    key: str
    kind: str
    point_count: int
    chunk_count: int
    first_step: int | None
    last_step: int | None
    min_value: float | None
    max_value: float | None
    last_value: float | None
    last_value_kind: int
    tail_step: int | None


def batched(items: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Driver:
    """Plain-SQL access to the history tables on the session's connection (its transaction)."""

    def __init__(self, session: Session, runs: Table, series: Table, chunks: Table) -> None:
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"
        self.mark = "?" if self.connection.dialect.paramstyle == "qmark" else "%s"
        self.runs, self.series, self.chunks = runs.name, series.name, chunks.name
        self._updated_at = series.c.updated_at.type.bind_processor(self.connection.dialect)

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def timestamp(self, when: dt.datetime) -> Any:
        return self._updated_at(when) if self._updated_at else when

    def _run_column(self, run: int | str) -> str:
        """The column of ``runs`` that ``run`` (a primary key, or a run id) is matched on."""
        return "id" if isinstance(run, int) else "run_id"

    def select_series(self, run: int | str, keys: Sequence[str]) -> dict[str, SeriesState]:
        """The series of ``keys`` of ``run`` (its primary key or its run id), locked until
        commit on PostgreSQL."""
        found: dict[str, SeriesState] = {}
        lock = " FOR UPDATE" if self.postgres else ""  # SQLite: the write holds the database
        if isinstance(run, int):
            of_run = f"run_pk = {self.mark}"
        else:
            of_run = f"run_pk = (SELECT id FROM {self.runs} WHERE run_id = {self.mark})"
        if self.postgres:  # one short statement (a long IN list is parsed again each call)
            fetched = self.connection.exec_driver_sql(
                f"SELECT {', '.join(_STATE)} FROM {self.series} WHERE {of_run} "
                f"AND key = ANY(%s::text[]) ORDER BY key{lock}",
                (run, list(keys)),
            ).all()  # one fetch, not one per row
            return {row[1]: SeriesState(*row) for row in fetched}
        for part in batched(keys):
            rows = self.connection.exec_driver_sql(
                f"SELECT {', '.join(_STATE)} FROM {self.series} WHERE {of_run} "
                f"AND key IN ({self._marks(len(part))}) ORDER BY key{lock}",
                (run, *part),
            )
            found.update((row[1], SeriesState(*row)) for row in rows)
        return found

    def insert_series(self, run: int | str, rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
        """Insert series of ``run`` (its primary key or its run id) with their summaries.
        Rows: ``key`` then the values of ``_UPDATED``. Returns key -> id of the rows inserted;
        keys created meanwhile by another writer are skipped (absent from the result), and
        nothing is inserted when the run does not exist."""
        if self.postgres and rows:
            return self._insert_series_arrays(run, rows)
        ids: dict[str, int] = {}
        width = 1 + len(_UPDATED)
        row_marks = f"({self._marks(width)})"
        for part in batched(rows, IN_LIST // width):
            # SQLite: INSERT .. SELECT needs a WHERE before ON CONFLICT (it has one).
            result = self.connection.exec_driver_sql(
                f"INSERT INTO {self.series} (run_pk, key, {', '.join(_UPDATED)}) "
                f"SELECT run.id, given.* FROM {self.runs} AS run, (VALUES "
                + ", ".join([row_marks] * len(part))
                + f") AS given WHERE run.{self._run_column(run)} = {self.mark} "
                "ON CONFLICT (run_pk, key) DO NOTHING RETURNING id, key",
                (*(value for row in part for value in row), run),
            )
            ids.update((key, series_id) for series_id, key in result)
        return ids

    def _insert_series_arrays(
        self, run: int | str, rows: Sequence[tuple[Any, ...]]
    ) -> dict[str, int]:
        """PostgreSQL: one short statement with a column array per field (psycopg re-parses a
        long multi-row VALUES text on every call)."""
        names = ("key", *_UPDATED[:-1])
        columns = [list(column) for column in zip(*rows, strict=True)]
        result = self.connection.exec_driver_sql(
            f"INSERT INTO {self.series} (run_pk, {', '.join(names)}, updated_at) "
            f"SELECT run.id, {', '.join(names)}, %s FROM {self.runs} AS run, unnest("
            + _arrays(names)
            + f") AS given ({', '.join(names)}) WHERE run.{self._run_column(run)} = %s "
            "ON CONFLICT (run_pk, key) DO NOTHING RETURNING id, key",
            (columns[-1][0], *columns[:-1], run),
        )
        return {key: series_id for series_id, key in result}

    def open_chunks(self, series_ids: Sequence[int]) -> Iterator[Row[Any]]:
        """The chunks of the open tails of ``series_ids`` (from each series' ``tail_step``
        on), with ``id``, ``series_id`` and what ``unpack`` needs, by series and step."""
        fields = "c.id, c.series_id, c.codec, c.first_step, c.last_step, c.point_count"
        query = (
            f"SELECT {fields}, c.steps, c.payload FROM {self.chunks} AS c "
            f"JOIN {self.series} AS s ON s.id = c.series_id "
            "WHERE c.first_step >= s.tail_step AND s.id "
        )
        order = " ORDER BY c.series_id, c.first_step"
        if self.postgres:
            yield from self.connection.exec_driver_sql(
                query + "= ANY(%s::bigint[])" + order, (list(series_ids),)
            )
            return
        for part in batched(series_ids):
            yield from self.connection.exec_driver_sql(
                query + f"IN ({self._marks(len(part))})" + order, tuple(part)
            )

    def delete_chunks(self, ids: Sequence[int]) -> None:
        if self.postgres:
            self.connection.exec_driver_sql(
                f"DELETE FROM {self.chunks} WHERE id = ANY(%b::bigint[])", (list(ids),)
            )
            return
        for part in batched(ids):
            self.connection.exec_driver_sql(
                f"DELETE FROM {self.chunks} WHERE id IN ({self._marks(len(part))})", tuple(part)
            )

    def insert_chunks(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:  # one statement with a column array per field, not one per row
            self.connection.exec_driver_sql(
                f"INSERT INTO {self.chunks} ({', '.join(columns)}) "
                f"SELECT * FROM unnest({_arrays(columns)})",
                tuple(list(column) for column in zip(*rows, strict=True)),
            )
            return
        self.connection.exec_driver_sql(
            f"INSERT INTO {self.chunks} ({', '.join(columns)}) "
            f"VALUES ({self._marks(len(columns))})",
            rows,
        )

    def update_series(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows: the values of ``_UPDATED`` (``updated_at`` as given to :meth:`timestamp`)
        followed by the series id."""
        if self.postgres and rows:  # one statement, as insert_chunks; one updated_at for all
            names = _UPDATED[:-1]
            columns = [list(column) for column in zip(*rows, strict=True)]
            given = ", ".join(f"{name} = given.{name}" for name in names)
            self.connection.exec_driver_sql(
                f"UPDATE {self.series} AS series SET {given}, updated_at = %s "
                f"FROM unnest({_arrays((*names, 'id'))}) AS given ({', '.join(names)}, id) "
                "WHERE series.id = given.id",
                (columns[-2][0], *columns[:-2], columns[-1]),
            )
            return
        assignments = ", ".join(f"{name} = {self.mark}" for name in _UPDATED)
        self.connection.exec_driver_sql(
            f"UPDATE {self.series} SET {assignments} WHERE id = {self.mark}", rows
        )

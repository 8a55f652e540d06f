"""Driver-level statements of the append hot path (both dialects).

One append touches every series row of the run twice (find; then insert it with its
summaries, or update them); going through the driver's ``executemany`` with plain tuples avoids
SQLAlchemy's per-row parameter processing, which otherwise costs more than the packing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table
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
)
_STATE = ("id", "key", *_SUMMARY)
_UPDATED = (*_SUMMARY, "updated_at")

# PostgreSQL array types of ``key`` and the fields of ``_UPDATED`` but ``updated_at``.
_ARRAY_TYPES: tuple[str, ...] = ("text", "text", "bigint", "bigint", "bigint", "bigint")
_ARRAY_TYPES += ("float8", "float8", "float8", "smallint")


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
            + ", ".join(f"%s::{kind}[]" for kind in _ARRAY_TYPES)
            + f") AS given ({', '.join(names)}) WHERE run.{self._run_column(run)} = %s "
            "ON CONFLICT (run_pk, key) DO NOTHING RETURNING id, key",
            (columns[-1][0], *columns[:-1], run),
        )
        return {key: series_id for series_id, key in result}

    def insert_chunks(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        self.connection.exec_driver_sql(
            f"INSERT INTO {self.chunks} ({', '.join(columns)}) "
            f"VALUES ({self._marks(len(columns))})",
            rows,
        )

    def update_series(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows: the values of ``_UPDATED`` (``updated_at`` as given to :meth:`timestamp`)
        followed by the series id."""
        assignments = ", ".join(f"{name} = {self.mark}" for name in _UPDATED)
        self.connection.exec_driver_sql(
            f"UPDATE {self.series} SET {assignments} WHERE id = {self.mark}", rows
        )

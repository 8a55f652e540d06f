"""Reading history: one query for the chunks of a run (or of one key across runs), for the
stored summaries of a run's series, or for its keys and their point counts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, func, select
from sqlalchemy.orm import Session

from mangodb.codecs.floats import decode_float
from mangodb.db.models import HistorySeries, Run
from mangodb.errors import RunNotFound, ValidationError
from mangodb.history.chunk_plan import CHUNKS
from mangodb.history.chunk_stats import numpy
from mangodb.history.columns import step_value
from mangodb.history.downsample import check_max_points, downsample
from mangodb.history.m4_arrays import downsample_arrays, downsample_objects
from mangodb.history.packing import unpack, unpack_numbers
from mangodb.history.series import Series, SeriesSummary
from mangodb.history.sql import batched
from mangodb.history.steps import ProgressionSteps, progression
from mangodb.history.store import SERIES

RUNS = cast(Table, Run.__table__)
_CHUNK_COLUMNS = (
    SERIES.c.kind,
    CHUNKS.c.codec,
    CHUNKS.c.first_step,
    CHUNKS.c.last_step,
    CHUNKS.c.point_count,
    CHUNKS.c.steps,
    CHUNKS.c.payload,
)


def read(
    session: Session,
    run_id: str,
    *,
    keys: Sequence[str] | str | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    max_points: int | None = None,
) -> dict[str, Series]:
    """Key -> ``Series`` of one run, keys sorted. A stored key with no point in the step range
    comes back empty; a key never logged is absent; ``RunNotFound`` when the run does not
    exist (found by the same query: one round trip fewer than looking the run up first)."""
    low, high = _bounds(min_step, max_step, max_points)

    def statement(part: Sequence[str] | None) -> Select[Any]:
        series = SERIES.c.run_pk == RUNS.c.id
        if part is not None:  # in the join, so that the run's row says it exists
            series = and_(series, SERIES.c.key.in_(part))
        joined = RUNS.outerjoin(SERIES, series).outerjoin(CHUNKS, _chunk_join(low, high))
        return (
            select(SERIES.c.key, *_CHUNK_COLUMNS)
            .select_from(joined)
            .where(RUNS.c.run_id == run_id)
            .order_by(SERIES.c.key, CHUNKS.c.first_step)
        )

    if keys is None:
        statements = [statement(None)]
    else:
        wanted = sorted({keys} if isinstance(keys, str) else set(keys))
        statements = [statement(part) for part in batched(wanted)] or [statement([])]
    result, rows = _collect(session, statements, low, high, max_points)
    if not rows:
        raise RunNotFound(run_id)
    return result


def read_many(
    session: Session,
    run_ids: Sequence[str],
    key: str,
    *,
    min_step: int | None = None,
    max_step: int | None = None,
    max_points: int | None = None,
) -> dict[str, Series]:
    """Run id -> ``Series`` of ``key`` for the given runs, in one query (per 900 run ids).
    Runs that do not exist or never logged ``key`` are absent."""
    if not isinstance(key, str):
        raise ValidationError(f"history key must be a string, got {key!r}")
    low, high = _bounds(min_step, max_step, max_points)
    joined = RUNS.join(SERIES, and_(SERIES.c.run_pk == RUNS.c.id, SERIES.c.key == key))
    base = (
        select(RUNS.c.run_id, *_CHUNK_COLUMNS)
        .select_from(joined.outerjoin(CHUNKS, _chunk_join(low, high)))
        .order_by(RUNS.c.run_id, CHUNKS.c.first_step)
    )
    wanted = sorted(set(run_ids))
    statements = (base.where(RUNS.c.run_id.in_(part)) for part in batched(wanted))
    return _collect(session, statements, low, high, max_points, key=key)[0]


@dataclass(frozen=True, slots=True)
class RunNumbers:
    """The numeric points of one key of one run (see :func:`read_numbers`): ``steps`` and
    ``values`` are numpy arrays (int64, float64) or lists; ``nan_count``: NaN values among
    them; ``group``: the value of the grouping column for this run."""

    run_id: str
    group: Any
    steps: Any
    values: Any
    nan_count: int


@dataclass(frozen=True, slots=True)
class KeyNumbers:
    """What :func:`read_numbers` found: ``runs``, the runs matching the conditions that logged
    the key (insertion order), and ``groups``, the distinct values of the grouping column over
    every matching run, whether it logged the key or not (empty: no run matched)."""

    runs: list[RunNumbers]
    groups: list[Any]


def read_numbers(
    session: Session,
    key: str,
    conditions: Sequence[ColumnElement[bool]],
    group: ColumnElement[Any],
    *,
    np: Any = None,
) -> KeyNumbers:
    """The numeric points of ``key`` of every run matching ``conditions`` (on the runs table)
    that logged it, with the run's ``group`` column, and the groups of all matching runs.
    Values that are not numbers are left out (see :func:`unpack_numbers`); arrays when ``np``
    is numpy.

    Runs that never logged the key cost nothing beyond the distinct groups (a hundred
    thousand matching runs of which ten logged it read ten runs' chunks). On SQLite the chunks
    come with their runs in one query; on PostgreSQL (psycopg) the series are found first,
    then their chunks are read in binary format (psycopg's default text format sends
    ``bytea`` as hex: twice the bytes, and encoding plus decoding them took most of the time
    of a large read)."""
    connection = session.connection()
    groups = list(session.scalars(select(group).where(*conditions).distinct()))
    if not groups:
        return KeyNumbers([], groups)
    found: dict[int, tuple[str, Any, list[Any], list[Any], list[int]]] = {}
    chunks: list[Sequence[Any]] = []
    logged = RUNS.join(SERIES, and_(SERIES.c.run_pk == RUNS.c.id, SERIES.c.key == key))
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        series = (
            select(SERIES.c.id, RUNS.c.run_id, group)
            .select_from(logged)
            .where(*conditions)
            .order_by(RUNS.c.id)
        )
        for series_id, run_id, label in session.execute(series):
            found[series_id] = (run_id, label, [], [], [])
        chunks = _binary_chunks(session, list(found))
    else:
        # In series order, which the (key) and (series_id, first_step) indexes give as they
        # are walked: ordered by run instead, SQLite sorted every chunk, blobs and all, in a
        # temporary B-tree (1.7x the time of the read). The runs are put in order after.
        statement = (
            select(SERIES.c.id, RUNS.c.id, RUNS.c.run_id, group, *_NUMBER_COLUMNS)
            .select_from(logged.outerjoin(CHUNKS, _chunk_join(None, None)))
            .where(*conditions)
            .order_by(SERIES.c.id, CHUNKS.c.first_step)
        )
        by_series: dict[int, tuple[int, str, Any]] = {}
        for series_id, run_pk, run_id, label, *chunk in session.execute(statement):
            if series_id not in by_series:
                by_series[series_id] = (run_pk, run_id, label)
            if chunk[0] is not None:  # else a series with no chunk (outer join)
                chunks.append((series_id, *chunk))
        for series_id, (_, run_id, label) in sorted(by_series.items(), key=lambda e: e[1][0]):
            found[series_id] = (run_id, label, [], [], [])
    for series_id, codec, first, last, count, steps, payload, nans in chunks:
        entry = found[series_id]
        chunk_steps, chunk_values = unpack_numbers(
            codec, first, last, count, bytes(steps), bytes(payload), np
        )
        entry[2].append(chunk_steps)
        entry[3].append(chunk_values)
        entry[4].append(nans)
    result = []
    for run_id, label, step_parts, value_parts, nans in found.values():
        if np is not None:
            steps_all = _steps(np, step_parts)
            values_all = np.concatenate(value_parts) if value_parts else np.empty(0)
        else:
            steps_all = [s for part in step_parts for s in part]
            values_all = [v for part in value_parts for v in part]
        result.append(RunNumbers(run_id, label, steps_all, values_all, sum(nans)))
    return KeyNumbers(result, groups)


def _steps(np: Any, parts: list[Any]) -> Any:
    """The steps of a run's chunks: progressions kept as such when every chunk is one."""
    if not parts:
        return np.empty(0, dtype=np.int64)
    if all(isinstance(part, range) for part in parts):
        return ProgressionSteps(np, parts)
    arrays = [progression(np, p) if isinstance(p, range) else p for p in parts]
    return np.concatenate(arrays)


_NUMBER_COLUMNS = (
    CHUNKS.c.codec,
    CHUNKS.c.first_step,
    CHUNKS.c.last_step,
    CHUNKS.c.point_count,
    CHUNKS.c.steps,
    CHUNKS.c.payload,
    CHUNKS.c.nan_count,
)


def _binary_chunks(session: Session, series_ids: list[int]) -> list[Sequence[Any]]:
    """``(series_id, *_NUMBER_COLUMNS)`` of the chunks of the series, ordered by series and
    step, read with a binary psycopg cursor on the session's connection (its transaction)."""
    if not series_ids:
        return []
    names = ", ".join(f"c.{column.name}" for column in _NUMBER_COLUMNS)
    sql = (
        f"SELECT c.series_id, {names} FROM {CHUNKS.name} AS c "
        "WHERE c.series_id = ANY(%s) ORDER BY c.series_id, c.first_step"
    )
    driver = session.connection().connection.driver_connection
    assert driver is not None  # an open connection
    with driver.cursor(binary=True) as cursor:
        cursor.execute(sql, (series_ids,))
        return list(cursor.fetchall())


def keys_of_runs(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[str]:
    """The history keys logged by any run matching ``conditions``, sorted."""
    statement = (
        select(SERIES.c.key)
        .join(RUNS, SERIES.c.run_pk == RUNS.c.id)
        .where(*conditions)
        .distinct()
        .order_by(SERIES.c.key)
    )
    return list(session.scalars(statement))


def summaries(session: Session, run_pk: int) -> dict[str, SeriesSummary]:
    """Key -> the stored summary of each series of one run, keys sorted (one query: the
    summary columns kept by every append, and the NaN counts of the series' chunks)."""
    nan_count = (
        select(func.coalesce(func.sum(CHUNKS.c.nan_count), 0))
        .where(CHUNKS.c.series_id == SERIES.c.id)
        .scalar_subquery()
    )
    statement = (
        select(
            SERIES.c.key,
            SERIES.c.kind,
            SERIES.c.point_count,
            SERIES.c.first_step,
            SERIES.c.last_step,
            SERIES.c.last_value,
            SERIES.c.last_value_kind,
            SERIES.c.min_value,
            SERIES.c.max_value,
            nan_count,
        )
        .where(SERIES.c.run_pk == run_pk)
        .order_by(SERIES.c.key)
    )
    result: dict[str, SeriesSummary] = {}
    for key, kind, points, first, last, value, value_kind, low, high, nans in session.execute(
        statement
    ):
        result[key] = SeriesSummary(
            key=key,
            kind=kind,
            points=points,
            first_step=first,
            last_step=last,
            last_value=decode_float(value, value_kind),
            min_value=None if low is None else float(low),
            max_value=None if high is None else float(high),
            nan_count=int(nans),
        )
    return result


def _bounds(
    min_step: int | None, max_step: int | None, max_points: int | None
) -> tuple[int | None, int | None]:
    check_max_points(max_points)
    low = None if min_step is None else step_value(min_step)
    high = None if max_step is None else step_value(max_step)
    return low, high


def _chunk_join(low: int | None, high: int | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [CHUNKS.c.series_id == SERIES.c.id]
    if low is not None:
        conditions.append(CHUNKS.c.last_step >= low)
    if high is not None:
        conditions.append(CHUNKS.c.first_step <= high)
    return and_(*conditions)


def _collect(
    session: Session,
    statements: Iterable[Select[Any]],
    low: int | None,
    high: int | None,
    max_points: int | None,
    *,
    key: str | None = None,
) -> tuple[dict[str, Series], int]:
    """Group chunk rows (ordered by name, then first step) into series, and count the rows.
    The first column of each row names the series (a key, or a run id when ``key`` is given;
    None: no series, from an outer join). With numpy, numeric series are read straight from
    their bytes into arrays and downsampled there; only the points kept become lists."""
    np = numpy()
    parts: dict[str, tuple[list[Any], list[Any], str]] = {}
    rows = 0
    for statement in statements:
        for name, kind, codec, first, last, count, step_blob, payload in _rows(session, statement):
            rows += 1
            if name is None:
                continue
            entry = parts.get(name)
            if entry is None:
                entry = parts[name] = ([], [], kind)
            if codec is None:  # a series with no chunk in range (outer join)
                continue
            clipped = (low is not None and first < low) or (high is not None and last > high)
            if np is not None and kind == "numeric":  # steps: a range or an array
                blobs = bytes(step_blob), bytes(payload)
                steps, values = unpack_numbers(codec, first, last, count, *blobs, np)
            else:
                steps, values = unpack(codec, first, last, count, bytes(step_blob), bytes(payload))
            if clipped:
                start = 0 if low is None else bisect_left(steps, low)
                end = len(steps) if high is None else bisect_right(steps, high)
                steps, values = steps[start:end], values[start:end]
            entry[0].append(steps)
            entry[1].append(values)
    result = {
        name: Series.build(key or name, *_points(np, steps, values, kind, max_points), kind)
        for name, (steps, values, kind) in parts.items()
    }
    return result, rows


def _points(
    np: Any, step_parts: list[Any], value_parts: list[Any], kind: str, max_points: int | None
) -> tuple[list[int], list[Any]]:
    """The steps and values of one series from its chunks' parts, downsampled."""
    if np is not None and kind == "numeric":
        steps = _steps(np, [part for part in step_parts if len(part)])
        values = np.concatenate(value_parts) if value_parts else np.empty(0)
        if max_points is None:
            return np.asarray(steps).tolist(), values.tolist()
        return downsample_arrays(np, steps, values, max_points)
    steps = [s for part in step_parts for s in part]
    values = [v for part in value_parts for v in part]
    if max_points is None:
        return steps, values
    if np is not None:
        return downsample_objects(np, steps, values, max_points)
    return downsample(steps, values, max_points, numeric=kind == "numeric")


def _rows(session: Session, statement: Select[Any]) -> Iterable[Sequence[Any]]:
    """The rows of ``statement``; on PostgreSQL with psycopg read in binary format (the
    default text format sends ``bytea`` as hex: twice the bytes, and decoding them took
    more time than the rest of a large read)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        return session.execute(statement)
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    driver = connection.connection.driver_connection
    assert driver is not None  # an open connection
    with driver.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)
        rows: list[Sequence[Any]] = cursor.fetchall()
    return rows


def key_counts(session: Session, run_pk: int) -> dict[str, int]:
    """The logged keys of a run with their point counts, keys sorted."""
    rows = session.execute(
        select(HistorySeries.key, HistorySeries.point_count)
        .where(HistorySeries.run_pk == run_pk)
        .order_by(HistorySeries.key)
    )
    return {key: count for key, count in rows}

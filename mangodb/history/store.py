"""Appending points to the history of a run, on the caller's session (one transaction).

Invariant: the chunks of a series cover disjoint step ranges, so reading them in
``first_step`` order yields the points sorted by step.

* In-order append (every new step above the series' last step): new chunks only. A small one
  (fewer than ``SMALL_APPEND`` points, a training loop flushing every second) adds a chunk to
  the series' open tail (its chunks from ``tail_step`` on) and rewrites nothing. Each time
  the series' point count crosses a multiple of ``COMPACT_POINTS`` (from a phase of its own,
  see :func:`tail_due`) the append merges instead: the tail's trailing small chunks and the
  new points into one chunk, or, once the tail holds ``chunk_plan.MAX_CHUNK_POINTS``, the
  whole tail into full chunks, the last one, when not full, opening the next tail
  (:func:`chunk_plan.compact_tails`). So a writer flushing often leaves neither one row per
  flush nor rewrites a whole chunk to add ten points: each point is re-encoded about twice.
  A larger in-order append adds its own chunks and opens a new tail after them.
* A step already stored: the same value (bit for bit) is a no-op, counted ``unchanged``; a
  different value replaces it (the newer wins), counted ``replaced``.
* Steps at or below the last one (W&B resumes): only chunks whose range contains a new step
  are read and rewritten; new points in the gaps between chunks become chunks of their own.

Which chunks an append adds, rewrites or drops is planned in
:mod:`mangodb.history.chunk_plan`; this module reads and writes the series rows around it.
Series rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite writes hold the database lock) so
concurrent appenders to one run serialise instead of losing points.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from mangodb.codecs.floats import FINITE, encode_float
from mangodb.db.models import HistorySeries, Run
from mangodb.errors import RunNotFound
from mangodb.history.chunk_plan import (
    CHUNKS,
    ChunkPlan,
    SeriesChange,
    add_points,
    compact_tails,
    merge_overlaps,
    open_from,
    write_chunks,
)
from mangodb.history.columns import Column, column, to_columns
from mangodb.history.packing import ROW_COLUMNS, as_float
from mangodb.history.series import AppendResult
from mangodb.history.sql import Driver, SeriesState, batched

SMALL_APPEND = 512
COMPACT_POINTS = 256

RUNS = cast(Table, Run.__table__)
SERIES = cast(Table, HistorySeries.__table__)


def append(session: Session, run: int | str, columns: Mapping[str, Any]) -> AppendResult:
    """Append ``columns`` (from :func:`to_columns`; plain ``(steps, values)`` pairs are
    validated here) to the history of ``run``: its primary key, or its run id (then found by
    the statements that read and create its series; ``RunNotFound`` when it does not exist).
    See the module docstring for the rules on re-sent and out-of-order steps: the newer value
    wins and is counted as ``replaced``."""
    points: dict[str, Column] = {}
    for key, value in columns.items():
        points_of_key = value if isinstance(value, Column) else column(key, *value)
        if points_of_key.steps:
            points[key] = points_of_key
    if not points:
        if (
            isinstance(run, str)
            and session.scalar(select(RUNS.c.id).where(RUNS.c.run_id == run)) is None
        ):
            raise RunNotFound(run)
        return AppendResult()
    keys = sorted(points)
    driver = Driver(session, RUNS, SERIES, CHUNKS)
    series = driver.select_series(run, keys)
    fresh = [key for key in keys if key not in series]
    created: dict[str, int] = {}
    if fresh:
        created = _create_series(driver, run, fresh, points)
        raced = [key for key in fresh if key not in created]  # created meanwhile by another
        if raced:
            series.update(driver.select_series(run, raced))
            if any(key not in series for key in raced):  # neither inserted nor found: no run
                raise RunNotFound(str(run))
    stored = [key for key in keys if key not in created]
    plan = ChunkPlan(changes={series[key].id: SeriesChange() for key in stored})
    tails: list[tuple[SeriesState, Column]] = []
    overlaps: list[tuple[SeriesState, Column]] = []
    for key in stored:
        row, pts = series[key], points[key]
        if row.last_step is not None and pts.steps[0] <= row.last_step:
            overlaps.append((row, pts))
            continue
        count, change = len(pts.steps), plan.changes[row.id]
        if count >= SMALL_APPEND or not row.chunk_count:
            change.set_tail(open_from(pts.steps))
        elif row.tail_step is None:
            change.set_tail(pts.steps[0])  # opens the tail
        elif tail_due(row.id, row.point_count, count):
            tails.append((row, pts))  # the tail is due: merged with these points
            continue
        add_points(plan, row.id, pts.steps, pts.values, pts.consecutive)
        change.written += count
    if tails:
        compact_tails(driver, plan, tails, COMPACT_POINTS)
    if overlaps:
        merge_overlaps(session, plan, overlaps)
    if stored:
        write_chunks(driver, plan)
        _update_series(session, driver, plan, [(series[k], points[k]) for k in stored])
    changes = plan.changes.values()
    return AppendResult(
        written=sum(c.written for c in changes) + sum(len(points[k].steps) for k in created),
        unchanged=sum(c.unchanged for c in changes),
        replaced=sum(c.replaced for c in changes),
        keys=tuple(keys),
    )


def tail_due(series_id: int, point_count: int, count: int) -> bool:
    """Whether ``count`` new points after ``point_count`` take the series across a multiple
    of ``COMPACT_POINTS``, counted from a phase of its own: a run's keys usually grow in step,
    and without the phase every key of a flush would merge its tail at the same flush (one
    slow flush in 26); with it, a flush merges about ``keys × points / COMPACT_POINTS`` of
    them (two of 50 keys × 10 points)."""
    before = point_count + series_id * 97 % COMPACT_POINTS
    return before // COMPACT_POINTS != (before + count) // COMPACT_POINTS


def append_legacy(session: Session, run_pk: int, history: Any) -> AppendResult:
    """The ``history_json={col: [values]}`` of the legacy ``update_run_status`` call."""
    return append(session, run_pk, to_columns(history))


# -- series rows --------------------------------------------------------------------------------
def _create_series(
    driver: Driver, run: int | str, keys: list[str], points: Mapping[str, Column]
) -> dict[str, int]:
    """Series not stored yet: their chunks are packed first so each series row is inserted
    with its summaries (no update afterwards). Returns key -> id of the series created; a key
    another writer created meanwhile is absent (its chunks are not written here)."""
    plan = ChunkPlan()
    rows = []
    now = driver.timestamp(dt.datetime.now(dt.timezone.utc))
    for index, key in enumerate(keys):
        pts, provisional = points[key], -1 - index  # the real id is known after the insert
        plan.changes[provisional] = SeriesChange(written=len(pts.steps))
        add_points(plan, provisional, pts.steps, pts.values, pts.consecutive)
    plan.pack()
    for index, key in enumerate(keys):
        pts, change = points[key], plan.changes[-1 - index]
        value = as_float(pts.values[-1])
        last_value, last_kind = (None, FINITE) if value is None else encode_float(value)
        rows.append(
            (
                key,
                "json" if change.json else "numeric",
                len(pts.steps),
                change.chunks,
                pts.steps[0],
                pts.steps[-1],
                _pick(min, None, change.lows),
                _pick(max, None, change.highs),
                last_value,
                last_kind,
                open_from(pts.steps),
                now,
            )
        )
    ids = driver.insert_series(run, rows)
    real = [ids.get(key) for key in keys]
    inserts = [
        (real[-1 - row[0]], *row[1:]) for row in plan.inserts if real[-1 - row[0]] is not None
    ]
    if inserts:
        driver.insert_chunks(ROW_COLUMNS, inserts)
    return ids


# -- series summaries -------------------------------------------------------------------------
def _update_series(
    session: Session, driver: Driver, plan: ChunkPlan, touched: list[tuple[SeriesState, Column]]
) -> None:
    recount = [row.id for row, _ in touched if plan.changes[row.id].replaced]
    extremes = _chunk_extremes(session, recount) if recount else {}
    now = driver.timestamp(dt.datetime.now(dt.timezone.utc))
    params = []
    for row, pts in touched:
        change = plan.changes[row.id]
        if row.id in extremes:
            low, high = extremes[row.id]
        else:
            low = _pick(min, row.min_value, change.lows)
            high = _pick(max, row.max_value, change.highs)
        last_value, last_kind = row.last_value, row.last_value_kind
        if row.last_step is None or pts.steps[-1] >= row.last_step:
            value = as_float(pts.values[-1])
            last_value, last_kind = (None, FINITE) if value is None else encode_float(value)
        first = pts.steps[0] if row.first_step is None else min(row.first_step, pts.steps[0])
        last = pts.steps[-1] if row.last_step is None else max(row.last_step, pts.steps[-1])
        params.append(
            (
                "json" if change.json or row.kind == "json" else "numeric",
                row.point_count + change.written,
                row.chunk_count + change.chunks,
                first,
                last,
                low,
                high,
                last_value,
                last_kind,
                change.tail_after(row.tail_step),
                now,
                row.id,
            )
        )
    driver.update_series(params)


def _chunk_extremes(
    session: Session, series_ids: list[int]
) -> dict[int, tuple[float | None, float | None]]:
    """Min and max of series from their chunks' summaries (after a replaced value)."""
    found: dict[int, tuple[float | None, float | None]] = {i: (None, None) for i in series_ids}
    for part in batched(series_ids):
        statement = (
            select(CHUNKS.c.series_id, func.min(CHUNKS.c.min_value), func.max(CHUNKS.c.max_value))
            .where(CHUNKS.c.series_id.in_(part))
            .group_by(CHUNKS.c.series_id)
        )
        for series_id, low, high in session.execute(statement):
            found[series_id] = (low, high)
    return found


def _pick(choose: Any, stored: float | None, new: list[float]) -> float | None:
    candidates = [*new, stored] if stored is not None else new
    return float(choose(candidates)) if candidates else None

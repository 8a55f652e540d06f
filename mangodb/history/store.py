"""Appending points to the history of a run, on the caller's session (one transaction).

Invariant: the chunks of a series cover disjoint step ranges, so reading them in
``first_step`` order yields the points sorted by step.

* In-order append (every new step above the series' last step): new chunks only; a small one
  (fewer than ``SMALL_APPEND`` points) is merged into the last chunk while that stays within
  ``MAX_CHUNK_POINTS``, so a writer flushing often does not leave one row per point. O(new).
* A step already stored: the same value (bit for bit) is a no-op, counted ``unchanged``; a
  different value replaces it (the newer wins), counted ``replaced``.
* Steps at or below the last one (W&B resumes): only chunks whose range contains a new step
  are read and rewritten; new points in the gaps between chunks become chunks of their own.

Series rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite writes hold the database lock)
so concurrent appenders to one run serialise instead of losing points.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, Table, delete, func, select
from sqlalchemy.orm import Session

from mangodb.codecs.floats import FINITE, encode_float
from mangodb.db.models import HistoryChunk, HistorySeries, Run
from mangodb.errors import RunNotFound
from mangodb.history.columns import Column, column, to_columns
from mangodb.history.packing import (
    ROW_COLUMNS,
    PackedChunk,
    as_float,
    pack_many,
    same_value,
    unpack,
)
from mangodb.history.series import AppendResult
from mangodb.history.sql import Driver, SeriesState, batched

MAX_CHUNK_POINTS = 4096
SMALL_APPEND = 512

RUNS = cast(Table, Run.__table__)
SERIES = cast(Table, HistorySeries.__table__)
CHUNKS = cast(Table, HistoryChunk.__table__)


@dataclass(slots=True)
class _Change:
    """What this append does to one series."""

    written: int = 0
    unchanged: int = 0
    replaced: int = 0
    chunks: int = 0
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    json: bool = False


@dataclass(slots=True)
class _Plan:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    changes: dict[int, _Change] = field(default_factory=dict)
    pending: list[tuple[int, list[int], list[Any], bool | None]] = field(default_factory=list)

    def pack(self) -> None:
        """Pack the chunks added by :func:`_add_points` (in one batch: see ``pack_many``)."""
        if self.pending:
            chunks = pack_many([(steps, values, ar) for _, steps, values, ar in self.pending])
            for (series_id, *_), chunk in zip(self.pending, chunks, strict=True):
                self.add(series_id, chunk)
            self.pending.clear()

    def add(self, series_id: int, chunk: PackedChunk) -> None:
        change = self.changes[series_id]
        self.inserts.append(chunk.row(series_id))
        change.chunks += 1
        if chunk.min_value is not None and chunk.max_value is not None:
            change.lows.append(chunk.min_value)
            change.highs.append(chunk.max_value)
        change.json = change.json or not chunk.numeric

    def drop(self, series_id: int, chunk_id: int) -> None:
        self.deletes.append(chunk_id)
        self.changes[series_id].chunks -= 1


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
    plan = _Plan(changes={series[key].id: _Change() for key in stored})
    tails: list[tuple[SeriesState, Column]] = []
    overlaps: list[tuple[SeriesState, Column]] = []
    for key in stored:
        row, pts = series[key], points[key]
        if row.last_step is None or pts.steps[0] > row.last_step:
            if len(pts.steps) < SMALL_APPEND and row.chunk_count:
                tails.append((row, pts))
            else:
                _add_points(plan, row.id, pts.steps, pts.values, pts.consecutive)
                plan.changes[row.id].written += len(pts.steps)
        else:
            overlaps.append((row, pts))
    if tails:
        _merge_tails(session, plan, tails)
    if overlaps:
        _merge_overlaps(session, plan, overlaps)
    if stored:
        _write_chunks(session, driver, plan)
        _update_series(session, driver, plan, [(series[k], points[k]) for k in stored])
    changes = plan.changes.values()
    return AppendResult(
        written=sum(c.written for c in changes) + sum(len(points[k].steps) for k in created),
        unchanged=sum(c.unchanged for c in changes),
        replaced=sum(c.replaced for c in changes),
        keys=tuple(keys),
    )


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
    plan = _Plan()
    rows = []
    now = driver.timestamp(dt.datetime.now(dt.timezone.utc))
    for index, key in enumerate(keys):
        pts, provisional = points[key], -1 - index  # the real id is known after the insert
        plan.changes[provisional] = _Change(written=len(pts.steps))
        _add_points(plan, provisional, pts.steps, pts.values, pts.consecutive)
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


# -- chunks ---------------------------------------------------------------------------------------
def _add_points(
    plan: _Plan, series_id: int, steps: list[int], values: list[Any], consecutive: bool | None
) -> None:
    """Sorted points, to be packed (by ``plan.pack()``) into chunks of at most
    ``MAX_CHUNK_POINTS``."""
    arithmetic = consecutive or None
    if len(steps) <= MAX_CHUNK_POINTS:
        plan.pending.append((series_id, steps, values, arithmetic))
        return
    for start in range(0, len(steps), MAX_CHUNK_POINTS):
        end = start + MAX_CHUNK_POINTS
        plan.pending.append((series_id, steps[start:end], values[start:end], arithmetic))


def _merge_tails(session: Session, plan: _Plan, tails: list[tuple[SeriesState, Column]]) -> None:
    """Small in-order appends: rewrite the series' last chunk with the new points when the
    result stays small, else add a chunk."""
    latest = CHUNKS.alias("latest")
    newest_first_step = (
        select(func.max(latest.c.first_step))
        .where(latest.c.series_id == CHUNKS.c.series_id)
        .scalar_subquery()
    )
    ids = [row.id for row, _ in tails]
    last: dict[int, Row[Any]] = {}
    for part in batched(ids):
        statement = select(CHUNKS).where(
            CHUNKS.c.series_id.in_(part), CHUNKS.c.first_step == newest_first_step
        )
        last.update((chunk.series_id, chunk) for chunk in session.execute(statement))
    for row, pts in tails:
        plan.changes[row.id].written += len(pts.steps)
        chunk = last.get(row.id)
        if chunk is None or chunk.point_count + len(pts.steps) > MAX_CHUNK_POINTS:
            _add_points(plan, row.id, pts.steps, pts.values, pts.consecutive)
            continue
        steps, values = _decode(chunk)
        plan.drop(row.id, chunk.id)
        _add_points(plan, row.id, steps + pts.steps, values + pts.values, None)


def _merge_overlaps(
    session: Session, plan: _Plan, overlaps: list[tuple[SeriesState, Column]]
) -> None:
    """Appends reaching at or below the last stored step: merge in order."""
    ids = [row.id for row, _ in overlaps]
    lowest = min(pts.steps[0] for _, pts in overlaps)
    ranges: dict[int, list[Any]] = {i: [] for i in ids}
    for part in batched(ids):
        statement = (
            select(CHUNKS.c.id, CHUNKS.c.series_id, CHUNKS.c.first_step, CHUNKS.c.last_step)
            .where(CHUNKS.c.series_id.in_(part), CHUNKS.c.last_step >= lowest)
            .order_by(CHUNKS.c.series_id, CHUNKS.c.first_step)
        )
        for meta in session.execute(statement):
            ranges[meta.series_id].append(meta)
    touched: dict[int, list[Row[Any]]] = {}
    for row, pts in overlaps:
        first, last = pts.steps[0], pts.steps[-1]
        spans = [m for m in ranges[row.id] if m.last_step >= first and m.first_step <= last]
        ranges[row.id] = spans
        touched[row.id] = [m for m in spans if _holds_step(pts.steps, m)]
    stored = _load_chunks(session, [m.id for spans in touched.values() for m in spans])
    for row, pts in overlaps:
        _merge_series(plan, row.id, pts, ranges[row.id], [stored[m.id] for m in touched[row.id]])


def _holds_step(steps: list[int], meta: Row[Any]) -> bool:
    at = bisect_left(steps, meta.first_step)
    return at < len(steps) and steps[at] <= meta.last_step


def _load_chunks(session: Session, ids: list[int]) -> dict[int, Row[Any]]:
    found: dict[int, Row[Any]] = {}
    for part in batched(ids):
        found.update(
            (c.id, c) for c in session.execute(select(CHUNKS).where(CHUNKS.c.id.in_(part)))
        )
    return found


def _merge_series(
    plan: _Plan, series_id: int, pts: Column, spans: list[Row[Any]], touched: list[Row[Any]]
) -> None:
    change = plan.changes[series_id]
    used = [False] * len(pts.steps)
    for chunk in touched:
        start = bisect_left(pts.steps, chunk.first_step)
        end = bisect_right(pts.steps, chunk.last_step)
        steps, values = _decode(chunk)
        merged = dict(zip(steps, values, strict=True))
        for index in range(start, end):
            step, value = pts.steps[index], pts.values[index]
            used[index] = True
            if step not in merged:
                change.written += 1
            elif same_value(merged[step], value):
                change.unchanged += 1
                continue
            else:
                change.replaced += 1
            merged[step] = value
        ordered_steps = sorted(merged)
        plan.drop(series_id, chunk.id)
        _add_points(plan, series_id, ordered_steps, [merged[s] for s in ordered_steps], None)
    # New points in the gaps between stored chunks: one new chunk per gap.
    firsts = [meta.first_step for meta in spans]
    group_steps: list[int] = []
    group_values: list[Any] = []
    group_gap = -1
    for index, step in enumerate(pts.steps):
        if used[index]:
            continue
        gap = bisect_right(firsts, step)
        if gap != group_gap and group_steps:
            _add_points(plan, series_id, group_steps, group_values, None)
            group_steps, group_values = [], []
        group_gap = gap
        group_steps.append(step)
        group_values.append(pts.values[index])
        change.written += 1
    if group_steps:
        _add_points(plan, series_id, group_steps, group_values, None)


def _decode(chunk: Row[Any]) -> tuple[list[int], list[Any]]:
    return unpack(
        chunk.codec,
        chunk.first_step,
        chunk.last_step,
        chunk.point_count,
        bytes(chunk.steps),
        bytes(chunk.payload),
    )


def _write_chunks(session: Session, driver: Driver, plan: _Plan) -> None:
    plan.pack()
    for part in batched(plan.deletes):
        session.execute(delete(CHUNKS).where(CHUNKS.c.id.in_(part)))
    if plan.inserts:
        driver.insert_chunks(ROW_COLUMNS, plan.inserts)


# -- series summaries -------------------------------------------------------------------------
def _update_series(
    session: Session, driver: Driver, plan: _Plan, touched: list[tuple[SeriesState, Column]]
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

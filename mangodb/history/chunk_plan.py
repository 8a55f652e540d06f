"""What an append does to the chunks of its series: the chunks it adds, rewrites (a series'
open tail merged into full chunks, a re-sent or out-of-order step merged into the chunk
holding it) and drops, planned first and then written in one batch.

Invariant: the chunks of a series cover disjoint step ranges of at most ``MAX_CHUNK_POINTS``
points each.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session

from mangodb.db.models import HistoryChunk
from mangodb.history.columns import Column
from mangodb.history.packing import ROW_COLUMNS, PackedChunk, pack_many, same_value, unpack
from mangodb.history.sql import Driver, SeriesState, batched

MAX_CHUNK_POINTS = 4096
CHUNKS = cast(Table, HistoryChunk.__table__)


@dataclass(slots=True)
class SeriesChange:
    """What this append does to one series."""

    written: int = 0
    unchanged: int = 0
    replaced: int = 0
    chunks: int = 0
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    json: bool = False
    tail_set: bool = False
    tail: int | None = None

    def set_tail(self, step: int | None) -> None:
        """The series' new ``tail_step`` (else it keeps the stored one)."""
        self.tail_set, self.tail = True, step

    def tail_after(self, stored: int | None) -> int | None:
        return self.tail if self.tail_set else stored


@dataclass(slots=True)
class ChunkPlan:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    changes: dict[int, SeriesChange] = field(default_factory=dict)
    pending: list[tuple[int, list[int], list[Any], bool | None]] = field(default_factory=list)

    def pack(self) -> None:
        """Pack the chunks added by :func:`add_points` (in one batch: see ``pack_many``)."""
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


def add_points(
    plan: ChunkPlan, series_id: int, steps: list[int], values: list[Any], consecutive: bool | None
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


def open_from(steps: list[int]) -> int | None:
    """The first step of the last chunk :func:`add_points` makes of ``steps`` when that chunk
    is not full (it opens the series' tail), else None."""
    rest = len(steps) % MAX_CHUNK_POINTS
    return steps[-rest] if rest else None


def compact_tails(
    driver: Driver, plan: ChunkPlan, tails: list[tuple[SeriesState, Column]], small: int
) -> None:
    """Small in-order appends whose series' open tail is due. The tail's chunks (from the
    series' ``tail_step`` on) are, in step order, merged chunks of about ``small`` points and
    then the chunks the appends since the last merge added. When the tail and the new points
    reach ``MAX_CHUNK_POINTS`` they are all merged into full chunks, the last one, when not
    full, opening the new tail; until then only the trailing chunks of fewer than ``small``
    points are merged, with the new points, into one. So each point is re-encoded about
    twice, and a merge writes a chunk of a few hundred points, not a growing one of
    thousands."""
    found: dict[int, list[Row[Any]]] = {row.id: [] for row, _ in tails}
    for chunk in driver.open_chunks(list(found)):  # by series, in step order
        found[chunk.series_id].append(chunk)
    for row, pts in tails:
        chunks = found[row.id]
        plan.changes[row.id].written += len(pts.steps)
        full = sum(chunk.point_count for chunk in chunks) + len(pts.steps) >= MAX_CHUNK_POINTS
        start = 0 if full else len(chunks)
        while not full and start and chunks[start - 1].point_count < small:  # trailing small
            start -= 1
        steps: list[int] = []
        values: list[Any] = []
        for chunk in chunks[start:]:
            chunk_steps, chunk_values = _decode(chunk)
            steps += chunk_steps
            values += chunk_values
            plan.drop(row.id, chunk.id)
        steps += pts.steps
        values += pts.values
        add_points(plan, row.id, steps, values, None)
        if full:
            plan.changes[row.id].set_tail(open_from(steps))


def merge_overlaps(
    session: Session, plan: ChunkPlan, overlaps: list[tuple[SeriesState, Column]]
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
    plan: ChunkPlan, series_id: int, pts: Column, spans: list[Row[Any]], touched: list[Row[Any]]
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
        add_points(plan, series_id, ordered_steps, [merged[s] for s in ordered_steps], None)
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
            add_points(plan, series_id, group_steps, group_values, None)
            group_steps, group_values = [], []
        group_gap = gap
        group_steps.append(step)
        group_values.append(pts.values[index])
        change.written += 1
    if group_steps:
        add_points(plan, series_id, group_steps, group_values, None)


def _decode(chunk: Row[Any]) -> tuple[list[int], list[Any]]:
    return unpack(
        chunk.codec,
        chunk.first_step,
        chunk.last_step,
        chunk.point_count,
        bytes(chunk.steps),
        bytes(chunk.payload),
    )


def write_chunks(driver: Driver, plan: ChunkPlan) -> None:
    plan.pack()
    if plan.deletes:
        driver.delete_chunks(plan.deletes)
    if plan.inserts:
        driver.insert_chunks(ROW_COLUMNS, plan.inserts)

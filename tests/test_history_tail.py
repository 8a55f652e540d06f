"""A training loop flushing a few steps at a time (both dialects): each flush adds a chunk to
the series' open tail and leaves every stored chunk alone; once ``COMPACT_POINTS`` more points
have arrived the tail's small chunks are merged into one, and once the tail holds a full
chunk's worth it is merged into full chunks. Chunks and summaries are read straight from
the tables, the points back through ``get_history``."""

from __future__ import annotations

import itertools
import math

from sqlalchemy import select, update

from mangodb import RunRepository
from mangodb.db.models import HistoryChunk, HistorySeries, Run
from mangodb.history import chunk_plan, store

FLUSH = 10


def flush(repo: RunRepository, run_id: str, start: int, keys: tuple[str, ...]) -> None:
    steps = list(range(start, start + FLUSH))
    repo.append_history(run_id, {key: (steps, [math.sin(s) for s in steps]) for key in keys})


def chunks_of(repo: RunRepository, run_id: str, key: str) -> list[tuple[int, int, int]]:
    """(id, first_step, point_count) of the series' chunks, in step order."""
    with repo.engine.connect() as connection:
        rows = connection.execute(
            select(HistoryChunk.id, HistoryChunk.first_step, HistoryChunk.point_count)
            .join(HistorySeries, HistorySeries.id == HistoryChunk.series_id)
            .join(Run, Run.id == HistorySeries.run_pk)
            .where(Run.run_id == run_id, HistorySeries.key == key)
            .order_by(HistoryChunk.first_step)
        )
        return [(row.id, row.first_step, row.point_count) for row in rows]


def series_of(repo: RunRepository, run_id: str, key: str) -> tuple[int, int, int | None]:
    """(point_count, chunk_count, tail_step) as stored."""
    with repo.engine.connect() as connection:
        row = connection.execute(
            select(HistorySeries.point_count, HistorySeries.chunk_count, HistorySeries.tail_step)
            .join(Run, Run.id == HistorySeries.run_pk)
            .where(Run.run_id == run_id, HistorySeries.key == key)
        ).one()
        return row.point_count, row.chunk_count, row.tail_step


def series_id(repo: RunRepository, run_id: str, key: str) -> int:
    with repo.engine.connect() as connection:
        found = connection.scalar(
            select(HistorySeries.id)
            .join(Run, Run.id == HistorySeries.run_pk)
            .where(Run.run_id == run_id, HistorySeries.key == key)
        )
        assert found is not None
        return found


def test_a_flush_adds_one_chunk_and_rewrites_none(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    keys = ("loss", "val/acc", "lr")
    flush(repo, "r", 0, keys)
    ids = {key: series_id(repo, "r", key) for key in keys}
    merged_at: dict[str, list[int]] = {key: [] for key in keys}
    for flushed in range(1, 40):
        before = {key: chunks_of(repo, "r", key) for key in keys}
        count = flushed * FLUSH
        flush(repo, "r", count, keys)
        for key in keys:
            after = chunks_of(repo, "r", key)
            if not store.tail_due(ids[key], count, FLUSH):  # one more chunk, none rewritten
                assert after[:-1] == before[key]
                assert after[-1][1:] == (count, FLUSH)
            else:  # the trailing small chunks and the flush merged into one; the rest kept
                kept = before[key]
                while kept and kept[-1][2] < store.COMPACT_POINTS:
                    kept = kept[:-1]
                start = kept[-1][1] + kept[-1][2] if kept else 0
                assert after[:-1] == kept
                assert after[-1][1:] == (start, count + FLUSH - start)
                merged_at[key].append(flushed)
            assert series_of(repo, "r", key) == (count + FLUSH, len(after), after[0][1])
    # Each key merged once or twice in 400 points, at flushes of its own.
    assert all(1 <= len(flushes) <= 2 for flushes in merged_at.values())
    assert len({tuple(flushes) for flushes in merged_at.values()}) == len(keys)


def test_a_long_run_ends_in_full_chunks_and_a_short_tail(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    flushes = 1_000  # 10,000 points: two full chunks of 4,096 and a tail
    for index in range(flushes):
        flush(repo, "r", index * FLUSH, ("loss",))
    chunks = chunks_of(repo, "r", "loss")
    point_count, chunk_count, tail_step = series_of(repo, "r", "loss")
    assert (point_count, chunk_count) == (flushes * FLUSH, len(chunks))
    assert tail_step is not None
    closed = [chunk for chunk in chunks if chunk[1] < tail_step]
    tail = [chunk for chunk in chunks if chunk[1] >= tail_step]
    assert [chunk[2] for chunk in closed] == [chunk_plan.MAX_CHUNK_POINTS] * 2
    assert sum(chunk[2] for chunk in tail) == flushes * FLUSH - 2 * chunk_plan.MAX_CHUNK_POINTS
    # Merged chunks of a few hundred points, then the flushes since the last merge.
    most = chunk_plan.MAX_CHUNK_POINTS // store.COMPACT_POINTS + store.COMPACT_POINTS // FLUSH + 2
    assert len(tail) <= most
    assert all(a[1] + a[2] <= b[1] for a, b in itertools.pairwise(chunks))
    read = repo.get_history("r")["loss"]
    assert read.steps == list(range(flushes * FLUSH))
    assert read.values == [math.sin(s) for s in read.steps]


def test_series_written_before_tails_existed_open_one(repo: RunRepository) -> None:
    """A series stored before migration 0011 has no tail (NULL): its next small flush opens
    one after its last chunk, which stays as it was."""
    repo.insert_run(run_id="r")
    flush(repo, "r", 0, ("loss",))
    with repo.engine.begin() as connection:
        connection.execute(update(HistorySeries).values(tail_step=None))
    old = chunks_of(repo, "r", "loss")
    for index in range(1, 40):
        flush(repo, "r", index * FLUSH, ("loss",))
    chunks = chunks_of(repo, "r", "loss")
    assert chunks[0] == old[0]
    assert series_of(repo, "r", "loss")[2] == chunks[1][1]
    assert repo.get_history("r")["loss"].steps == list(range(40 * FLUSH))


def test_resent_and_earlier_steps_inside_the_tail_keep_it_exact(repo: RunRepository) -> None:
    """W&B resumes re-send steps: points inside the open tail are replaced in place, and the
    next merge keeps the newer values."""
    repo.insert_run(run_id="r")
    for index in range(20):
        flush(repo, "r", index * FLUSH, ("loss",))
    result = repo.append_history("r", {"loss": ([105, 150], [-1.0, -2.0])})
    assert (result.written, result.replaced) == (0, 2)
    for index in range(20, 60):
        flush(repo, "r", index * FLUSH, ("loss",))
    read = repo.get_history("r")["loss"]
    expected = {s: math.sin(s) for s in range(600)} | {105: -1.0, 150: -2.0}
    assert read.steps == sorted(expected)
    assert read.values == [expected[s] for s in read.steps]
    chunks = chunks_of(repo, "r", "loss")
    assert series_of(repo, "r", "loss")[:2] == (600, len(chunks))

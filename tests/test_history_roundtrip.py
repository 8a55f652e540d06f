"""Whatever is appended, in whatever chunking and order, reads back bit-exactly as a plain
dict model of the same operations says (both dialects). Numbers compare by their float64
bits; other values (strings, None, documents, ints too big for a float) as JSON documents."""

from __future__ import annotations

import itertools
import math
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mangodb import RunRepository
from mangodb.codecs.floats import decode_float
from mangodb.codecs.jsontext import encode
from mangodb.db.models import HistoryChunk, HistorySeries, Run
from mangodb.db.types import dumps
from mangodb.history import chunk_plan, store

NAN_PAYLOAD = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
NEG_NAN = struct.unpack("<d", b"\x00\x00\x00\x00\x00\x00\xf8\xff")[0]
SPECIAL = [
    math.nan,
    NEG_NAN,
    NAN_PAYLOAD,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,
    -1.7976931348623157e308,
    1e300,
    -1e-300,
]
KEYS = ["loss", "val/acc", "lr"]

DOCUMENTS = ["warmup", "", None, {"_type": "histogram", "bins": [0, 1.5], "mean": math.nan}]
numbers = st.one_of(st.floats(), st.sampled_from(SPECIAL), st.integers(-(2**53), 2**53))
anything = st.one_of(numbers, numbers, st.sampled_from(DOCUMENTS), st.integers(2**1100, 2**1101))
steps = st.one_of(st.integers(0, 40), st.integers(0, 2**63 - 1))


def operations(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A few appends, each of 1-3 keys, as columns or as rows."""
    batch = st.dictionaries(
        st.sampled_from(KEYS),
        st.lists(st.tuples(steps, values), min_size=1, max_size=12),
        min_size=1,
    )
    return st.lists(st.tuples(batch, st.sampled_from(["columns", "rows"])), min_size=1, max_size=6)


def bits(value: float) -> bytes:
    return struct.pack("<d", float(value))


def is_number(value: Any) -> bool:
    """A value the history keeps as a float64 (ints beyond its range stay JSON)."""
    return isinstance(value, float) or (isinstance(value, int) and abs(value) < 2**1024)


def fingerprint(value: Any) -> Any:
    """What "the same value" means: the float64 bits of a number, else the JSON document."""
    return bits(value) if is_number(value) else dumps(encode(value))


def as_input(points: dict[str, list[tuple[int, Any]]], form: str) -> Any:
    if form == "columns":
        return {key: ([s for s, _ in pts], [v for _, v in pts]) for key, pts in points.items()}
    return [{"_step": s, key: v} for key, pts in points.items() for s, v in pts]


@dataclass
class Model:
    """The plain-Python model: key -> {step: value}, and the keys that ever stored a
    non-number (a key turns 'json' then and stays so)."""

    points: dict[str, dict[int, Any]] = field(default_factory=dict)
    json_keys: set[str] = field(default_factory=set)

    def apply(self, batch: dict[str, list[tuple[int, Any]]]) -> tuple[int, int, int]:
        """One append; returns (written, unchanged, replaced)."""
        written = unchanged = replaced = 0
        for key, pts in batch.items():
            stored = self.points.setdefault(key, {})
            for step, value in dict(pts).items():  # a step given twice in one call: last wins
                if step not in stored:
                    written += 1
                elif fingerprint(stored[step]) == fingerprint(value):
                    unchanged += 1
                    continue
                else:
                    replaced += 1
                stored[step] = value
                if not is_number(value):
                    self.json_keys.add(key)
        return written, unchanged, replaced


def assert_same(repo: RunRepository, run_id: str, model: Model) -> None:
    history = repo.get_history(run_id)
    assert sorted(history) == sorted(model.points)
    for key, stored in model.points.items():
        series = history[key]
        assert series.key == key
        assert series.steps == sorted(stored)
        assert [fingerprint(v) for v in series.values] == [
            fingerprint(stored[s]) for s in sorted(stored)
        ]
        # A key becomes 'json' with its first non-number and stays so.
        assert series.kind == ("json" if key in model.json_keys else "numeric")
    assert repo.history_keys(run_id) == {k: len(v) for k, v in sorted(model.points.items())}


def assert_summaries(repo: RunRepository, run_id: str, model: Model) -> None:
    """Series and chunk summary columns agree with the points; chunks never overlap."""
    with repo.engine.connect() as connection:
        rows = connection.execute(
            select(HistorySeries)
            .join(Run, Run.id == HistorySeries.run_pk)
            .where(Run.run_id == run_id)
        ).all()
        assert sorted(row.key for row in rows) == sorted(model.points)
        for row in rows:
            stored = model.points[row.key]
            kept = [float(v) for v in stored.values() if is_number(v) and not math.isnan(v)]
            assert row.point_count == len(stored)
            assert (row.first_step, row.last_step) == (min(stored), max(stored))
            assert row.min_value == (min(kept) if kept else None)
            assert row.max_value == (max(kept) if kept else None)
            chunks = connection.execute(
                select(HistoryChunk)
                .where(HistoryChunk.series_id == row.id)
                .order_by(HistoryChunk.first_step)
            ).all()
            assert row.chunk_count == len(chunks)
            assert sum(c.point_count for c in chunks) == len(stored)
            assert all(a.last_step < b.first_step for a, b in itertools.pairwise(chunks))
            assert all(c.point_count <= chunk_plan.MAX_CHUNK_POINTS for c in chunks)
            last = stored[max(stored)]
            summary = decode_float(row.last_value, row.last_value_kind)
            # The summary keeps NaN as a kind (not its payload bits); the points keep those.
            if not is_number(last):
                assert summary is None
            elif math.isnan(last):
                assert summary is not None and math.isnan(summary)
            else:
                assert summary is not None and bits(summary) == bits(last)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks so a few points already split, merge and rewrite chunks."""
    monkeypatch.setattr(chunk_plan, "MAX_CHUNK_POINTS", 8)
    monkeypatch.setattr(store, "SMALL_APPEND", 4)
    monkeypatch.setattr(store, "COMPACT_POINTS", 3)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.one_of(operations(numbers), operations(anything)),
    window=st.tuples(st.integers(0, 45), st.integers(0, 45)),
)
def test_appends_read_back_like_a_dict_model(
    repo: RunRepository, small_chunks: None, ops: list, window: tuple[int, int]
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    repo.insert_run(run_id=run_id)
    model = Model()
    for points, form in ops:
        expected = model.apply(points)
        result = repo.append_history(run_id, as_input(points, form))
        assert (result.written, result.unchanged, result.replaced) == expected
        assert result.keys == tuple(sorted(points))
    assert_same(repo, run_id, model)
    assert_summaries(repo, run_id, model)

    low, high = min(window), max(window)
    ranged = repo.get_history(run_id, min_step=low, max_step=high)
    for key, stored in model.points.items():
        inside = [s for s in sorted(stored) if low <= s <= high]
        assert ranged[key].steps == inside
        assert [fingerprint(v) for v in ranged[key].values] == [
            fingerprint(stored[s]) for s in inside
        ]


def test_resending_a_whole_run_is_a_no_op(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    data = {"loss": (list(range(10_000)), [math.sin(i) for i in range(10_000)])}
    first = repo.append_history("r", data)
    again = repo.append_history("r", data)
    assert (first.written, first.unchanged, first.replaced) == (10_000, 0, 0)
    assert (again.written, again.unchanged, again.replaced) == (0, 10_000, 0)
    assert repo.get_history("r")["loss"].values == data["loss"][1]


def test_a_resumed_run_overwrites_from_its_checkpoint(repo: RunRepository) -> None:
    """W&B resumes re-log steps from the last checkpoint: newer values win, in order."""
    repo.insert_run(run_id="r")
    repo.append_history("r", {"loss": (list(range(0, 1000)), [1.0] * 1000)})
    result = repo.append_history("r", {"loss": (list(range(800, 1200)), [2.0] * 400)})
    assert (result.written, result.unchanged, result.replaced) == (200, 0, 200)
    series = repo.get_history("r")["loss"]
    assert series.steps == list(range(1200))
    assert series.values == [1.0] * 800 + [2.0] * 400


def test_sparse_and_jumping_steps_per_key(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    repo.append_history(
        "r",
        {"eval": ([0, 1000, 5000, 2**62], [0.5, 0.4, 0.3, 0.2]), "train": ([1, 2, 3], [9, 8, 7])},
    )
    history = repo.get_history("r")
    assert history["eval"].steps == [0, 1000, 5000, 2**62]
    assert history["train"].values == [9.0, 8.0, 7.0]
    assert repo.get_history("r", keys="eval", min_step=1, max_step=5000)["eval"].steps == [
        1000,
        5000,
    ]


def test_concurrent_appenders_to_one_key_lose_nothing(repo: RunRepository) -> None:
    """Four writers interleave steps of the same new key; the series rows are locked, so
    every append sees the previous one and nothing is lost (SQLite: one writer at a time)."""
    repo.insert_run(run_id="r")
    writers, rounds, width = 4, 8, 25

    def work(writer: int) -> None:
        for round_ in range(rounds):
            steps = [(round_ * width + i) * writers + writer for i in range(width)]
            repo.append_history(
                "r", {"loss": (steps, [float(s) for s in steps]), "w": ([writer], [writer])}
            )

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    series = repo.get_history("r")["loss"]
    total = writers * rounds * width
    assert series.steps == list(range(total))
    assert series.values == [float(s) for s in range(total)]
    assert repo.history_keys("r") == {"loss": total, "w": writers}

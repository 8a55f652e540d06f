"""Query plans at scale: the main filter query (status + gradient method + a config value + a
final-metric bound, newest first, one page) is answered from indexes, never by reading the
whole ``runs`` table. The SQL checked is the SQL the repository really sends."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.engine import URL

from mangodb import RunCreate, RunRepository
from mangodb.db.models import Run, RunMetric

RUNS = 3000
METHODS = ("mgda", "pcgrad", "cagrad", "nash_mtl", "famo", "linear")
STATUSES = ("completed",) * 6 + ("failed", "crashed", "running", "launched")
FILTER: dict[str, Any] = {
    "status": "completed",
    "gradient_method": "mgda",
    "config": {"data.batch_size": 96},
    "metrics": {"val/loss": ("<", 0.5)},
}


def _seed(repo: RunRepository) -> None:
    rng = random.Random(1)
    repo.insert_runs(
        RunCreate(
            run_id=f"r{i:05d}",
            status=STATUSES[rng.randrange(len(STATUSES))],
            gradient_method=METHODS[rng.randrange(len(METHODS))],
            config={
                "data": {"batch_size": (32, 64, 96, 128)[rng.randrange(4)], "seed": i},
                "optim": {f"p{k}": rng.random() for k in range(40)},
            },
        )
        for i in range(RUNS)
    )
    with repo.engine.begin() as connection:
        pks = list(connection.scalars(select(Run.id)))
        connection.execute(
            insert(RunMetric),
            [{"run_pk": pk, "key": "val/loss", "value": rng.random(), "kind": 0} for pk in pks],
        )
        connection.execute(text("ANALYZE"))


class _Capture:
    """The statements and parameters the engine sends to the driver."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.engine = engine

    def __enter__(self) -> _Capture:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.sent.append((statement, params))

    def first_from_runs(self) -> tuple[str, Any]:
        return next((s, p) for s, p in self.sent if "FROM runs" in s and "LIMIT" in s)


def _postgres_plan(engine: Engine, statement: str, params: Any) -> dict[str, Any]:
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        raw = cursor.fetchone()[0]
    plan = raw if isinstance(raw, list) else json.loads(raw)
    return plan[0]["Plan"]  # type: ignore[no-any-return]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _seq_scans_of_runs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        n for n in _nodes(plan) if n["Node Type"] == "Seq Scan" and n["Relation Name"] == "runs"
    ]


@pytest.fixture
def seeded(pg_schema_url: URL) -> Iterator[RunRepository]:
    with RunRepository.connect(pg_schema_url) as repo:
        _seed(repo)
        yield repo


def test_main_filter_query_uses_indexes_on_postgres(seeded: RunRepository) -> None:
    repo = seeded
    with _Capture(repo.engine) as capture:
        page = repo.query_runs_page(limit=50, **FILTER)
    assert page.items, "the filter should match some runs"
    statement, params = capture.first_from_runs()
    assert "@>" in statement  # the config equality is a containment test (GIN-indexable)
    plan = _postgres_plan(repo.engine, statement, params)
    assert _seq_scans_of_runs(plan) == [], json.dumps(plan, indent=1)
    used = {n.get("Index Name") for n in _nodes(plan)} - {None}
    assert used & {
        "ix_runs_status_method_created_at_id_archived",
        "ix_runs_gradient_method_status",
        "ix_runs_config_gin",
        "ix_runs_status_created_at_id_archived",
    }, used

    # Control: without the runs indexes the same query reads the whole table, and the check
    # above notices it.
    with repo.engine.begin() as connection:
        for name in (
            "ix_runs_status_method_created_at_id_archived",
            "ix_runs_gradient_method_status",
            "ix_runs_config_gin",
            "ix_runs_status_created_at_id_archived",
            "ix_runs_created_at_id_archived",
        ):
            connection.execute(text(f"DROP INDEX {name}"))
    assert _seq_scans_of_runs(_postgres_plan(repo.engine, statement, params))


def test_config_filter_alone_is_answered_by_the_gin_index(seeded: RunRepository) -> None:
    """The containment SQL matches the GIN operator class, so the index can answer it (on a
    table this small the planner prefers a scan unless told otherwise). Archived runs are
    included: the default ``archived_at IS NULL`` offers a third plan, a full scan of an index
    holding the mark, which ``enable_seqscan = off`` leaves in and which costs as much as the
    table scan it stands for (with scans allowed, the plan is the same either way)."""
    repo = seeded
    with _Capture(repo.engine) as capture:
        repo.count_runs(config={"data.seed": 17}, include_archived=True)
    statement, params = next((s, p) for s, p in capture.sent if "FROM runs" in s)
    with repo.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
        raw = cursor.fetchone()[0]
        cursor.execute("RESET enable_seqscan")
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    assert "ix_runs_config_gin" in {n.get("Index Name") for n in _nodes(plan)}, plan
    assert repo.count_runs(config={"data.seed": 17}) == 1

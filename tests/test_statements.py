"""Page statements are kept per set of criteria: never answering one question with another's
statement, never changed by the caller's objects afterwards, bounded in number."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mangodb import RunCreate, RunRepository, RunStatus, statements
from mangodb.filters import ConfigFilter


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"config": {"x": 96}}, {"config": {"x": 96.0}}),
        ({"config": {"x": 1}}, {"config": {"x": True}}),
        ({"config": {"x": 0.0}}, {"config": {"x": -0.0}}),
        ({"status": ["completed"]}, {"status": ("completed",)}),
        ({"status": "completed"}, {"status": "failed"}),
        ({"metrics": {"loss": ("<", 0.5)}}, {"metrics": {"loss": ("<=", 0.5)}}),
        ({"filters": ConfigFilter(("x",), "=", 1)}, {"filters": ConfigFilter(("x",), "=", True)}),
    ],
)
def test_different_criteria_have_different_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert statements.criteria_key(a) is not None
    assert statements.criteria_key(a) != statements.criteria_key(b)
    assert statements.criteria_key(a) == statements.criteria_key(dict(a))


def test_criteria_holding_other_objects_are_not_kept() -> None:
    assert statements.criteria_key({"config": {"x": object()}}) is None
    assert statements.criteria_key({"config": {"x": math.nan}}) is not None


def test_kept_statements_answer_their_own_question(repo: RunRepository) -> None:
    for i, status in enumerate(["completed", "failed", "completed"]):
        repo.insert_run(RunCreate(run_id=f"r{i}", status=RunStatus(status), config={"bs": 32 + i}))

    def ids(**criteria: Any) -> list[str]:
        return sorted(r.run_id for r in repo.query_runs(**criteria))

    for _ in range(2):  # built, then kept
        assert ids(status="completed") == ["r0", "r2"]
        assert ids(status="failed") == ["r1"]
        assert ids(config={"bs": 33}) == ["r1"]
        assert ids(config={"bs": 34}) == ["r2"]
    wanted = ["failed"]
    assert ids(status=wanted) == ["r1"]
    wanted.append("completed")  # the caller's list changes after the call...
    assert ids(status=["failed"]) == ["r1"]  # ...the kept statement does not
    assert ids(status=wanted) == ["r0", "r1", "r2"]


def test_the_kept_statements_are_bounded(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r", config={"seed": 3}))
    for seed in range(statements.CACHE_SIZE + 20):
        found = repo.query_runs(config={"seed": seed})
        assert [r.run_id for r in found] == (["r"] if seed == 3 else [])
    assert len(statements._PAGES) <= statements.CACHE_SIZE

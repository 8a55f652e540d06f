"""Config equality compiles two ways on PostgreSQL (GIN containment, or a containment test the
GIN index cannot answer, used when an ordered index walk is cheaper). Both must select exactly
the same runs, on every dialect."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mangodb import RunCreate, RunRepository
from mangodb.db.models import Run
from mangodb.runs.filters import ConfigFilter

CONFIGS: list[dict[str, Any]] = [
    {"data": {"batch_size": 96}},
    {"data": {"batch_size": 96.0}},
    {"data": {"batch_size": "96"}},
    {"data": {"batch_size": [96]}},
    {"data": {"batch_size": 64}},
    {"data": {}},
    {"data": 96},
    {},
    {"data": {"batch_size": None}},
    {"data": {"batch_size": {"value": 96}}},
    {"data": {"batch_size": True}},
    {"optim": {"name": "adam"}},
    {"optim": {"name": "Adam"}},
]
PROBES: list[tuple[tuple[str, ...], Any]] = [
    (("data", "batch_size"), 96),
    (("data", "batch_size"), "96"),
    (("data", "batch_size"), True),
    (("optim", "name"), "adam"),
    (("data",), 96),
]


@pytest.mark.parametrize(("path", "value"), PROBES)
def test_both_forms_select_the_same_runs(
    repo: RunRepository, path: tuple[str, ...], value: Any
) -> None:
    for i, config in enumerate(CONFIGS):
        repo.insert_run(RunCreate(run_id=f"r{i}", config=config))
    gin = ConfigFilter(path, "=", value)
    walk = dataclasses.replace(gin, gin=False)
    dialect = repo.dialect
    with Session(repo.engine) as session:
        by_gin = set(session.scalars(select(Run.run_id).where(gin.compile(dialect))))
        by_walk = set(session.scalars(select(Run.run_id).where(walk.compile(dialect))))
    assert by_gin == by_walk
    expected = {
        f"r{i}" for i, config in enumerate(CONFIGS) if _lookup(config, path) == (True, value)
    }
    assert by_gin == expected


def _lookup(config: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = config
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    # JSON equality as the filter means it: numbers by value, but not booleans vs numbers
    return True, node if not isinstance(node, float) or not node.is_integer() else int(node)

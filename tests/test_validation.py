"""Bad input is refused with a clear mangodb ``ValidationError`` before anything is written."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from mangodb import (
    MangoDBError,
    ObjectiveCreate,
    RunCreate,
    RunRepository,
    RunStatus,
    ValidationError,
)

UTC = dt.timezone.utc


class Opaque:
    pass


BAD_RUNS: list[tuple[dict[str, Any], str]] = [
    ({"run_id": ""}, "run_id"),
    ({"run_id": "   "}, "run_id"),
    ({"run_id": "x" * 256}, "run_id"),
    ({"run_id": "nul\x00id"}, "NUL"),
    ({"run_id": "r", "status": "finished"}, "status"),
    ({"run_id": "r", "created_at": dt.datetime(2024, 1, 1)}, "created_at"),
    ({"run_id": "r", "config": {"s": {1, 2}}}, "set, not JSON"),
    ({"run_id": "r", "config": {"o": Opaque()}}, "Opaque, not JSON"),
    ({"run_id": "r", "config": {"d": dt.datetime.now(UTC)}}, "datetime, not JSON"),
    ({"run_id": "r", "config": {1: "a"}}, "not a string"),
    ({"run_id": "r", "config": {"a": {(1, 2): "b"}}}, "not a string"),
    ({"run_id": "r", "config": {"k\x00": 1}}, "NUL"),
    ({"run_id": "r", "config": {"k": "v\x00"}}, "NUL"),
    ({"run_id": "r", "config": {"k": "\ud800"}}, "surrogate"),
    ({"run_id": "r", "config": [1, 2]}, "config"),
    ({"run_id": "r", "batch_size": math.nan}, "batch_size"),
    ({"run_id": "r", "batch_size": 0}, "batch_size"),
    ({"run_id": "r", "batch_size": 2**70}, "batch_size"),
    ({"run_id": "r", "learning_rate": math.nan}, "learning_rate"),
    ({"run_id": "r", "learning_rate": math.inf}, "learning_rate"),
    ({"run_id": "r", "learning_rate": -0.1}, "learning_rate"),
    ({"run_id": "r", "seed": 2**64}, "seed"),
    ({"run_id": "r", "gradient_method": "m" * 65}, "gradient_method"),
    ({"run_id": "r", "region": "r" * 33}, "region"),
    ({"run_id": "r", "tags": [""]}, "tags"),
    ({"run_id": "r", "tags": ["t" * 256]}, "tags"),
    ({"run_id": "r", "objectives": [{"name": "hop"}, {"name": "hop"}]}, "unique"),
    ({"run_id": "r", "objectives": [{"name": "hop", "weight": math.nan}]}, "weight"),
    ({"run_id": "r", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_RUNS, ids=[m for _, m in BAD_RUNS])
def test_bad_run_fields_are_refused_before_any_write(
    repo: RunRepository, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as direct:
        RunCreate(**fields)
    assert isinstance(direct.value, MangoDBError)
    with pytest.raises(ValidationError, match=message):
        repo.insert_run(**fields)
    assert repo.count_runs() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.update_run_status("r", "finished"), "unknown status"),
        (lambda r: r.update_run_status("r", RunStatus.RUNNING, expected_status="x"), "status"),
        (lambda r: r.update_run_status("r", expected_status="launched"), "needs a status"),
        (lambda r: r.update_run_status("r", ended_at=dt.datetime(2024, 1, 1)), "naive"),
        (lambda r: r.update_run_status("r", ended_at="yesterday"), "datetime"),
        (lambda r: r.update_run_status("r", total_training_steps=-1), "total_training_steps"),
        (lambda r: r.update_run_status("r", total_training_steps=1.5), "total_training_steps"),
        (lambda r: r.update_run_status("r", batch_size=math.nan), "batch_size"),
        (lambda r: r.update_run_status("r", learning_rate=math.nan), "learning_rate"),
        (lambda r: r.update_run_status("r", exit_code=2**70), "exit_code"),
        (lambda r: r.update_run_status("r", error_summary="a\x00b"), "NUL"),
        (lambda r: r.update_run_status("r", config={"s": {1}}), "set"),
        (lambda r: r.update_run_status("r", final_metrics={"s": {1}}), "set"),
        (lambda r: r.update_run_status("r", final_metrics={1: 0.5}), "not a string"),
        (lambda r: r.update_run_status("r", final_metrics={"k" * 600: 0.5}), "512"),
        (lambda r: r.update_run_status("r", details={"o": Opaque()}), "Opaque"),
        (lambda r: r.update_objective_metric("r", "hop", 0.1, step=-5), "step"),
        (lambda r: r.update_objective_metric("r", "hop", "high"), "number"),
        (lambda r: r.insert_objective("r", name=""), "name"),
        (lambda r: r.insert_objective("r", name="x", metric="m" * 600), "metric"),
        (lambda r: r.set_tags("r", add=["bad\x00tag"]), "NUL"),
        (lambda r: r.heartbeat("r", at=dt.datetime(2024, 1, 1)), "naive"),
    ],
)
def test_bad_updates_change_nothing(repo: RunRepository, call: Any, message: str) -> None:
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")]))
    before = repo.get_run("r")
    with pytest.raises(ValidationError, match=message):
        call(repo)
    assert repo.get_run("r") == before


def test_validation_messages_name_the_field_and_the_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        RunCreate(run_id="r", config={"optim": {"betas": {0.9, 0.99}}})
    assert "optim.betas" in str(caught.value) and "set" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        RunCreate(run_id="", batch_size=-1)
    text = str(caught.value)
    assert "run_id" in text and "batch_size" in text

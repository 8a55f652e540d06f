"""The repository methods the AWS integration added: batched compare-and-set transitions,
pure events, and the keyset listing of active runs with an instance id (both dialects)."""

from __future__ import annotations

import pytest

from mangodb import RunCreate, RunRepository
from mangodb.dto import StatusUpdate
from mangodb.errors import RunNotFound, ValidationError
from mangodb.status import RunStatus

ACTIVE = (RunStatus.LAUNCHED, RunStatus.RUNNING)


def test_transition_runs_applies_each_change_like_update_run_status(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="a", status="running"))
    repo.insert_run(RunCreate(run_id="b", status="completed"))
    repo.insert_run(RunCreate(run_id="c"))
    repo.insert_run(RunCreate(run_id="d", status="running"))
    changes = repo.transition_runs(
        [
            StatusUpdate(run_id="d", status="crashed", expected_status=("launched",), source="t"),
            StatusUpdate(run_id="a", status="terminated", reason="instance gone",
                         expected_status=ACTIVE, details={"ec2_state": None}, source="t"),
            StatusUpdate(run_id="b", status="terminated", expected_status=ACTIVE, source="t"),
            StatusUpdate(run_id="zzz", status="terminated", source="t"),
            StatusUpdate(run_id="c", status="launched", source="t"),
        ],
        batch_size=2,
    )  # fmt: skip
    assert [(c.run_id, c.from_status.value, c.changed) for c in changes] == [
        ("a", "running", True),
        ("b", "completed", False),  # not in an expected status: refused, kept in the log
        ("c", "launched", False),  # already there
        ("d", "running", False),  # compare-and-set against the wrong status
    ]
    a = repo.get_run("a")
    assert a.status is RunStatus.TERMINATED and a.ended_at is not None
    assert (a.events[-1].reason, a.events[-1].source) == ("instance gone", "t")
    assert a.events[-1].details == {"ec2_state": None}
    refused = repo.get_run("b").events[-1]
    assert refused.applied is False and refused.to_status is RunStatus.TERMINATED
    assert repo.get_run("b").status is RunStatus.COMPLETED
    assert repo.get_run("d").status is RunStatus.RUNNING


def test_record_event_keeps_the_status(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r", status="running"))
    event = repo.record_event("r", "preempted", details={"instance_action": "stop"}, source="x")
    assert (event.from_status, event.to_status) == (RunStatus.RUNNING, RunStatus.RUNNING)
    assert (event.reason, event.source, event.details) == (
        "preempted", "x", {"instance_action": "stop"}
    )  # fmt: skip
    run = repo.get_run("r")
    assert run.status is RunStatus.RUNNING and run.events[-1] == event
    with pytest.raises(RunNotFound):
        repo.record_event("nope", "preempted")
    with pytest.raises(ValidationError):
        repo.record_event("r", " ")


def test_active_instance_runs_in_batches(repo: RunRepository) -> None:
    runs = [RunCreate(run_id=f"r{i}", instance_id=f"i-{i:08x}") for i in range(7)]
    runs += [
        RunCreate(run_id="no-instance"),
        RunCreate(run_id="ended", instance_id="i-000000ff", status="failed"),
        RunCreate(run_id="live", instance_id="i-000000aa", status="running", region="eu-west-1"),
    ]
    repo.insert_runs(runs)
    batches = list(repo.iter_active_instance_runs(batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 2]
    found = [run for batch in batches for run in batch]
    assert [r.run_id for r in found] == [*(f"r{i}" for i in range(7)), "live"]
    assert found[-1].region == "eu-west-1" and found[-1].status is RunStatus.RUNNING
    with pytest.raises(ValidationError):
        list(repo.iter_active_instance_runs(batch_size=0))

"""The EventBridge Lambda handler fed the documented EC2 event shapes: the right outcome on
the run, idempotent under duplicate delivery, and never an exception on bad input."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from mangodb import RunCreate, RunRepository
from mangodb.integrations.aws import lambda_handler
from mangodb.integrations.aws.lambda_handler import handler
from mangodb.status import RunStatus

INSTANCE = "i-1234567890abcdef0"
# The EC2 User Guide's sample (plus "version", which every EventBridge event has).
STATE_CHANGE: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2021-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/{INSTANCE}"],
    "detail": {"instance-id": INSTANCE, "state": "terminated"},
}
SPOT_WARNING: dict[str, Any] = {
    "version": "0",
    "id": "12345678-1234-1234-1234-123456789012",
    "detail-type": "EC2 Spot Instance Interruption Warning",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2021-02-18T18:18:44Z",
    "region": "us-east-2",
    "resources": [f"arn:aws:ec2:us-east-2a:instance/{INSTANCE}"],  # an AZ, no account
    "detail": {"instance-id": INSTANCE, "instance-action": "terminate"},
}


def state_change(state: str, instance: str = INSTANCE, event_id: str = "e-1") -> dict[str, Any]:
    event = copy.deepcopy(STATE_CHANGE)
    event["detail"] = {"instance-id": instance, "state": state}
    event["id"] = event_id
    return event


@pytest.fixture
def lambda_repo(
    repo: RunRepository, db_url: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunRepository]:
    monkeypatch.setenv("MANGODB_URL", db_url.render_as_string(hide_password=False))
    yield repo
    lambda_handler.close()


@pytest.mark.parametrize(
    ("state", "outcome", "status", "reason"),
    [
        ("pending", "ignored", RunStatus.RUNNING, None),
        ("running", "ignored", RunStatus.RUNNING, None),
        ("stopping", "updated", RunStatus.TERMINATED, "instance stopped"),
        ("stopped", "updated", RunStatus.TERMINATED, "instance stopped"),
        ("shutting-down", "updated", RunStatus.TERMINATED, "instance terminated"),
        ("terminated", "updated", RunStatus.TERMINATED, "instance terminated"),
    ],
)
def test_state_change_per_state(
    lambda_repo: RunRepository,
    state: str,
    outcome: str,
    status: RunStatus,
    reason: str | None,
) -> None:
    lambda_repo.insert_run(RunCreate(run_id="r", instance_id=INSTANCE, status=RunStatus.RUNNING))
    result = handler(state_change(state), None)
    assert result["outcome"] == outcome
    run = lambda_repo.get_run("r")
    assert run.status is status
    from_eventbridge = [event for event in run.events if event.source == "eventbridge"]
    if reason is None:  # ignored: nothing recorded
        assert from_eventbridge == []
    else:
        (event,) = from_eventbridge
        assert event is run.events[-1]
        assert event.reason == reason
        assert event.details is not None
        assert event.details["ec2_state"] == state
        assert event.details["event_id"] == "e-1"
        assert event.details["account"] == "123456789012"
        assert event.details["event_time"] == "2021-11-11T21:29:54Z"
        assert result["runs"] == ["r"]


def test_duplicate_and_late_events_change_nothing(lambda_repo: RunRepository) -> None:
    lambda_repo.insert_run(RunCreate(run_id="r", instance_id=INSTANCE))
    lambda_repo.insert_run(RunCreate(run_id="done", instance_id=INSTANCE, status="completed"))
    assert handler(state_change("shutting-down"), None)["outcome"] == "updated"
    assert handler(state_change("shutting-down"), None)["outcome"] == "ignored"  # duplicate
    assert handler(state_change("terminated", event_id="e-2"), None)["outcome"] == "ignored"
    run = lambda_repo.get_run("r")
    assert [e.to_status for e in run.events] == [RunStatus.LAUNCHED, RunStatus.TERMINATED]
    assert lambda_repo.get_run("done").status is RunStatus.COMPLETED


def test_spot_warning_then_termination_is_preempted(lambda_repo: RunRepository) -> None:
    lambda_repo.insert_run(RunCreate(run_id="spot", instance_id=INSTANCE, status="running"))
    first = handler(SPOT_WARNING, None)
    assert first == {"outcome": "updated", "instance_id": INSTANCE, "events": ["spot"]}
    assert handler(SPOT_WARNING, None)["outcome"] == "ignored"  # the same event delivered twice
    run = lambda_repo.get_run("spot")
    assert run.status is RunStatus.RUNNING  # a warning does not change the status
    warning = run.events[-1]
    assert warning.reason == "preempted" and warning.to_status is RunStatus.RUNNING
    assert warning.details and warning.details["instance_action"] == "terminate"
    assert handler(state_change("terminated"), None)["outcome"] == "updated"
    ended = lambda_repo.get_run("spot").events[-1]
    assert ended.to_status is RunStatus.TERMINATED and ended.reason == "preempted"
    assert ended.details and ended.details["observed"] == "instance terminated"


def test_unknown_instance(lambda_repo: RunRepository) -> None:
    assert handler(state_change("terminated", instance="i-0000000000000000f"), None) == {
        "outcome": "unknown_instance",
        "instance_id": "i-0000000000000000f",
    }
    spot = copy.deepcopy(SPOT_WARNING)
    spot["detail"]["instance-id"] = "i-0000000000000000f"
    assert handler(spot, None)["outcome"] == "unknown_instance"


MALFORMED: list[Any] = [
    None,
    [],
    "terminated",
    42,
    {},
    {"detail-type": "EC2 Instance State-change Notification"},
    {"detail-type": "EC2 Instance State-change Notification", "detail": "i-1"},
    {"detail-type": "EC2 Instance State-change Notification", "detail": {"state": "stopped"}},
    {"detail-type": "EC2 Instance State-change Notification", "detail": {"instance-id": 7}},
    {"detail-type": "EC2 Instance State-change Notification", "source": "aws.s3",
     "detail": {"instance-id": INSTANCE, "state": "stopped"}},
    state_change("exploded"),
    {**STATE_CHANGE, "detail": {"instance-id": INSTANCE}},
]  # fmt: skip


@pytest.mark.parametrize("event", MALFORMED)
def test_malformed_events_are_reported_not_raised(lambda_repo: RunRepository, event: Any) -> None:
    lambda_repo.insert_run(RunCreate(run_id="r", instance_id=INSTANCE, status="running"))
    result = handler(event, None)
    assert result["outcome"] in {"malformed", "ignored"} and result["detail"]
    assert lambda_repo.get_run("r").status is RunStatus.RUNNING


def test_other_event_types_are_ignored(lambda_repo: RunRepository) -> None:
    event = {**STATE_CHANGE, "detail-type": "EC2 Instance Rebalance Recommendation"}
    assert handler(event, None)["outcome"] == "ignored"


def test_missing_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MANGODB_URL", raising=False)
    assert handler(STATE_CHANGE, None) == {"outcome": "error", "detail": "MANGODB_URL is not set"}
    monkeypatch.setenv("MANGODB_URL", "postgresql://nobody:secret@127.0.0.1:1/runs")
    down = handler(STATE_CHANGE, None)
    assert down["outcome"] == "error" and "secret" not in down["detail"]
    monkeypatch.setenv("MANGODB_URL", f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    assert handler(SPOT_WARNING, None)["outcome"] == "error"
    # A live-state event never needs the database.
    assert handler(state_change("running"), None)["outcome"] == "ignored"


def test_connection_is_reused_across_invocations(lambda_repo: RunRepository) -> None:
    lambda_repo.insert_run(RunCreate(run_id="r", instance_id=INSTANCE))
    handler(SPOT_WARNING, None)
    first = lambda_handler.repository()
    handler(state_change("stopped"), None)
    assert lambda_handler.repository() is first


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_events = st.fixed_dictionaries(
    {
        "detail-type": st.sampled_from([STATE_CHANGE["detail-type"], SPOT_WARNING["detail-type"]]),
        "detail": st.fixed_dictionaries(
            {},
            optional={
                "instance-id": st.sampled_from([INSTANCE, "", "i-x"]) | _json,
                "state": st.sampled_from(["stopped", "running", "gone"]) | _json,
                "instance-action": _json,
            },
        )
        | _json,
    },
    optional={"source": st.sampled_from(["aws.ec2", "aws.s3"]) | _json, "id": _json},
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=_events | _json)
def test_handler_never_raises(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, event: Any
) -> None:
    path = tmp_path_factory.getbasetemp() / "lambda-fuzz.sqlite3"
    if not path.exists():
        RunRepository.connect(f"sqlite:///{path}").close()
    monkeypatch.setenv("MANGODB_URL", f"sqlite:///{path}")
    try:
        result = handler(event, None)
    finally:
        lambda_handler.close()
    assert result["outcome"] in {"ignored", "updated", "unknown_instance", "malformed", "error"}
    assert result["outcome"] != "error", result


def test_the_example_rule_admits_exactly_what_the_handler_acts_on() -> None:
    """examples/eventbridge_rule.json, checked with moto's EventBridge pattern matcher."""
    from moto.events.models import EventPattern

    rule = Path(__file__).resolve().parent.parent / "examples" / "eventbridge_rule.json"
    pattern = EventPattern.load(rule.read_text())
    admitted = {
        state: pattern.matches_event(state_change(state))
        for state in ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")
    }
    assert admitted == {
        "pending": False,
        "running": False,
        "stopping": True,
        "stopped": True,
        "shutting-down": True,
        "terminated": True,
    }
    assert pattern.matches_event(SPOT_WARNING)
    assert not pattern.matches_event({**STATE_CHANGE, "source": "aws.s3"})

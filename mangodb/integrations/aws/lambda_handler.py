"""EventBridge -> Lambda: EC2 state changes and spot interruption warnings -> run events.

Rule pattern: ``examples/eventbridge_rule.json``. The event carries only the instance id and
its state, so runs are found through ``runs.instance_id``. Deliveries can be lost, duplicated
or reordered: every write is compare-and-set and the reconciler remains the backstop.

The handler never raises: it returns ``{"outcome": "ignored" | "updated" |
"unknown_instance" | "malformed" | "error", ...}`` and logs. The repository is opened once
per container (module level) and reused by later invocations.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from mangodb.errors import MangoDBError
from mangodb.integrations.aws.instances import GONE_STATES, LIVE_STATES
from mangodb.integrations.aws.termination import PREEMPTED, terminate_run
from mangodb.repository import RunRepository
from mangodb.settings import ENV_URL

log = logging.getLogger(__name__)

STATE_CHANGE = "EC2 Instance State-change Notification"
SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
SOURCE = "eventbridge"

_repository: tuple[str, RunRepository] | None = None


def repository() -> RunRepository:
    """The repository of ``MANGODB_URL``, opened once per container and reused by later
    invocations while the URL stays the same."""
    global _repository
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        raise _Refused("error", f"{ENV_URL} is not set")
    if _repository is not None and _repository[0] == url:
        return _repository[1]

    if _repository is not None:
        _repository[1].close()
        _repository = None
    repo = RunRepository.connect(url, source=SOURCE, auto_upgrade=False)
    _repository = (url, repo)
    return repo


class _Refused(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point."""
    try:
        kind, instance_id, detail = _parse(event)
        if kind == STATE_CHANGE:
            result = _state_change(event, instance_id, detail)
        else:
            result = _spot_warning(event, instance_id, detail)
    except _Refused as refused:
        result = {"outcome": refused.outcome, "detail": refused.detail}
    except MangoDBError as error:
        result = {"outcome": "error", "detail": f"{type(error).__name__}: {error}"}
    except Exception as error:  # the handler must never raise: EventBridge would retry it
        log.exception("unexpected error handling an EC2 event")
        result = {"outcome": "error", "detail": f"{type(error).__name__}: {error}"}
    log.info("mangodb EC2 event: %s", result)
    return result


def _parse(event: Any) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(event, Mapping):
        raise _Refused("malformed", f"event is a {type(event).__name__}, not an object")
    kind = event.get("detail-type")
    if kind not in (STATE_CHANGE, SPOT_WARNING):
        raise _Refused("ignored", f"not an EC2 state-change or spot event: {kind!r}")
    if event.get("source", "aws.ec2") != "aws.ec2":
        raise _Refused("malformed", f"unexpected source {event.get('source')!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise _Refused("malformed", "event has no detail object")
    instance_id = detail.get("instance-id")
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise _Refused("malformed", "detail has no instance-id")
    return kind, instance_id.strip(), detail


def _evidence(event: Mapping[str, Any], instance_id: str, **extra: Any) -> dict[str, Any]:
    fields = {
        "evidence": "eventbridge",
        "instance_id": instance_id,
        "event_id": event.get("id"),
        "event_time": event.get("time"),
        "region": event.get("region"),
        "account": event.get("account"),
        **extra,
    }
    return {k: v for k, v in fields.items() if isinstance(v, (str, int, float, bool))}


def _state_change(
    event: Mapping[str, Any], instance_id: str, detail: Mapping[str, Any]
) -> dict[str, Any]:
    state = detail.get("state")
    if not isinstance(state, str) or state not in GONE_STATES | LIVE_STATES:
        raise _Refused("malformed", f"unknown instance state {state!r}")
    if state in LIVE_STATES:
        return {"outcome": "ignored", "detail": f"instance {state}", "instance_id": instance_id}
    repo = repository()
    runs = repo.find_runs_by_instance(instance_id)
    if not runs:
        return {"outcome": "unknown_instance", "instance_id": instance_id}
    active = [r for r in runs if not r.status.is_terminal]
    reason = "instance stopped" if state in ("stopping", "stopped") else "instance terminated"
    details = _evidence(event, instance_id, ec2_state=state)
    results = [
        terminate_run(repo, r, reason=reason, source=SOURCE, details=details) for r in active
    ]
    updated = [t.run_id for t in results if t.applied]
    if not updated:
        return {"outcome": "ignored", "detail": "no active run", "instance_id": instance_id}
    return {"outcome": "updated", "instance_id": instance_id, "state": state, "runs": updated}


def _spot_warning(
    event: Mapping[str, Any], instance_id: str, detail: Mapping[str, Any]
) -> dict[str, Any]:
    action = detail.get("instance-action")
    repo = repository()
    runs = repo.find_runs_by_instance(instance_id)
    if not runs:
        return {"outcome": "unknown_instance", "instance_id": instance_id}
    details = _evidence(event, instance_id, instance_action=action)
    recorded = []
    for run in runs:
        if run.status.is_terminal or _already_recorded(run.events, details.get("event_id")):
            continue
        repo.record_event(run.run_id, PREEMPTED, details=details, source=SOURCE)
        recorded.append(run.run_id)
    if not recorded:
        return {"outcome": "ignored", "detail": "no active run", "instance_id": instance_id}
    return {"outcome": "updated", "instance_id": instance_id, "events": recorded}


def _already_recorded(events: Any, event_id: Any) -> bool:
    """A duplicate delivery of the same spot warning (same EventBridge id)."""
    if event_id is None:
        return False
    return any(
        e.reason == PREEMPTED and (e.details or {}).get("event_id") == event_id for e in events
    )


def close() -> None:
    """Close the cached repository (the next invocation reconnects)."""
    global _repository
    if _repository is not None:
        _repository[1].close()
        _repository = None

"""Move the active runs of an instance to ``terminated`` with evidence, compare-and-set.

Shared by the EventBridge Lambda, the shutdown hook (``mangodb runs mark-terminated``) and the
reconciler: deliveries may be duplicated or reordered, so every write only applies while the
run is still ``launched`` or ``running``; a lost race is reported, never raised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mangodb.errors import InvalidTransition, RunNotFound
from mangodb.status import ACTIVE_STATUSES, RunStatus

if TYPE_CHECKING:
    from mangodb.dto import RunRead
    from mangodb.repository import RunRepository

PREEMPTED = "preempted"


@dataclass(frozen=True)
class Termination:
    run_id: str
    applied: bool  # False: another writer ended the run first
    reason: str


def was_preempted(run: RunRead) -> bool:
    """A spot interruption warning was recorded for the run."""
    return any(event.reason == PREEMPTED for event in run.events)


def terminate_run(
    repo: RunRepository,
    run: RunRead,
    *,
    reason: str,
    source: str,
    details: Mapping[str, Any] | None = None,
) -> Termination:
    """Terminate one active run; a recorded spot warning turns the reason into ``preempted``."""
    final_reason = PREEMPTED if was_preempted(run) else reason
    evidence = dict(details or {})
    if final_reason != reason:
        evidence["observed"] = reason
    try:
        repo.update_run_status(
            run.run_id,
            RunStatus.TERMINATED,
            reason=final_reason,
            source=source,
            expected_status=tuple(ACTIVE_STATUSES),
            details=evidence,
        )
    except (InvalidTransition, RunNotFound):
        return Termination(run.run_id, False, final_reason)
    return Termination(run.run_id, True, final_reason)


def terminate_instance_runs(
    repo: RunRepository,
    instance_id: str,
    *,
    reason: str,
    source: str,
    details: Mapping[str, Any] | None = None,
) -> list[Termination]:
    """Terminate every active run on ``instance_id`` (none: an empty list)."""
    runs = repo.find_runs_by_instance(instance_id, active_only=True)
    return [terminate_run(repo, run, reason=reason, source=source, details=details) for run in runs]

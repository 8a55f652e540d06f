"""Run statuses and the lifecycle rules between them."""

from __future__ import annotations

import enum

from mangodb.errors import ValidationError


class RunStatus(str, enum.Enum):
    """Where a run is in its life. ``completed``, ``failed``, ``crashed`` and ``terminated``
    are terminal: they only change with ``force=True`` (a human recovering a run)."""

    LAUNCHED = "launched"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CRASHED = "crashed"
    TERMINATED = "terminated"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CRASHED, RunStatus.TERMINATED}
)
ACTIVE_STATUSES = frozenset({RunStatus.LAUNCHED, RunStatus.RUNNING})

# launched -> anything (a run may fail before it ever reports running);
# running -> any terminal status; terminal -> nothing without force.
ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.LAUNCHED: frozenset(RunStatus) - {RunStatus.LAUNCHED},
    RunStatus.RUNNING: TERMINAL_STATUSES,
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CRASHED: frozenset(),
    RunStatus.TERMINATED: frozenset(),
}


def parse_status(value: str | RunStatus) -> RunStatus:
    """Return the status named by ``value``; raise ``ValidationError`` naming the choices."""

    if isinstance(value, RunStatus):
        return value
    try:
        return RunStatus(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in RunStatus)
        raise ValidationError(f"unknown status {value!r}; expected one of: {choices}") from None


def is_allowed(from_status: RunStatus, to_status: RunStatus) -> bool:
    return to_status in ALLOWED_TRANSITIONS[from_status]

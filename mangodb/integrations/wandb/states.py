"""W&B run states and exit records mapped onto mangodb's ``RunStatus``.

W&B's public ``Run.state`` is one of ``running, finished, failed, crashed, killed, preempting,
preempted, pending``. ``crashed`` is W&B's verdict for lost heartbeats, which is ours too;
``killed`` (stopped from the UI or API) and ``preempted`` are ``terminated``; ``preempting``
is still alive. A local ``.wandb`` file has no state, only an exit record (or none, when the
process was killed before wandb-core flushed one).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from mangodb.status import RunStatus

STATE_TO_STATUS: dict[str, RunStatus] = {
    "pending": RunStatus.LAUNCHED,
    "running": RunStatus.RUNNING,
    "preempting": RunStatus.RUNNING,
    "finished": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "crashed": RunStatus.CRASHED,
    "killed": RunStatus.TERMINATED,
    "preempted": RunStatus.TERMINATED,
}
NO_EXIT_RECORD = "no exit record in .wandb file"


@dataclass(frozen=True)
class Verdict:
    """A status with the reason to record in the run's event log."""

    status: RunStatus
    reason: str


def status_for_state(state: str) -> Verdict | None:
    """The mangodb status for a W&B state; None for a state we do not know (left alone)."""
    status = STATE_TO_STATUS.get(state.strip().lower())
    return Verdict(status, f"wandb state {state}") if status is not None else None


def status_for_exit(exit_code: int | None, *, has_exit: bool) -> Verdict:
    """The mangodb status a ``.wandb`` file's exit record implies.

    0 is ``completed``; 128+N for SIGTERM/SIGKILL/SIGHUP (what our SIGTERM handler and shells
    report) is ``terminated``; any other code is ``failed`` (W&B writes 1 for an uncaught
    exception and 255 for KeyboardInterrupt). No exit record means the process died without
    wandb-core flushing: ``crashed``."""
    if not has_exit or exit_code is None:
        return Verdict(RunStatus.CRASHED, NO_EXIT_RECORD)
    if exit_code == 0:
        return Verdict(RunStatus.COMPLETED, "wandb exit code 0")
    if exit_code > 128:
        try:
            name = signal.Signals(exit_code - 128).name
        except ValueError:
            name = None
        if name in ("SIGTERM", "SIGKILL", "SIGHUP"):
            return Verdict(RunStatus.TERMINATED, f"signal {name} (wandb exit code {exit_code})")
    return Verdict(RunStatus.FAILED, f"wandb exit code {exit_code}")

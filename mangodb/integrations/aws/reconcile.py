"""The reconciler: EC2's view of every active run's instance -> verdicts -> status changes.

Verdicts, per active run with an instance id:
- instance stopping/stopped/shutting-down/terminated, or absent from EC2 once the run is older
  than ``grace`` (eventual consistency right after launch; terminated instances vanish after
  about an hour) -> ``terminated``, with EC2's evidence in the event;
- instance pending/running but the run's last sign of life is older than ``heartbeat_grace``
  -> ``crashed``;
- anything else is left alone. Writes are compare-and-set, so several reapers may run at once.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mangodb.dto import StatusUpdate
from mangodb.errors import CloudError
from mangodb.integrations.aws.clients import default_region, ec2_client
from mangodb.integrations.aws.instances import (
    CHUNK_SIZE,
    PAGE_SIZE,
    InstanceState,
    describe_instance_states,
    is_instance_id,
)
from mangodb.status import ACTIVE_STATUSES, RunStatus

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from mangodb.dto import InstanceRunRead
    from mangodb.repository import RunRepository

DEFAULT_GRACE = dt.timedelta(minutes=15)
DEFAULT_HEARTBEAT_GRACE = dt.timedelta(minutes=30)


class Verdict(str, enum.Enum):
    TERMINATED = "terminated"  # the instance stopped, terminated or vanished
    CRASHED = "crashed"  # the instance lives but the run stopped sending heartbeats
    ALIVE = "alive"  # live instance, fresh heartbeat: nothing to do
    NOT_YET_VISIBLE = "not_yet_visible"  # absent from EC2 but younger than the grace period
    INVALID_ID = "invalid_id"  # not an EC2 instance id: EC2 cannot say anything about it

    def __str__(self) -> str:
        return self.value

    @property
    def changes_run(self) -> bool:
        return self in (Verdict.TERMINATED, Verdict.CRASHED)


@dataclass(frozen=True)
class RunVerdict:
    run_id: str
    instance_id: str
    region: str
    status: RunStatus  # the run's status when judged
    verdict: Verdict
    ec2_state: str | None  # None: EC2 did not return the instance
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    applied: bool = False  # the status change was written
    lost_race: bool = False  # another writer changed the run first


@dataclass
class ReapReport:
    checked_at: dt.datetime
    dry_run: bool
    verdicts: list[RunVerdict] = field(default_factory=list)
    describe_regions: list[str] = field(default_factory=list)
    failed_regions: dict[str, str] = field(default_factory=dict)  # region -> error; runs untouched

    def counts(self) -> dict[str, int]:
        """Runs per verdict (every verdict present, zero included)."""
        found = Counter(v.verdict for v in self.verdicts)
        return {verdict.value: found.get(verdict, 0) for verdict in Verdict}

    @property
    def applied(self) -> list[RunVerdict]:
        return [v for v in self.verdicts if v.applied]


def judge(
    run: InstanceRunRead,
    state: InstanceState | None,
    *,
    region: str,
    now: dt.datetime,
    grace: dt.timedelta,
    heartbeat_grace: dt.timedelta,
) -> RunVerdict:
    """The verdict for one run given what EC2 said about its instance (a pure function)."""
    base = RunVerdict(
        run.run_id,
        run.instance_id,
        region,
        run.status,
        Verdict.ALIVE,
        state.state if state is not None else None,
    )
    checked = {"instance_id": run.instance_id, "region": region, "checked_at": now.isoformat()}
    if not is_instance_id(run.instance_id):
        return replace(base, verdict=Verdict.INVALID_ID)
    if state is None:
        age = now - run.created_at
        if age < grace:
            return replace(base, verdict=Verdict.NOT_YET_VISIBLE)
        evidence = {
            **checked,
            "evidence": "instance not found in EC2",
            "ec2_state": None,
            "run_age_seconds": round(age.total_seconds(), 3),
            "grace_seconds": grace.total_seconds(),
        }
        return replace(base, verdict=Verdict.TERMINATED, reason="instance gone", details=evidence)
    if state.gone:
        reason = "instance stopped" if state.state in ("stopping", "stopped") else None
        if state.preempted:
            reason = "preempted"
        evidence = {
            **checked,
            "evidence": "ec2 describe_instances",
            "ec2_state": state.state,
            "state_reason_code": state.state_reason_code,
            "state_reason_message": state.state_reason_message,
            "state_transition_reason": state.state_transition_reason,
        }
        return replace(
            base,
            verdict=Verdict.TERMINATED,
            reason=reason or "instance terminated",
            details=evidence,
        )
    last = run.heartbeat_at or run.started_at or run.created_at
    silence = now - last
    if silence > heartbeat_grace:
        evidence = {
            **checked,
            "evidence": "heartbeat lost on a live instance",
            "ec2_state": state.state,
            "last_heartbeat": last.isoformat(),
            "heartbeat_age_seconds": round(silence.total_seconds(), 3),
            "heartbeat_grace_seconds": heartbeat_grace.total_seconds(),
        }
        return replace(base, verdict=Verdict.CRASHED, reason="heartbeat lost", details=evidence)
    return base


def _update(verdict: RunVerdict, source: str) -> StatusUpdate:
    if verdict.verdict is Verdict.TERMINATED:
        target, expected = RunStatus.TERMINATED, tuple(ACTIVE_STATUSES)
    else:  # crashed: only from the very status it was judged on
        target, expected = RunStatus.CRASHED, (verdict.status,)
    return StatusUpdate(
        run_id=verdict.run_id,
        status=target,
        reason=verdict.reason,
        source=source,
        expected_status=expected,
        details=verdict.details,
    )


def apply(repo: RunRepository, verdicts: list[RunVerdict], *, source: str) -> list[RunVerdict]:
    """Write the changing verdicts (batched, compare-and-set against the judged status);
    the others pass through. A run another writer changed first comes back ``lost_race``."""
    changing = [v for v in verdicts if v.verdict.changes_run]
    written = {
        change.run_id
        for change in repo.transition_runs([_update(v, source) for v in changing])
        if change.changed
    }
    return [_settled(v, written) for v in verdicts]


def _settled(verdict: RunVerdict, written: set[str]) -> RunVerdict:
    if not verdict.verdict.changes_run:
        return verdict
    if verdict.run_id in written:
        return replace(verdict, applied=True)
    return replace(verdict, lost_race=True)


def reconcile(
    repo: RunRepository,
    *,
    region: str | None = None,
    grace: dt.timedelta = DEFAULT_GRACE,
    heartbeat_grace: dt.timedelta = DEFAULT_HEARTBEAT_GRACE,
    dry_run: bool = False,
    ec2_for_region: Callable[[str], EC2Client] | None = None,
    endpoint_url: str | None = None,
    now: dt.datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
    page_size: int = PAGE_SIZE,
    source: str = "reaper",
) -> ReapReport:
    """One sweep over every active run with an instance id. Runs without a region are looked
    up in ``region`` (default: AWS_REGION / AWS_DEFAULT_REGION / us-east-1). ``dry_run``
    judges the same way and writes nothing. A region EC2 cannot be asked about (after the
    retries) is listed in ``failed_regions`` and its runs are left alone."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    fallback = region or default_region()
    factory = ec2_for_region or (lambda name: ec2_client(name, endpoint_url=endpoint_url))
    groups: dict[str, list[InstanceRunRead]] = defaultdict(list)
    for batch in repo.iter_active_instance_runs():
        for run in batch:
            groups[run.region or fallback].append(run)
    report = ReapReport(checked_at=moment, dry_run=dry_run)
    for name in sorted(groups):
        runs = groups[name]
        try:
            states = describe_instance_states(
                factory(name),
                (r.instance_id for r in runs),
                chunk_size=chunk_size,
                page_size=page_size,
            )
        except CloudError as error:  # one unreachable region must not stop the others
            report.failed_regions[name] = str(error)
            continue
        report.describe_regions.append(name)
        verdicts = [
            judge(
                run,
                states.get(run.instance_id),
                region=name,
                now=moment,
                grace=grace,
                heartbeat_grace=heartbeat_grace,
            )
            for run in runs
        ]
        report.verdicts.extend(verdicts if dry_run else apply(repo, verdicts, source=source))
    return report

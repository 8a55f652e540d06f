"""What EC2 says about a set of instance ids, asked in bounded, paginated batches.

``describe_instances`` with an ``instance-id`` *filter* (not ``InstanceIds=``): unknown ids
are simply absent from the answer instead of failing the whole call, and ``MaxResults``
(pagination) is allowed. Ids that are not EC2 ids are never sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mangodb.errors import ValidationError
from mangodb.integrations.aws.clients import botocore_errors, cloud_error

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

MAX_FILTER_VALUES = 1000  # hard upper bound per call
CHUNK_SIZE = 200  # default ids per call: conservative, below any documented filter limit
PAGE_SIZE = 1000  # MaxResults (counts reservations)
INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
GONE_STATES = frozenset({"stopping", "stopped", "shutting-down", "terminated"})
LIVE_STATES = frozenset({"pending", "running"})


def is_instance_id(value: str) -> bool:
    return bool(INSTANCE_ID.match(value))


@dataclass(frozen=True)
class InstanceState:
    """One instance as EC2 described it."""

    instance_id: str
    state: str
    state_reason_code: str | None = None
    state_reason_message: str | None = None
    state_transition_reason: str | None = None
    launch_time: str | None = None

    @property
    def gone(self) -> bool:
        return self.state in GONE_STATES

    @property
    def preempted(self) -> bool:
        return self.state_reason_code == "Server.SpotInstanceTermination"


def describe_instance_states(
    ec2: EC2Client,
    instance_ids: Iterable[str],
    *,
    chunk_size: int = CHUNK_SIZE,
    page_size: int = PAGE_SIZE,
) -> dict[str, InstanceState]:
    """State of every listed instance EC2 still knows; absent ids are not in the result.
    Malformed ids are skipped. ``CloudError`` if EC2 keeps failing after the retries."""
    if not 1 <= chunk_size <= MAX_FILTER_VALUES:
        raise ValidationError(f"chunk_size must be within 1..{MAX_FILTER_VALUES}")
    ids = sorted({i for i in instance_ids if is_instance_id(i)})
    states: dict[str, InstanceState] = {}
    paginator = ec2.get_paginator("describe_instances")
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]  # never empty: an empty filter means "all"
        wanted = set(chunk)
        pages = paginator.paginate(
            Filters=[{"Name": "instance-id", "Values": chunk}],
            PaginationConfig={"PageSize": page_size},
        )
        try:
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        state = _state(instance)
                        if state.instance_id in wanted:
                            states[state.instance_id] = state
        except botocore_errors() as error:
            raise cloud_error("ec2:DescribeInstances", error) from error
    return states


def _state(instance: Any) -> InstanceState:
    reason = instance.get("StateReason") or {}
    launch = instance.get("LaunchTime")
    return InstanceState(
        instance_id=instance["InstanceId"],
        state=instance.get("State", {}).get("Name", "unknown"),
        state_reason_code=reason.get("Code"),
        state_reason_message=reason.get("Message"),
        state_transition_reason=instance.get("StateTransitionReason") or None,
        launch_time=launch.isoformat() if launch is not None else None,
    )

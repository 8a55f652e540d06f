"""AWS integration: crash artefacts in S3, EC2 reconciliation of orphaned runs, the
EventBridge Lambda handler. boto3 is imported lazily (extra ``aws``); importing this package
without it works, calling into AWS raises ``MissingExtra``."""

from __future__ import annotations

from mangodb.integrations.aws.artifacts import (
    DEFAULT_BUCKET,
    DEFAULT_PREFIX,
    CrashArtifacts,
    CrashOutcome,
    OutcomeStatus,
    attach_crash_from_s3,
)
from mangodb.integrations.aws.backfill import BackfillSummary, backfill_crash_data
from mangodb.integrations.aws.instances import InstanceState, describe_instance_states
from mangodb.integrations.aws.reconcile import ReapReport, RunVerdict, Verdict, reconcile
from mangodb.integrations.aws.termination import terminate_instance_runs

__all__ = [
    "DEFAULT_BUCKET",
    "DEFAULT_PREFIX",
    "BackfillSummary",
    "CrashArtifacts",
    "CrashOutcome",
    "InstanceState",
    "OutcomeStatus",
    "ReapReport",
    "RunVerdict",
    "Verdict",
    "attach_crash_from_s3",
    "backfill_crash_data",
    "describe_instance_states",
    "reconcile",
    "terminate_instance_runs",
]

"""Sweep every run that lacks crash data and attach what S3 holds for it."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mangodb import inputs
from mangodb.integrations.aws.artifacts import (
    DEFAULT_BUCKET,
    DEFAULT_PREFIX,
    TAIL_BYTES,
    CrashOutcome,
    OutcomeStatus,
    attach_crash_from_s3,
)
from mangodb.integrations.aws.clients import s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from mangodb.repository import RunRepository
    from mangodb.runs.criteria import RunQuery


@dataclass
class BackfillSummary:
    """Every per-run outcome of one sweep, in the order the runs were visited."""

    outcomes: list[CrashOutcome] = field(default_factory=list)

    @property
    def attached(self) -> list[str]:
        return [o.run_id for o in self.outcomes if o.attached]

    def counts(self) -> dict[str, int]:
        """Runs per outcome status (every status present, zero included)."""
        found = Counter(o.status for o in self.outcomes)
        return {status.value: found.get(status, 0) for status in OutcomeStatus}


def backfill_crash_data(
    repo: RunRepository,
    *,
    s3: S3Client | None = None,
    bucket: str = DEFAULT_BUCKET,
    prefix: str = DEFAULT_PREFIX,
    since: dt.datetime | None = None,
    statuses: Sequence[str] | None = None,
    tail_bytes: int = TAIL_BYTES,
    on_start: Callable[[int], None] | None = None,
    on_outcome: Callable[[CrashOutcome], None] | None = None,
    include_archived: bool = False,
) -> BackfillSummary:
    """Attach S3 crash artefacts to every run without crash data (crashed/failed/terminated
    unless ``statuses`` says otherwise; created at or after ``since`` if given; archived runs
    only with ``include_archived``). A failure of one run becomes its outcome and the sweep
    goes on; a missing bucket is reported once per run without asking S3 again. Running it
    twice attaches nothing new the second time."""
    # S3 keys are UTF-8: a lone surrogate (or NUL) is refused here, not by botocore mid-sweep.
    bucket, prefix = inputs.text(bucket, "bucket"), inputs.text(prefix, "prefix")
    criteria: RunQuery = {}
    if include_archived:
        criteria["include_archived"] = True
    if since is not None:
        criteria["created_after"] = since
    if statuses is not None:
        criteria["status"] = list(statuses)
    run_ids = repo.runs_without_crash_data(**criteria)
    if on_start is not None:
        on_start(len(run_ids))
    client = s3 or s3_client()
    summary = BackfillSummary()
    no_bucket: CrashOutcome | None = None
    for run_id in run_ids:
        if no_bucket is not None:
            outcome = CrashOutcome(run_id, OutcomeStatus.NO_BUCKET, no_bucket.detail)
        else:
            outcome = attach_crash_from_s3(
                repo, run_id, s3=client, bucket=bucket, prefix=prefix, tail_bytes=tail_bytes
            )
            if outcome.status is OutcomeStatus.NO_BUCKET:
                no_bucket = outcome
        summary.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return summary

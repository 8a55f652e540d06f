"""boto3 is an optional extra: importing the AWS integration and the CLI never needs it;
using AWS without it raises ``MissingExtra`` naming the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mangodb import RunCreate, RunRepository
from mangodb.errors import MissingExtra


def test_importing_does_not_import_boto3() -> None:
    code = (
        "import sys, mangodb.integrations.aws, mangodb.integrations.aws.lambda_handler, "
        "mangodb.cli; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_missing_boto3_names_the_extra(
    repo: RunRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mangodb.integrations.aws import attach_crash_from_s3, reconcile

    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` now raises ImportError
    repo.insert_run(RunCreate(run_id="r", instance_id="i-0123456789abcdef0", status="crashed"))
    with pytest.raises(MissingExtra, match=r"mangodb\[aws\]"):
        attach_crash_from_s3(repo, "r")
    repo.insert_run(RunCreate(run_id="live", instance_id="i-0123456789abcdef0"))
    with pytest.raises(MissingExtra, match=r"mangodb\[aws\]"):
        reconcile(repo)

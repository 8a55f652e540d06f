"""Crash artefacts in S3 (moto server) -> crash reports: ranged tail reads, per-run outcomes,
a sweep that goes on past failures and attaches nothing new the second time."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from mangodb import RunCreate, RunRepository, ValidationError
from mangodb.integrations.aws import (
    OutcomeStatus,
    attach_crash_from_s3,
    backfill_crash_data,
)
from mangodb.integrations.aws.artifacts import TAIL_BYTES, classify_keys, outcome_for
from mangodb.status import RunStatus

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]

BUCKET = "training-context"
OLD = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
TRACEBACK = 'Traceback (most recent call last):\n  File "train.py", line 88, in <module>\n'
CRASHES = {
    "cuda_oom": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {n}.00 GiB",
    "nccl": "RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:{n}, unhandled system error",
    "nan_loss": "ValueError: loss is nan at step {n}",
    "spot_interruption": "received spot instance interruption notice, checkpointing at {n}",
    "KeyError": "KeyError: 'labels_{n}'",
}


class GetCounter:
    """Records every GetObject response (ContentLength, ContentRange): a botocore hook."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.responses.append(
            {"length": parsed.get("ContentLength"), "range": parsed.get("ContentRange")}
        )

    def attach(self, client: Any) -> Any:
        client.meta.events.register("after-call.s3.GetObject", self)
        return client


def put(s3: Any, run_id: str, name: str, body: bytes | str) -> None:
    data = body.encode() if isinstance(body, str) else body
    s3.put_object(Bucket=BUCKET, Key=f"crash-reports/{run_id}/{name}", Body=data)


def crash_log(kind: str, n: int) -> str:
    noise = "".join(f"step {i} loss 0.{i:04d}\n" for i in range(40))
    return noise + TRACEBACK + CRASHES[kind].format(n=n) + "\n"


@pytest.fixture
def bucket(aws: AwsClients) -> Any:
    aws.s3.create_bucket(Bucket=BUCKET)
    return aws.s3


def populate(repo: RunRepository, s3: Any) -> dict[str, list[str]]:
    """200 crashed runs in S3 shapes that matter; returns the run ids per expected shape."""
    groups: dict[str, list[str]] = {"full": [], "no_analysis": [], "malformed": [], "missing": []}
    kinds = list(CRASHES)
    creates = []
    for i in range(100):
        run_id = f"full-{i}"
        kind = kinds[i % len(kinds)]
        put(s3, run_id, "error.log", crash_log(kind, i))
        put(s3, run_id, "crash_report.json", json.dumps({"run_id": run_id, "exit_code": 1}))
        put(s3, run_id, "bedrock_analysis.md", f"Root cause: {kind} (run {i})")
        groups["full"].append(run_id)
    for i in range(40):
        run_id = f"noanalysis-{i}"
        put(s3, run_id, "error.log", crash_log("KeyError", i))
        put(s3, run_id, "crash_report.json", json.dumps({"message": "KeyError: 'labels'"}))
        groups["no_analysis"].append(run_id)
    for i in range(20):
        run_id = f"malformed-{i}"
        put(s3, run_id, "error.log", crash_log("nccl", i))
        put(s3, run_id, "crash_report.json", '{"exit_code": 1, "message": "trunc')
        groups["malformed"].append(run_id)
    for i in range(40):
        groups["missing"].append(f"missing-{i}")
    for ids in groups.values():
        creates.extend(RunCreate(run_id=r, status=RunStatus.CRASHED, created_at=OLD) for r in ids)
    # Not swept: a completed run, even with artefacts.
    put(s3, "done-0", "error.log", crash_log("KeyError", 0))
    creates.append(RunCreate(run_id="done-0", status=RunStatus.COMPLETED, created_at=OLD))
    repo.insert_runs(creates)
    return groups


def test_backfill_over_hundreds_of_runs(repo: RunRepository, bucket: Any) -> None:
    groups = populate(repo, bucket)
    seen: list[str] = []
    totals: list[int] = []
    summary = backfill_crash_data(
        repo, s3=bucket, on_start=totals.append, on_outcome=lambda o: seen.append(o.run_id)
    )
    assert totals == [200] and len(seen) == 200
    assert summary.counts() == {
        "attached": 140,
        "missing": 40,
        "unreadable": 0,
        "access_denied": 0,
        "throttled": 0,
        "malformed_json": 20,
        "no_bucket": 0,
    }
    by_run = {o.run_id: o for o in summary.outcomes}
    assert all(by_run[r].attached for r in groups["malformed"])  # the log is still attached
    assert "no analysis file" in by_run["noanalysis-0"].detail
    assert not by_run["missing-0"].attached
    assert "done-0" not in by_run

    reports = {r: repo.get_run(r).crash_reports for r in groups["full"][:10]}
    for i, run_id in enumerate(groups["full"][:10]):
        (report,) = reports[run_id]
        kind = list(CRASHES)[i % len(CRASHES)]
        assert report.error_type == kind
        assert report.error_log_s3_key == f"crash-reports/{run_id}/error.log"
        assert report.crash_report_s3_key == f"crash-reports/{run_id}/crash_report.json"
        assert report.analysis_s3_key == f"crash-reports/{run_id}/bedrock_analysis.md"
        assert report.analysis_summary == f"Root cause: {kind} (run {i})"
        assert report.excerpt and report.excerpt.endswith(CRASHES[kind].format(n=i) + "\n")
    # Equal crashes group together: OOMs of different sizes share one fingerprint.
    oom = [repo.get_run(f"full-{i}").crash_reports[0].fingerprint for i in (0, 5, 10)]
    assert len(set(oom)) == 1 and oom[0] != reports["full-1"][0].fingerprint
    (malformed,) = repo.get_run("malformed-0").crash_reports
    assert malformed.error_type == "nccl"
    assert malformed.details and "not JSON" in " ".join(malformed.details["problems"])

    # Idempotent: the second sweep only revisits runs still lacking data, attaches nothing.
    again = backfill_crash_data(repo, s3=bucket)
    assert again.attached == []
    assert again.counts()["missing"] == 40 and len(again.outcomes) == 40
    assert len(repo.get_run("full-0").crash_reports) == 1


def test_a_50_mb_log_is_read_by_its_tail_only(repo: RunRepository, bucket: Any) -> None:
    size = 50 * 1024 * 1024
    tail = TRACEBACK + CRASHES["cuda_oom"].format(n=7) + "\n"
    filler = b"x" * 1023 + b"\n"
    body = filler * ((size - len(tail)) // 1024) + b"y" * ((size - len(tail)) % 1024)
    put(bucket, "big", "error.log", body + tail.encode())
    put(bucket, "big", "crash_report.json", "{}")
    repo.insert_run(RunCreate(run_id="big", status=RunStatus.CRASHED))
    counter = GetCounter()
    outcome = attach_crash_from_s3(repo, "big", s3=counter.attach(bucket))
    assert outcome.status is OutcomeStatus.ATTACHED and outcome.attached
    assert outcome.log_size == size
    ranged = [r for r in counter.responses if r["range"]]
    assert ranged == [
        {"length": TAIL_BYTES, "range": f"bytes {size - TAIL_BYTES}-{size - 1}/{size}"}
    ]
    fetched = sum(r["length"] for r in counter.responses)
    assert fetched == TAIL_BYTES + 2  # the tail plus the 2-byte crash report, nothing more
    assert outcome.bytes_fetched == fetched
    (report,) = repo.get_run("big").crash_reports
    assert report.error_type == "cuda_oom"
    assert report.details and report.details["log_truncated"] is True


def test_small_empty_and_split_character_logs(repo: RunRepository, bucket: Any) -> None:
    put(bucket, "empty", "error.log", b"")
    put(bucket, "empty", "crash.json", json.dumps({"error_type": "host_oom", "message": "Killed"}))
    # The tail window starts inside a two-byte character: decoded with a replacement mark.
    put(bucket, "split", "error.log", b"a" + "é".encode() * 40)
    put(bucket, "run-10", "error.log", crash_log("KeyError", 1))
    for run_id in ("empty", "split", "run-1"):
        repo.insert_run(RunCreate(run_id=run_id, status=RunStatus.FAILED))
    empty = attach_crash_from_s3(repo, "empty", s3=bucket)
    assert empty.status is OutcomeStatus.ATTACHED and empty.bytes_fetched > 0
    assert repo.get_run("empty").crash_reports[0].error_type == "host_oom"
    split = attach_crash_from_s3(repo, "split", s3=bucket, tail_bytes=9)
    assert split.attached
    assert repo.get_run("split").crash_reports[0].excerpt == "\ufffd" + "é" * 4
    # run-1's prefix must not pick up run-10's objects.
    assert attach_crash_from_s3(repo, "run-1", s3=bucket).status is OutcomeStatus.MISSING


def test_only_malformed_json_is_not_attached(repo: RunRepository, bucket: Any) -> None:
    put(bucket, "bad", "crash_report.json", "[1, 2")
    repo.insert_run(RunCreate(run_id="bad", status=RunStatus.CRASHED))
    outcome = attach_crash_from_s3(repo, "bad", s3=bucket)
    assert outcome.status is OutcomeStatus.MALFORMED_JSON and not outcome.attached
    assert repo.get_run("bad").crash_reports == ()


def test_missing_bucket_is_one_outcome_per_run_and_one_request(
    repo: RunRepository, aws: AwsClients
) -> None:
    repo.insert_runs(RunCreate(run_id=f"r{i}", status=RunStatus.CRASHED) for i in range(25))
    calls: list[str] = []
    s3 = aws.client("s3")
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    summary = backfill_crash_data(repo, s3=s3, bucket="no-such-bucket")
    assert summary.counts()["no_bucket"] == 25
    assert calls == ["ListObjectsV2"]


def test_since_limits_the_sweep(repo: RunRepository, bucket: Any) -> None:
    put(bucket, "old", "error.log", crash_log("KeyError", 1))
    put(bucket, "new", "error.log", crash_log("KeyError", 2))
    repo.insert_run(RunCreate(run_id="old", status=RunStatus.CRASHED, created_at=OLD))
    repo.insert_run(RunCreate(run_id="new", status=RunStatus.CRASHED))
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    summary = backfill_crash_data(repo, s3=bucket, since=since)
    assert [o.run_id for o in summary.outcomes] == ["new"]


@pytest.mark.parametrize("field", ["prefix", "bucket"])
def test_a_prefix_or_bucket_s3_cannot_encode_is_a_validation_error(
    repo: RunRepository, bucket: Any, field: str
) -> None:
    """Found by the CLI fuzz: ``--prefix '\\ud800'`` reached botocore as a UnicodeEncodeError."""
    repo.insert_run(RunCreate(run_id="c", status=RunStatus.CRASHED))
    with pytest.raises(ValidationError, match=field):
        backfill_crash_data(repo, s3=bucket, **{field: "\ud800"})


def test_archived_runs_are_swept_only_when_asked(repo: RunRepository, bucket: Any) -> None:
    for run_id in ("kept", "hidden"):
        put(bucket, run_id, "error.log", crash_log("KeyError", 1))
        repo.insert_run(RunCreate(run_id=run_id, status=RunStatus.CRASHED))
    repo.archive_runs("run_id = 'hidden'")
    summary = backfill_crash_data(repo, s3=bucket)
    assert [o.run_id for o in summary.outcomes] == ["kept"]
    summary = backfill_crash_data(repo, s3=bucket, include_archived=True)
    assert [o.run_id for o in summary.outcomes] == ["hidden"]  # "kept" has its report now
    assert repo.get_run("hidden").archived_at is not None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", OutcomeStatus.ACCESS_DENIED),
        ("403", OutcomeStatus.ACCESS_DENIED),
        ("SlowDown", OutcomeStatus.THROTTLED),
        ("ThrottlingException", OutcomeStatus.THROTTLED),
        ("503", OutcomeStatus.THROTTLED),
        ("NoSuchBucket", OutcomeStatus.NO_BUCKET),
        ("NoSuchKey", OutcomeStatus.MISSING),
        ("404", OutcomeStatus.MISSING),
        ("InternalError", OutcomeStatus.UNREADABLE),
    ],
)
def test_error_codes_map_to_outcomes(code: str, status: OutcomeStatus) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "m"}}, "GetObject")
    assert outcome_for(error)[0] is status


def test_keys_are_sorted_into_roles() -> None:
    found = classify_keys(
        [
            "p/r/error.log",
            "p/r/crash_report.json",
            "p/r/bedrock-analysis.json",
            "p/r/stdout.log",
            "p/r/extra.json",
        ]
    )
    assert found.error_log == "p/r/error.log"
    assert found.crash_report == "p/r/crash_report.json"
    assert found.analysis == "p/r/bedrock-analysis.json"
    assert set(found.other) == {"p/r/stdout.log", "p/r/extra.json"}


def test_backfill_cli(repo: RunRepository, bucket: Any) -> None:
    from typer.testing import CliRunner

    from mangodb.cli import app

    put(bucket, "c1", "error.log", crash_log("nan_loss", 3))
    repo.insert_run(RunCreate(run_id="c1", status=RunStatus.CRASHED))
    repo.insert_run(RunCreate(run_id="c2", status=RunStatus.CRASHED))
    url = repo.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["crash", "backfill", "--url", url, "--since", "1d"])
    assert result.exit_code == 0, result.output
    assert "attached" in result.output and "c2" in result.output and "missing" in result.output
    assert repo.get_run("c1").crash_reports[0].error_type == "nan_loss"
    as_json = CliRunner().invoke(app, ["crash", "backfill", "--url", url, "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["counts"]["missing"] == 1
    assert report["outcomes"] == [
        {"run_id": "c2", "outcome": "missing", "attached": False,
         "detail": "no objects under crash-reports/c2/", "error_type": None}
    ]  # fmt: skip
    bad = CliRunner().invoke(app, ["crash", "backfill", "--url", url, "--since", "yesterday"])
    assert bad.exit_code == 1 and "invalid --since" in bad.output


def test_backfill_cli_prints_brackets_as_they_are(repo: RunRepository, bucket: Any) -> None:
    """A run id and an S3 error text with [brackets] (botocore quotes a regex like ``[/:]``
    for an invalid bucket name) are printed as text, not read as Rich markup (which raised
    MarkupError, a traceback)."""
    from typer.testing import CliRunner

    from mangodb.cli import app

    repo.insert_run(RunCreate(run_id="exp[/b]", status=RunStatus.CRASHED))
    url = repo.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["crash", "backfill", "--url", url, "--bucket", ""])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "exp[/b]" in result.output and "Invalid bucket name" in result.output

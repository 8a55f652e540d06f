"""Crash artefacts in S3 -> one crash report on the run.

Layout: ``s3://{bucket}/{prefix}/{run_id}/`` holding ``error.log``, a crash report JSON and an
analysis file (names are guessed by suffix: ``*error.log`` / ``*.log``; ``*analysis*`` or
``*bedrock*``; other ``*.json``). Only the TAIL of the error log is fetched, with a ranged GET,
because that is where the traceback is and logs can be gigabytes.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mangodb import crash
from mangodb.dto import CrashReportCreate
from mangodb.integrations.aws.clients import (
    ACCESS_DENIED_CODES,
    THROTTLING_CODES,
    botocore_errors,
    cloud_error,
    error_code,
    s3_client,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from mangodb.repository import RunRepository

DEFAULT_BUCKET = "training-context"
DEFAULT_PREFIX = "crash-reports"
TAIL_BYTES = 64 * 1024  # error-log tail fetched per run
HEAD_BYTES = 16 * 1024  # analysis text kept per run
JSON_LIMIT = 1024 * 1024  # a crash report JSON larger than this is not parsed


class OutcomeStatus(str, enum.Enum):
    """What happened to one run's crash artefacts."""

    ATTACHED = "attached"
    MISSING = "missing"  # nothing under the run's prefix
    UNREADABLE = "unreadable"  # objects exist but could not be read
    ACCESS_DENIED = "access_denied"
    THROTTLED = "throttled"  # still throttled after the bounded retries
    MALFORMED_JSON = "malformed_json"  # the crash report is not a JSON object (rest attached)
    NO_BUCKET = "no_bucket"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CrashArtifacts:
    """The keys found under a run's prefix, sorted into roles."""

    error_log: str | None = None
    crash_report: str | None = None
    analysis: str | None = None
    other: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.error_log or self.crash_report or self.analysis or self.other)


@dataclass(frozen=True)
class CrashOutcome:
    """The per-run result of ``attach_crash_from_s3``."""

    run_id: str
    status: OutcomeStatus
    detail: str = ""
    attached: bool = False
    artifacts: CrashArtifacts = field(default_factory=CrashArtifacts)
    error_type: str | None = None
    fingerprint: str | None = None
    log_size: int | None = None  # size of the error log object
    bytes_fetched: int = 0  # body bytes downloaded for this run (all objects)


class _ArtifactError(Exception):
    """An S3 failure already mapped to an outcome status."""

    def __init__(self, status: OutcomeStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def run_prefix(prefix: str, run_id: str) -> str:
    """``crash-reports/run-1/``: the trailing slash keeps ``run-1`` from matching ``run-10``."""
    base = prefix.strip("/")
    return f"{base}/{run_id}/" if base else f"{run_id}/"


def classify_keys(keys: list[str]) -> CrashArtifacts:
    """Sort object keys into error log, crash report JSON and analysis by their names."""
    error_log = crash_report = analysis = None
    other: list[str] = []
    for key in sorted(keys):
        name = key.rsplit("/", 1)[-1].lower()
        if not name:
            continue
        if "analysis" in name or "bedrock" in name:
            analysis = analysis or key
        elif name.endswith("error.log") or (name.endswith(".log") and error_log is None):
            if error_log is None or name.endswith("error.log"):
                error_log = key
            else:
                other.append(key)
        elif name.endswith(".json"):
            if crash_report is None:
                crash_report = key
            else:
                other.append(key)
        else:
            other.append(key)
    return CrashArtifacts(error_log, crash_report, analysis, tuple(other))


def outcome_for(error: BaseException) -> tuple[OutcomeStatus, str]:
    """Map a botocore error to a per-run outcome status and a one-line detail."""
    code = error_code(error)
    if code == "NoSuchBucket":
        return OutcomeStatus.NO_BUCKET, "bucket does not exist"
    if code in ACCESS_DENIED_CODES:
        return OutcomeStatus.ACCESS_DENIED, f"{code}: access denied"
    if code in THROTTLING_CODES:
        return OutcomeStatus.THROTTLED, f"{code}: throttled after retries"
    if code in ("NoSuchKey", "404", "NotFound"):
        return OutcomeStatus.MISSING, f"{code}: object vanished"
    return OutcomeStatus.UNREADABLE, f"{code or type(error).__name__}: {error}"[:300]


class _Reader:
    """Reads objects of one bucket, counting the body bytes it downloads."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.fetched = 0

    def call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except botocore_errors() as error:
            status, detail = outcome_for(error)
            raise _ArtifactError(status, f"{what}: {detail}") from error

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):  # an empty listing has no Contents
                    yield item["Key"]
        except botocore_errors() as error:
            status, detail = outcome_for(error)
            raise _ArtifactError(status, f"list {prefix}: {detail}") from error

    def size(self, key: str) -> int:
        head = self.call(f"head {key}", self.s3.head_object, Key=key)
        return int(head["ContentLength"])

    def read_range(self, key: str, size: int, byte_range: str | None) -> bytes:
        if size == 0:
            return b""  # a range on an empty object is InvalidRange: don't ask
        kwargs: dict[str, Any] = {"Key": key}
        if byte_range:
            kwargs["Range"] = byte_range
        response = self.call(f"get {key}", self.s3.get_object, **kwargs)
        try:
            body: bytes = response["Body"].read()
        except botocore_errors() as error:
            status, detail = outcome_for(error)
            raise _ArtifactError(status, f"read {key}: {detail}") from error
        self.fetched += len(body)
        return body

    def tail(self, key: str, limit: int) -> tuple[str, int]:
        """The last ``limit`` bytes of ``key`` as text, and the object's size."""
        size = self.size(key)
        data = self.read_range(key, size, f"bytes=-{limit}")
        return data.decode("utf-8", errors="replace"), size

    def head(self, key: str, limit: int) -> str:
        size = self.size(key)
        data = self.read_range(key, size, f"bytes=0-{limit - 1}")
        return data.decode("utf-8", errors="replace")


def attach_crash_from_s3(
    repo: RunRepository,
    run_id: str,
    *,
    s3: S3Client | None = None,
    bucket: str = DEFAULT_BUCKET,
    prefix: str = DEFAULT_PREFIX,
    tail_bytes: int = TAIL_BYTES,
) -> CrashOutcome:
    """Find the run's crash artefacts in S3, read the error log's tail, classify and
    fingerprint the crash and attach it to the run (idempotent: attaching the same artefacts
    again stores nothing new). S3 problems become the outcome; mangodb errors propagate."""
    reader = _Reader(s3 or s3_client(), bucket)
    where = run_prefix(prefix, run_id)
    try:
        artifacts = classify_keys(list(reader.keys(where)))
        if artifacts.empty:
            return CrashOutcome(run_id, OutcomeStatus.MISSING, f"no objects under {where}")
        gathered = _gather(reader, artifacts, tail_bytes)
    except _ArtifactError as problem:
        return CrashOutcome(run_id, problem.status, problem.detail, bytes_fetched=reader.fetched)
    report, status, detail = gathered
    stored = repo.attach_crash_data(run_id, report)
    return CrashOutcome(
        run_id,
        status,
        detail,
        attached=True,
        artifacts=artifacts,
        error_type=stored.error_type,
        fingerprint=stored.fingerprint,
        log_size=(report.details or {}).get("log_size"),
        bytes_fetched=reader.fetched,
    )


def _gather(
    reader: _Reader, artifacts: CrashArtifacts, tail_bytes: int
) -> tuple[CrashReportCreate, OutcomeStatus, str]:
    status, problems = OutcomeStatus.ATTACHED, []
    details: dict[str, Any] = {"source": "s3", "bucket": reader.bucket}
    log_text = ""
    if artifacts.error_log:
        log_text, size = reader.tail(artifacts.error_log, tail_bytes)
        details["log_size"] = size
        details["log_truncated"] = size > tail_bytes
    else:
        problems.append("no error log")
    doc: dict[str, Any] = {}
    if artifacts.crash_report:
        try:
            doc = _crash_json(reader, artifacts.crash_report)
        except ValueError as bad:
            status = OutcomeStatus.MALFORMED_JSON
            problems.append(f"{artifacts.crash_report}: {bad}")
    analysis = reader.head(artifacts.analysis, HEAD_BYTES) if artifacts.analysis else None
    if artifacts.analysis is None:
        problems.append("no analysis file")
    text = "\n".join(p for p in (str(doc.get("traceback") or ""), log_text) if p)
    exc_type, exc_message = crash.last_exception(text)
    error_class = _text(doc, "error_type", "exception_type", "type") or crash.classify(text)
    message = _text(doc, "message", "error", "error_message") or exc_message
    if exc_type:
        details["exception_type"] = exc_type
    if not (log_text or doc or analysis):
        unusable = OutcomeStatus.UNREADABLE if status is OutcomeStatus.ATTACHED else status
        raise _ArtifactError(unusable, "; ".join(problems) or "nothing readable")
    if problems:
        details["problems"] = problems
    report = CrashReportCreate(
        error_log_s3_key=artifacts.error_log,
        crash_report_s3_key=artifacts.crash_report,
        analysis_s3_key=artifacts.analysis,
        error_type=error_class,
        message=message[:2000] if message else None,
        excerpt=log_text or None,
        fingerprint=crash.fingerprint(error_class, message or _last_lines(log_text)),
        analysis_summary=_analysis_summary(analysis),
        occurred_at=_occurred_at(doc),
        details=details,
    )
    return report, status, "; ".join(problems)


def _crash_json(reader: _Reader, key: str) -> dict[str, Any]:
    size = reader.size(key)
    if size > JSON_LIMIT:
        raise ValueError(f"{size} bytes is larger than the {JSON_LIMIT}-byte limit")
    raw = reader.read_range(key, size, None).decode("utf-8", errors="replace")
    try:
        doc = json.loads(raw, parse_constant=lambda name: name)  # NaN/Infinity stay text
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _text(doc: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = doc.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _occurred_at(doc: dict[str, Any]) -> dt.datetime | None:
    raw = _text(doc, "occurred_at", "timestamp", "time", "crashed_at")
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _analysis_summary(text: str | None) -> str | None:
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return text.strip() or None
    if isinstance(doc, dict):
        for name in ("summary", "analysis", "root_cause"):
            value = doc.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return text.strip() or None


def _last_lines(text: str, count: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request


def delete_keys(s3: S3Client, bucket: str, keys: Sequence[str]) -> tuple[int, list[str]]:
    """Delete ``keys`` from ``bucket`` with batched ``DeleteObjects`` (1,000 per request).
    Returns how many were deleted (a key already gone counts: S3 reports it deleted) and one
    line per key that S3 refused."""
    deleted, refused = 0, []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = list(keys[start : start + DELETE_BATCH])
        try:
            answer = s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        except botocore_errors() as error:
            raise cloud_error(f"delete {len(batch)} objects from s3://{bucket}", error) from error
        failed = answer.get("Errors", [])
        refused += [f"{e.get('Key')}: {e.get('Code')} {e.get('Message', '')}" for e in failed]
        deleted += len(batch) - len(failed)
    return deleted, refused

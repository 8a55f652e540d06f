"""Crash reports and conversation attachments: S3 keys kept, bounded excerpts, fingerprints that
group equal crashes, several reports per run, idempotent attaching."""

from __future__ import annotations

import datetime as dt

import pytest

from mangodb import CrashReportCreate, RunCreate, RunNotFound, RunRepository, ValidationError
from mangodb.crash import classify, fingerprint, last_exception, normalize
from mangodb.dto import EXCERPT_LIMIT

UTC = dt.timezone.utc
OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {} GiB (GPU 0; {} GiB total)"


def _oom(run_id: str, size: str, total: str) -> CrashReportCreate:
    return CrashReportCreate(
        error_log_s3_key=f"runs/{run_id}/error.log",
        crash_report_s3_key=f"runs/{run_id}/crash.json",
        analysis_s3_key=f"runs/{run_id}/analysis.md",
        error_type="OutOfMemoryError",
        message=OOM.format(size, total),
        occurred_at=dt.datetime(2024, 2, 3, 4, 5, tzinfo=UTC),
        details={"gpu": 0},
    )


def test_attach_crash_data_keeps_everything(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r"))
    report = repo.attach_crash_data("r", _oom("r", "2.00", "23.69"))
    assert report.error_log_s3_key == "runs/r/error.log"
    assert report.crash_report_s3_key == "runs/r/crash.json"
    assert report.analysis_s3_key == "runs/r/analysis.md"
    assert report.error_type == "OutOfMemoryError" and report.details == {"gpu": 0}
    assert report.fingerprint is not None and report.occurred_at is not None
    run = repo.get_run("r")
    assert run.crash_reports == (report,)
    assert run.error_summary is not None and run.error_summary.startswith("OutOfMemoryError: ")


def test_attaching_the_same_report_twice_is_idempotent(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r"))
    first = repo.attach_crash_data("r", _oom("r", "2.00", "23.69"))
    second = repo.attach_crash_data("r", _oom("r", "2.00", "23.69"))
    assert first == second
    assert len(repo.get_run("r").crash_reports) == 1


def test_several_reports_per_run_and_fingerprint_groups(repo: RunRepository) -> None:
    for run_id in ("a", "b"):
        repo.insert_run(RunCreate(run_id=run_id))
    one = repo.attach_crash_data("a", _oom("a", "2.00", "23.69"))
    two = repo.attach_crash_data("a", _oom("a", "1.50", "23.69"))
    three = repo.attach_crash_data("b", _oom("b", "512.00", "79.15"))
    other = repo.attach_crash_data("a", error_type="NCCLError", message="ncclInternalError")
    assert len(repo.get_run("a").crash_reports) == 3
    assert one.id != two.id
    assert one.fingerprint == two.fingerprint == three.fingerprint
    assert other.fingerprint != one.fingerprint


def test_excerpt_is_bounded_to_its_tail(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r"))
    log = "".join(f"line {i}\n" for i in range(20_000)) + "RuntimeError: the end"
    report = repo.attach_crash_data("r", CrashReportCreate(excerpt=log))
    assert report.excerpt is not None
    assert len(report.excerpt) == EXCERPT_LIMIT
    assert report.excerpt.endswith("RuntimeError: the end")
    assert report.fingerprint == fingerprint(None, report.excerpt)  # no message: the kept tail


def test_crash_errors(repo: RunRepository) -> None:
    with pytest.raises(RunNotFound):
        repo.attach_crash_data("ghost", _oom("ghost", "1", "2"))
    repo.insert_run(RunCreate(run_id="r"))
    with pytest.raises(ValidationError):
        repo.attach_crash_data("r", error_log_s3_key="k" * 2000)
    with pytest.raises(ValidationError):
        repo.attach_crash_data("r", colour="red")
    with pytest.raises(ValidationError):
        CrashReportCreate(message="nul \x00 inside")
    assert repo.get_run("r").crash_reports == ()


def test_attach_conversation_is_idempotent(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="r"))
    first = repo.attach_conversation("r", "s3://bucket/conversations/r.json", title="debug chat")
    again = repo.attach_conversation("r", "s3://bucket/conversations/r.json", title="debug chat")
    assert first == again
    repo.attach_conversation("r", s3_key="conversations/r-2.json", details={"turns": 12})
    attachments = repo.get_run("r").attachments
    assert [(a.kind, a.uri) for a in attachments] == [
        ("conversation", "s3://bucket/conversations/r.json"),
        ("conversation", "conversations/r-2.json"),
    ]
    assert attachments[0].title == "debug chat" and attachments[1].details == {"turns": 12}
    with pytest.raises(ValidationError):
        repo.attach_conversation("r", "  ")
    with pytest.raises(ValidationError):
        repo.attach_conversation("r", "u" * 3000)
    with pytest.raises(RunNotFound):
        repo.attach_conversation("ghost", "s3://x")


def test_runs_without_crash_data(repo: RunRepository) -> None:
    for run_id, status in [
        ("crashed-bare", "crashed"),
        ("crashed-reported", "crashed"),
        ("failed-bare", "failed"),
        ("terminated-bare", "terminated"),
        ("completed", "completed"),
        ("running", "running"),
    ]:
        repo.insert_run(RunCreate(run_id=run_id))
        repo.update_run_status(run_id, status)
    repo.attach_crash_data("crashed-reported", error_type="ValueError", message="x")
    assert repo.runs_without_crash_data() == ["crashed-bare", "failed-bare", "terminated-bare"]
    assert repo.runs_without_crash_data(status="crashed") == ["crashed-bare"]


def test_fingerprint_helpers() -> None:
    assert normalize("at 0x7f3a in /opt/x/train.py line 42") == "at <hex> in <path> line <n>"
    assert fingerprint("E", "took 1.5 s") == fingerprint("E", "took 20 s")
    assert fingerprint("E", "a") != fingerprint("F", "a")
    log = "Traceback (most recent call last):\n  ...\nValueError: bad shape (3, 4)\n"
    assert last_exception(log) == ("ValueError", "bad shape (3, 4)")
    assert classify("RuntimeError: CUDA out of memory. Tried to allocate") == "cuda_oom"
    assert classify("nothing to see") is None

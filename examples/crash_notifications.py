"""What the crash notifier calls when a training process dies: classify the error log,
record the verdict, and attach the crash report (S3 keys of its artefacts) to the run.

    mangodb demo
    python examples/crash_notifications.py --db mangodb-demo.sqlite3 \\
        --run-id deco_hop_bs96_uniform_i-00598a2f89dcc1547 --log examples/oom_error.log \\
        --exit-code 1

(the demo's running run, and a sample log of a CUDA out-of-memory crash shipped beside this
file; a notifier passes the log it captured).

The notifier uploads the log, the report and the analysis to S3 itself; mangodb keeps their
keys, the error type, a bounded excerpt and a fingerprint so that equal crashes group together.
Running it twice for the same crash stores one report.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from mangodb import CrashReportCreate, InvalidTransition, RunRepository
from mangodb.crash import classify, last_exception

EXCERPT_CHARS = 8_000  # the tail of the log kept in the database; the whole log stays in S3


def notify_crash(
    repo: RunRepository,
    run_id: str,
    log_text: str,
    *,
    exit_code: int | None,
    s3_prefix: str,
) -> str:
    """Record one crash; returns the verdict (failed / crashed / the status that stood)."""
    error_type, message = last_exception(log_text)
    kind = classify(log_text)  # cuda_oom, nccl, nan_loss, spot_interruption, ... or None
    # A Python exception means the code failed; a process that died without one crashed.
    verdict = "failed" if error_type else "crashed"
    try:
        run = repo.update_run_status(
            run_id,
            verdict,
            reason=f"{kind or 'unknown error'} (exit code {exit_code})",
            source="crash-notifier",
            expected_status=("launched", "running"),  # never overwrite another verdict
            details={"classification": kind, "exit_code": exit_code},
            exit_code=exit_code,
        )
        status = run.status.value
    except InvalidTransition as refused:  # the reconciler or the run itself decided first
        status = refused.from_status
    report = repo.attach_crash_data(
        run_id,
        CrashReportCreate(
            error_log_s3_key=f"{s3_prefix}/error.log",
            crash_report_s3_key=f"{s3_prefix}/crash_report.json",
            analysis_s3_key=f"{s3_prefix}/analysis.md",
            error_type=error_type or kind,
            message=message,
            excerpt=log_text[-EXCERPT_CHARS:],
            analysis_summary=f"classified as {kind}" if kind else None,
            occurred_at=dt.datetime.now(dt.timezone.utc),
            details={"classification": kind, "exit_code": exit_code},
        ),
    )
    print(f"{run_id}: {status}; crash report #{report.id} fingerprint {report.fingerprint}")
    return status


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="SQLite path or database URL")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--log", type=Path, required=True, help="the error log of the run")
    parser.add_argument("--exit-code", type=int, default=None)
    parser.add_argument("--s3-prefix", default=None, help="default: crashes/<run id>")
    args = parser.parse_args(argv)
    with RunRepository.connect(args.db, source="crash-notifier") as repo:
        notify_crash(
            repo,
            args.run_id,
            args.log.read_text(encoding="utf-8", errors="replace"),
            exit_code=args.exit_code,
            s3_prefix=args.s3_prefix or f"crashes/{args.run_id}",
        )


if __name__ == "__main__":
    main()

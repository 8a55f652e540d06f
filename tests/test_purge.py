"""`purge_runs` / `mangodb runs purge`: the matching runs go with every row that belongs to
them (counted with plain SQL per table, before and after), never an active run, in bounded
batches; a dry run predicts exactly and changes nothing; `--with-artifacts` deletes the crash
artefacts from S3 (moto's server) with batched DeleteObjects."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import RunCreate, RunRepository, ValidationError
from mangodb.cli import app

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]

TABLES = (
    "runs", "run_events", "run_objectives", "run_tags", "run_metrics", "crash_reports",
    "run_attachments", "history_series", "history_chunks",
)  # fmt: skip
OLD = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _counts(url: URL) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {t: int(connection.scalar(text(f"SELECT count(*) FROM {t}"))) for t in TABLES}
    finally:
        engine.dispose()


def _url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _seed(repo: RunRepository, prefix: str, n: int, *, status: str, created: dt.datetime) -> None:
    for i in range(n):
        run_id = f"{prefix}-{i:02d}"
        repo.insert_run(RunCreate(run_id=run_id, gradient_method="mgda", created_at=created,
                                  tags=["sweep", prefix]))  # fmt: skip
        repo.insert_objective(run_id, name="seg", direction="max")
        repo.update_objective_metric(run_id, "seg", 0.5 + i / 100)
        repo.set_final_metrics(run_id, {"loss": 0.1 * i, "nan": math.nan})
        repo.append_history(run_id, {"_step": list(range(300)), "loss": [1.0] * 300,
                                     "acc": [0.5] * 300})  # fmt: skip
        if status != "launched":
            repo.update_run_status(run_id, "running")
        if status in ("completed", "crashed"):
            repo.update_run_status(run_id, status)
        if status == "crashed":
            keys = f"crash-reports/{run_id}/error.log", f"crash-reports/{run_id}/report.json"
            repo.attach_crash_data(
                run_id, error_type="OOM", error_log_s3_key=keys[0], crash_report_s3_key=keys[1]
            )
            repo.attach_conversation(run_id, f"s3://b/{run_id}.json", title="analysis")


@pytest.fixture
def seeded(db_url: URL) -> Any:
    with RunRepository.connect(db_url) as repo:
        _seed(repo, "old-done", 5, status="completed", created=OLD)
        _seed(repo, "old-crash", 3, status="crashed", created=OLD)
        _seed(repo, "old-live", 2, status="running", created=OLD)
        _seed(repo, "old-new", 1, status="launched", created=OLD)
        _seed(repo, "new-done", 4, status="completed", created=dt.datetime.now(dt.timezone.utc))
    return db_url


def test_purge_deletes_every_row_of_the_runs_and_nothing_else(seeded: URL) -> None:
    before = _counts(seeded)
    with RunRepository.connect(seeded) as repo:
        plan = repo.purge_runs(older_than=dt.timedelta(days=30), dry_run=True, runs_per_batch=3)
        assert _counts(seeded) == before  # a dry run changes nothing
        done = repo.purge_runs(older_than=dt.timedelta(days=30), runs_per_batch=3)
        assert sorted(done.run_ids) == sorted(plan.run_ids)
        assert sorted(done.run_ids) == [f"old-crash-{i:02d}" for i in range(3)] + [
            f"old-done-{i:02d}" for i in range(5)
        ]
        assert done.batches == 3  # 8 runs, 3 per batch
        left = {r.run_id for r in repo.query_runs(limit=None)}
        assert left == {f"old-live-{i:02d}" for i in range(2)} | {"old-new-00"} | {
            f"new-done-{i:02d}" for i in range(4)
        }
        for run_id in left:  # what stays is whole
            assert repo.history_summary(run_id)["loss"].points == 300
    after = _counts(seeded)
    assert done.rows == plan.rows
    assert {t: before[t] - after[t] for t in TABLES} == done.rows  # exact, per table
    assert done.rows["runs"] == 8 and done.rows["crash_reports"] == 3
    assert done.rows["history_series"] == 16 and done.rows["history_chunks"] >= 16
    assert done.artifacts == tuple(sorted(
        f"crash-reports/old-crash-{i:02d}/{name}" for i in range(3)
        for name in ("error.log", "report.json")
    ))  # fmt: skip
    if seeded.get_dialect().name == "sqlite":
        engine = create_engine(seeded)
        with engine.connect() as connection:
            assert connection.scalar(text("PRAGMA integrity_check")) == "ok"
            assert list(connection.execute(text("PRAGMA foreign_key_check"))) == []
        engine.dispose()


def test_purge_never_touches_an_active_run(seeded: URL) -> None:
    with RunRepository.connect(seeded) as repo:
        done = repo.purge_runs(name_prefix="old-")
        assert not [r for r in done.run_ids if r.startswith(("old-live", "old-new"))]
        assert repo.count_by_status(name_prefix="old-") == {"running": 2, "launched": 1}


def test_purge_refuses_to_purge_everything_and_bad_arguments(seeded: URL) -> None:
    with RunRepository.connect(seeded) as repo:
        with pytest.raises(ValidationError, match="never purges all"):
            repo.purge_runs()
        with pytest.raises(ValidationError, match="older_than"):
            repo.purge_runs(older_than=dt.timedelta(days=-1))
        with pytest.raises(ValidationError):
            repo.purge_runs(where="status = finishd")
        assert repo.count_runs() == 15


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_purge_dry_run_then_purge_with_artifacts(seeded: URL, aws: AwsClients) -> None:
    aws.s3.create_bucket(Bucket="training-context")
    for i in range(3):
        for name in ("error.log", "report.json"):
            aws.s3.put_object(Bucket="training-context",
                              Key=f"crash-reports/old-crash-{i:02d}/{name}", Body=b"x")  # fmt: skip
    aws.s3.put_object(Bucket="training-context", Key="crash-reports/keep/error.log", Body=b"x")
    url = _url_text(seeded)
    dry = _invoke("runs", "purge", "status = crashed", "--dry-run", "--with-artifacts",
                  "--url", url)  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "3 runs to purge" in dry.output and "6 S3 objects" in dry.output
    refused = _invoke("runs", "purge", "status = crashed", "--url", url)
    assert refused.exit_code == 1 and "--yes" in refused.output
    done = _invoke("runs", "purge", "status = crashed", "--with-artifacts", "--yes",
                   "--endpoint-url", aws.endpoint, "--url", url)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "purged 3 runs" in done.output and "deleted 6 S3 objects" in done.output
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket="training-context")["Contents"]]
    assert keys == ["crash-reports/keep/error.log"]
    with RunRepository.connect(seeded) as repo:
        assert repo.count_runs(status="crashed") == 0


def test_cli_purge_json_and_nothing_to_do(seeded: URL) -> None:
    url = _url_text(seeded)
    result = _invoke("runs", "purge", "--older-than", "30d", "--yes", "--json", "--url", url)
    assert result.exit_code == 0, result.output
    assert '"runs": 8' in result.output
    again = _invoke("runs", "purge", "--older-than", "30d", "--yes", "--url", url)
    assert again.exit_code == 0 and "0 runs to purge" in again.output
    bad = _invoke("runs", "purge", "--url", url)
    assert bad.exit_code == 1 and "purge never deletes all runs" in bad.output

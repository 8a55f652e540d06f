"""Build ``mangodb-<head>.sqlite3``: a small database written by this revision, kept as a
test asset so later revisions prove they upgrade it without losing anything.

    python tests/assets/make_asset.py   # writes tests/assets/mangodb-<head>.sqlite3

``tests/test_upgrade_assets.py`` upgrades a copy of every asset and checks the facts below.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from pathlib import Path

from mangodb import CrashReportCreate, ObjectiveCreate, RunCreate, RunRepository
from mangodb.db.schema import head_revision

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


def build(path: Path) -> None:
    path.unlink(missing_ok=True)
    repo = RunRepository.connect(f"sqlite:///{path}")
    try:
        for i, method in enumerate(("mgda", "pcgrad", "imtlg")):
            run_id = f"asset_{method}"
            repo.insert_run(RunCreate(
                run_id=run_id, gradient_method=method, created_at=T0 + dt.timedelta(hours=i),
                config={"data": {"batch_size": 96}, "optim": {"lr": 1e-3 * (i + 1)},
                        "note": "ünïcode ✓", "nan": math.nan},
                instance_id=f"i-00000000000000{i:03d}", region="us-east-1", tags=["asset"],
                objectives=[ObjectiveCreate(name="hop", metric="val/hop_loss")],
            ))  # fmt: skip
            repo.update_run_status(run_id, "running", wandb_run_id=f"wb{i}")
            repo.append_history(run_id, {"loss": (list(range(100)), [1.0 / (s + 1) for s in
                                                                     range(100)])})  # fmt: skip
            repo.update_objective_metric(run_id, "hop", 0.5 - i / 10, step=99)
        repo.update_run_status("asset_mgda", "completed",
                               final_metrics={"val/hop_loss": 0.5, "inf": math.inf})  # fmt: skip
        repo.update_run_status("asset_pcgrad", "crashed", reason="heartbeat lost")
        repo.attach_crash_data("asset_pcgrad", CrashReportCreate(
            error_log_s3_key="crash-reports/asset_pcgrad/error.log",
            error_type="cuda_oom", message="CUDA out of memory"))  # fmt: skip
    finally:
        repo.close()
    with sqlite3.connect(path) as connection:  # fold the WAL into the file: one file to commit
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("VACUUM")


if __name__ == "__main__":
    build(Path(__file__).resolve().parent / f"mangodb-{head_revision()}.sqlite3")

"""A small database for the interface tests: every status, three methods, objectives, history
with a NaN and a spike, crash reports, a stale running run, and XSS payloads wherever the
database holds text (run ids, config keys and values, tags, crash messages)."""

from __future__ import annotations

import datetime as dt
import math

from mangodb import CrashReportCreate, ObjectiveCreate, RunCreate, RunRepository

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
XSS_RUN = f"xss-{SCRIPT}"
XSS_RUN_2 = f"xss-{IMG}"
METHODS = ("mgda", "pcgrad", "uniform")
NOW = dt.datetime.now(dt.timezone.utc)
HISTORY_POINTS = 3000
SPIKE_STEP = 1234
NAN_STEP = 2222


def seed(repo: RunRepository) -> dict[str, object]:
    runs = []
    for i in range(30):
        method = METHODS[i % 3]
        runs.append(
            RunCreate(
                run_id=f"run-{i:03d}",
                gradient_method=method,
                model_name="resnet18",
                dataset="nyuv2" if i % 2 else "cityscapes",
                batch_size=32 * (1 + i % 3),
                learning_rate=1e-3,
                seed=i,
                instance_id=f"i-{i:08x}",
                instance_type="g5.xlarge" if i % 2 else "p3.2xlarge",
                region="us-east-1",
                created_at=NOW - dt.timedelta(hours=30 - i),
                config={"optim": {"lr": 1e-3, "name": "adam"}, "data": {"batch_size": 32}},
                tags=["sweep-a"] if i < 15 else ["sweep-b"],
                objectives=[
                    ObjectiveCreate(name="hop", metric="val/hop", direction="min"),
                    ObjectiveCreate(name="acc", metric="val/acc", direction="max"),
                ],
            )
        )
    runs.append(
        RunCreate(
            run_id=XSS_RUN,
            gradient_method="mgda",
            config={SCRIPT: IMG, "nested": {IMG: SCRIPT}},
            tags=[SCRIPT, IMG],
            created_at=NOW - dt.timedelta(minutes=5),
        )
    )
    runs.append(RunCreate(run_id=XSS_RUN_2, gradient_method=IMG, created_at=NOW))
    repo.insert_runs(runs)
    for i in range(30):
        run_id = f"run-{i:03d}"
        repo.update_run_status(run_id, "running")
        method_bias = {"mgda": 0.0, "pcgrad": 0.05, "uniform": 0.1}[METHODS[i % 3]]
        repo.update_objective_metric(run_id, "hop", value=0.4 + method_bias + 0.01 * (i % 5))
        repo.update_objective_metric(run_id, "acc", value=0.8 - method_bias + 0.005 * (i % 4))
        if i % 10 == 9:
            repo.update_run_status(run_id, "failed", reason="CUDA out of memory")
            repo.attach_crash_data(
                run_id,
                CrashReportCreate(
                    error_type="torch.cuda.OutOfMemoryError",
                    message="CUDA out of memory. Tried to allocate 2.00 GiB",
                    excerpt="Traceback (most recent call last):\n  ...\nOutOfMemoryError",
                ),
            )
        elif i % 10 == 8:
            repo.update_run_status(run_id, "crashed", reason="heartbeat lost")
        elif i < 27:
            repo.update_run_status(
                run_id, "completed", final_metrics_json={"val/loss": 0.3 + 0.01 * i}
            )
    # run-027 stays running with an old heartbeat (the reaper would crash it); 028/029 above.
    repo.heartbeat("run-027", at=NOW - dt.timedelta(hours=3))
    repo.update_run_status(XSS_RUN, "failed", reason=SCRIPT)
    repo.attach_crash_data(
        XSS_RUN, CrashReportCreate(error_type=IMG, message=SCRIPT, excerpt=IMG + SCRIPT)
    )
    steps = list(range(HISTORY_POINTS))
    loss = [1.0 / (1 + s / 300) for s in steps]
    loss[SPIKE_STEP] = 50.0
    loss[NAN_STEP] = math.nan
    for i in (*range(6), *range(20, 26)):  # the oldest runs and some of the newest
        run_id = f"run-{i:03d}"
        repo.append_history(
            run_id,
            {
                "train/loss": (steps, [v * (1 + 0.05 * (i % 6)) for v in loss]),
                "val/acc": (steps[::10], [0.5 + s / 10000 for s in steps[::10]]),
            },
        )
    repo.append_history(XSS_RUN, {SCRIPT: ([0, 1, 2], [1.0, 2.0, 3.0])})
    return {"runs": len(runs)}

"""A simulated multi-task campaign, written through the public ``RunRepository`` API only.

Runs are spread over four gradient methods (mgda, pcgrad, imtlg, uniform) and three
objectives (hop, seg, depth). Most complete; some fail, one crashes with a crash report,
one is killed by a spot interruption, one loses its heartbeat and is reaped, one is still
running. Run ids are derived from ``seed``, so running the demo again on the same database
skips the runs it already wrote.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from mangodb.crash import classify, last_exception
from mangodb.dto import CrashReportCreate, ObjectiveCreate, RunCreate
from mangodb.repository import RunRepository

METHODS = ("mgda", "pcgrad", "imtlg", "uniform")
OBJECTIVES = (
    ObjectiveCreate(name="hop", metric="val/hop_loss", direction="min"),
    ObjectiveCreate(name="seg", metric="val/seg_miou", direction="max"),
    ObjectiveCreate(name="depth", metric="val/depth_abs_err", direction="min"),
)
# How much better than "uniform" each method does (a smaller loss factor is better).
_QUALITY = {"imtlg": 0.82, "pcgrad": 0.88, "mgda": 0.93, "uniform": 1.0}
_STEPS = 2000
_LOG_EVERY = 20
_OOM_LOG = """Traceback (most recent call last):
  File "train.py", line 212, in <module>
    loss.backward()
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.05 GiB total)
"""


@dataclass
class DemoResult:
    """What one demo run wrote (runs it skipped because they existed are not counted)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    run_id: str
    method: str
    batch_size: int
    seed: int
    fate: str  # completed, failed, crashed, terminated, stale, running
    created_at: dt.datetime


def _fates(count: int) -> list[str]:
    special = ["failed", "crashed", "terminated", "stale", "running", "failed"]
    fates = ["completed"] * count
    for index, fate in enumerate(special[: max(0, count - 4)]):
        fates[(index * 5 + 3) % count] = fate
    return fates


def _plans(count: int, seed: int, now: dt.datetime) -> list[_Plan]:
    rng = random.Random(seed)
    plans = []
    for index, fate in enumerate(_fates(count)):
        method = METHODS[index % len(METHODS)]
        batch_size = (64, 96)[(index // len(METHODS)) % 2]
        instance = "i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
        plans.append(
            _Plan(
                run_id=f"deco_hop_bs{batch_size}_{method}_{instance}",
                method=method,
                batch_size=batch_size,
                seed=index,
                fate=fate,
                created_at=now
                - dt.timedelta(hours=rng.uniform(4, 240) if fate != "running" else 1),
            )
        )
    return plans


def _curves(
    plan: _Plan, rng: random.Random, last_step: int
) -> dict[str, tuple[list[int], list[float]]]:
    quality = _QUALITY[plan.method] * (1.0 if plan.batch_size == 96 else 1.04)
    steps = list(range(0, last_step + 1, _LOG_EVERY))
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for key, start, end in (
        ("train/loss", 3.0, 0.35),
        ("val/hop_loss", 1.6, 0.42),
        ("val/depth_abs_err", 0.9, 0.31),
    ):
        values = [
            (end * quality + (start - end) * math.exp(-s / 400)) * (1 + rng.gauss(0, 0.015))
            for s in steps
        ]
        curves[key] = (steps, values)
    miou = [0.72 / quality * (1 - math.exp(-s / 500)) * (1 + rng.gauss(0, 0.01)) for s in steps]
    curves["val/seg_miou"] = (steps, miou)
    return curves


def _write_run(repo: RunRepository, plan: _Plan, rng: random.Random) -> None:
    repo.insert_run(
        RunCreate(
            run_id=plan.run_id,
            created_at=plan.created_at,
            gradient_method=plan.method,
            model_name="deco-small",
            dataset="nyuv2",
            batch_size=plan.batch_size,
            learning_rate=3e-4,
            seed=plan.seed,
            instance_id=plan.run_id.rsplit("_", 1)[1],
            instance_type="g5.xlarge",
            region="us-east-1",
            is_spot=True,
            git_commit="4f2c1e9",
            s3_prefix=f"s3://deco-runs/{plan.run_id}/",
            wandb_entity="deco",
            wandb_project="mtl-sweep",
            config={
                "model": {"name": "deco-small", "width": 256, "heads": ["hop", "seg", "depth"]},
                "data": {"dataset": "nyuv2", "batch_size": plan.batch_size, "augment": True},
                "optim": {"name": "adamw", "lr": 3e-4, "weight_decay": 0.01},
                "mtl": {"method": plan.method, "normalize_grads": plan.method != "uniform"},
                "trainer": {"steps": _STEPS, "amp": True, "seed": plan.seed},
            },
            tags=["demo", "baseline"] if plan.method == "uniform" else ["demo"],
            objectives=list(OBJECTIVES),
        )
    )
    wandb_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    last_step = {"failed": 340, "crashed": 1260, "terminated": 880, "stale": 1500}.get(
        plan.fate, _STEPS
    )
    started = plan.created_at + dt.timedelta(minutes=3)
    ended = started + dt.timedelta(minutes=last_step / 10)
    repo.update_run_status(
        plan.run_id,
        "running",
        wandb_run_id=wandb_id,
        host="ip-10-0-3-17",
        started_at=started,
        heartbeat_at=ended,
    )
    curves = _curves(plan, rng, last_step)
    repo.append_history(plan.run_id, curves)
    final = {key: values[-1] for key, (_, values) in curves.items()}
    for objective in OBJECTIVES:
        assert objective.metric is not None
        repo.update_objective_metric(
            plan.run_id, objective.name, final[objective.metric], step=last_step
        )
    if plan.fate == "completed":
        repo.update_run_status(
            plan.run_id,
            "completed",
            final_metrics={**final, "train/steps_per_s": 9.5 + rng.random()},
            total_training_steps=_STEPS,
            exit_code=0,
            ended_at=ended,
        )
    elif plan.fate == "failed":
        repo.update_run_status(
            plan.run_id,
            "failed",
            reason="exception in training loop",
            source="training",
            exit_code=1,
            total_training_steps=last_step,
            error_summary="ValueError: depth target has NaN at batch 17",
            ended_at=ended,
        )
    elif plan.fate == "crashed":
        repo.update_run_status(
            plan.run_id,
            "crashed",
            reason="process exited with 137",
            source="crash-notifier",
            ended_at=ended,
        )
        error_type, message = last_exception(_OOM_LOG)
        repo.attach_crash_data(
            plan.run_id,
            CrashReportCreate(
                error_log_s3_key=f"crashes/{plan.run_id}/error.log",
                crash_report_s3_key=f"crashes/{plan.run_id}/report.json",
                analysis_s3_key=f"crashes/{plan.run_id}/analysis.md",
                error_type=error_type,
                message=message,
                excerpt=_OOM_LOG,
                analysis_summary=f"classified as {classify(_OOM_LOG)}: lower the batch size",
            ),
        )
    elif plan.fate == "terminated":
        repo.update_run_status(
            plan.run_id,
            "terminated",
            reason="spot interruption notice",
            source="reconciler",
            ended_at=ended,
            details={
                "instance_state": "terminated",
                "state_reason": "Server.SpotInstanceTermination",
            },
        )
    elif plan.fate == "running":
        repo.heartbeat(plan.run_id)


def run_demo(repo: RunRepository, *, runs: int = 24, seed: int = 0) -> DemoResult:
    """Write the campaign (skipping runs already there) and reap the stale run."""
    now = dt.datetime.now(dt.timezone.utc)
    rng = random.Random(seed + 1)
    result = DemoResult()
    for plan in _plans(runs, seed, now):
        if repo.run_exists(plan.run_id):
            result.skipped.append(plan.run_id)
            continue
        _write_run(repo, plan, rng)
        result.written.append(plan.run_id)
    changes = repo.reap_stale_runs(dt.timedelta(minutes=30))
    result.reaped = [change.run_id for change in changes]
    return result

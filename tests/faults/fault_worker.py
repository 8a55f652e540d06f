"""One of many writer processes: ``python fault_worker.py URL INDEX OPS SHARED_RUNS DIR``.

Waits for ``DIR/go`` (after touching ``DIR/ready-INDEX``), then does OPS seeded random
operations: its own runs through legal and illegal transitions, races on the shared runs,
heartbeats, objectives, and history through a buffered writer. It prints one JSON line of
everything the database acknowledged (and every refusal it saw); any other error escapes and
fails the process.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

TERMINAL = ("completed", "failed", "crashed", "terminated")


def main(url: str, index: int, ops: int, shared: list[str], directory: Path) -> dict[str, Any]:
    from mangodb import InvalidTransition, ObjectiveCreate, RunCreate, RunRepository

    rng = random.Random(f"worker:{index}")
    repo = RunRepository.connect(url, source=f"worker-{index}")
    history_run = f"w{index}-history"
    repo.insert_run(RunCreate(run_id=history_run, status="running"))
    (directory / f"ready-{index}").touch()
    while not (directory / "go").exists():
        time.sleep(0.01)

    status: dict[str, str] = {}  # own run -> last acknowledged status
    refused: list[list[str]] = []  # [run_id, attempted status]
    shared_won: list[list[str]] = []
    heartbeats: list[str] = []
    objectives: dict[str, float] = {}  # "run_id/name" -> value
    history_steps = 0
    with repo.history_writer(history_run, flush_every=25, flush_seconds=0.5) as writer:
        for op in range(ops):
            kind = rng.choice(["insert", "advance", "illegal", "shared", "heartbeat",
                               "objective", "history", "history"])  # fmt: skip
            own = sorted(status)
            if kind == "insert" or not own:
                run_id = f"w{index}-r{op:05d}"
                repo.insert_run(RunCreate(run_id=run_id, config={"worker": index, "op": op}))
                status[run_id] = "launched"
            elif kind == "advance":
                run_id = rng.choice(own)
                if status[run_id] in TERMINAL:
                    continue
                target = "running" if status[run_id] == "launched" else rng.choice(TERMINAL)
                repo.update_run_status(run_id, target, reason=f"op {op}")
                status[run_id] = target
            elif kind == "illegal":
                run_id = rng.choice(own)
                current = status[run_id]
                if current in TERMINAL:  # terminal is final (no force here)
                    target = rng.choice(["launched", "running",
                                         *[t for t in TERMINAL if t != current]])  # fmt: skip
                elif current == "running":
                    target = "launched"
                else:
                    continue  # launched may move anywhere: nothing illegal to try
                try:
                    repo.update_run_status(run_id, target, reason=f"illegal op {op}")
                except InvalidTransition:
                    refused.append([run_id, target])
                else:
                    raise AssertionError(f"{run_id}: {current} -> {target} was allowed")
            elif kind == "shared":
                run_id = rng.choice(shared)
                target = rng.choice(TERMINAL)
                try:
                    repo.update_run_status(run_id, target, expected_status="running",
                                           reason=f"worker {index}")  # fmt: skip
                    shared_won.append([run_id, target])
                except InvalidTransition:
                    refused.append([run_id, target])
            elif kind == "heartbeat":
                run_id = rng.choice([*own, *shared])
                repo.heartbeat(run_id)
                heartbeats.append(run_id)
            elif kind == "objective":
                run_id = rng.choice(own)
                name = f"o{op}"
                value = rng.uniform(-1e6, 1e6)
                repo.insert_objective(run_id, ObjectiveCreate(name=name, metric=name))
                repo.update_objective_metric(run_id, name, value, step=op)
                objectives[f"{run_id}/{name}"] = value
            else:
                writer.log({"loss": float(history_steps) / 3, "op": float(op)},
                           step=history_steps)  # fmt: skip
                history_steps += 1
    # Leaving the block flushed every logged row (it raises otherwise).
    return {"index": index, "status": status, "refused": refused, "shared_won": shared_won,
            "heartbeats": heartbeats, "objectives": objectives, "history_run": history_run,
            "history_steps": history_steps}  # fmt: skip


if __name__ == "__main__":
    result = main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]),
                  Path(sys.argv[5]))  # fmt: skip
    print(json.dumps(result))

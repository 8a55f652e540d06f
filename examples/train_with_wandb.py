"""Train a tiny model with W&B logging, mirrored into mangodb. Runs offline in seconds:

    WANDB_MODE=offline python examples/train_with_wandb.py

Compared with plain W&B code only two lines change (marked ``# mangodb``): the import, and the
``with track(...)`` around the training loop. The database comes from ``MANGODB_URL`` (default
``./mangodb.sqlite3``); afterwards ``mangodb runs show <run id>`` shows the run.
"""

from __future__ import annotations

import argparse
import math
import os
import random

import wandb

from mangodb.integrations.wandb import track  # mangodb


def train(steps: int, lr: float) -> None:
    """Fit y = 3x - 1 with SGD; log train and validation metrics like any W&B script."""
    rng = random.Random(0)
    w, b = 0.0, 0.0
    data = [(x, 3 * x - 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(256))]
    for step in range(steps):
        x, y = data[step % len(data)]
        error = w * x + b - y
        w, b = w - lr * 2 * error * x, b - lr * 2 * error
        wandb.log({"train/loss": error**2, "train/w": w, "train/b": b}, commit=False)
        if step % 50 == 0:
            val = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
            wandb.log({"val/loss": val, "val/rmse": math.sqrt(val)}, commit=False)
        wandb.log({"lr": lr})  # commits the step's row
    wandb.run.summary["final/w"] = w  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--dir", default=".", help="where W&B writes its ./wandb directory")
    parser.add_argument("--run-id", default=None, help="mangodb run id (default: W&B's id)")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")

    run = wandb.init(project="mangodb-example", dir=args.dir, config={"lr": args.lr})
    with track(run, os.environ.get("MANGODB_URL"), args.run_id):  # mangodb
        train(args.steps, args.lr)
    run.finish()
    print(f"mangodb run {args.run_id or run.id}: mirrored {args.steps} steps")


if __name__ == "__main__":
    main()

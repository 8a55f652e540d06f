"""A training process for the W&B crash tests (run as a subprocess).

    python train.py DIR DB_URL RUN_ID STEPS MODE
MODE ``sigkill``: after STEPS steps, wait for wandb-core to flush its file, then SIGKILL
itself. MODE ``sigterm``: after STEPS steps print "ready" and idle until a signal arrives;
``sigterm-chained`` does the same with a SIGTERM handler of its own installed first (it
prints "previous handler" and exits 7).
The history writer flushes inline every 100 rows (never by time), so what mangodb holds
is exact.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import wandb

from mangodb.integrations.wandb import track

root, url, run_id, steps, mode = (
    sys.argv[1],
    sys.argv[2],
    sys.argv[3],
    int(sys.argv[4]),
    sys.argv[5],
)
if mode == "sigterm-chained":

    def previous(signum: int, frame: object) -> None:
        print("previous handler", flush=True)
        sys.exit(7)

    signal.signal(signal.SIGTERM, previous)

run = wandb.init(
    project="mangodb-crash",
    dir=root,
    config={"lr": 0.1},
    settings=wandb.Settings(x_transaction_log_flush_interval=0.5),
)
with track(run, url, run_id, flush_every=100, flush_seconds=3600.0, background_flush=False):
    for step in range(steps):
        wandb.log({"loss": 1.0 / (step + 1), "phase": f"epoch-{step // 100}"})
    if mode == "sigkill":
        time.sleep(2.0)  # wandb-core flushes its log every 0.5 s: the file gets every row
        os.kill(os.getpid(), signal.SIGKILL)
    print("ready", flush=True)
    while True:
        time.sleep(0.05)

"""A training process for kill -9 tests: ``python fault_writer.py URL RUN_ID ACK_FILE BLOCK``.

It logs rows of ``KEYS`` through a history writer and asks for an explicit flush every
``BLOCK`` rows; after each flush that returned, it appends the number of rows now stored to
ACK_FILE and fsyncs it. So ACK_FILE holds only what the database acknowledged, and survives a
SIGKILL at any moment.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import struct
import sys

KEYS = ("loss", "grad_norm", "lr")


def value(step: int, key: str) -> float:
    """Arbitrary float bits per (step, key): any rounding or mix-up changes them."""
    if step % 97 == 0:
        return -0.0
    if step % 89 == 0:
        return 5e-324
    bits = random.Random(f"{key}:{step}").getrandbits(64)
    number: float = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
    return math.nan if math.isnan(number) else number


def main(url: str, run_id: str, ack_path: str, block: int) -> None:
    from mangodb import RunAlreadyExists, RunCreate, RunRepository

    repo = RunRepository.connect(url)
    with contextlib.suppress(RunAlreadyExists):
        repo.insert_run(RunCreate(run_id=run_id, status="running"))
    ack = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    writer = repo.history_writer(run_id, flush_every=10**9, flush_seconds=1e9)
    step = 0
    while True:
        for _ in range(block):
            writer.log({key: value(step, key) for key in KEYS}, step=step)
            step += 1
        writer.flush()
        os.write(ack, f"{step}\n".encode())
        os.fsync(ack)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

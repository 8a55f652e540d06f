"""W&B integration benchmark (offline wandb, temporary SQLite files; medians).

1. Mirror overhead per ``log`` call: blocks of plain ``run.log`` calls alternate with blocks
   mirrored (class hook + commit rules + buffered history writer into SQLite, flushes
   included), in the same wandb run; the overhead is the difference of the per-call medians.
2. ``.wandb`` import: a run of KEYS x STEPS is logged once, then read by our reader alone and
   imported into a fresh SQLite database (``import_run``), REPEAT times: points per second.

    python benchmarks/wandb_mirror.py            # 50 keys, 5 x 2000 calls, 50 x 20000 import
    python benchmarks/wandb_mirror.py --quick    # small, for a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def log_block(run: Any, calls: int, keys: list[str], start: int) -> float:
    began = time.perf_counter()
    for i in range(start, start + calls):
        run.log({k: i * 0.001 + j for j, k in enumerate(keys)})
    return (time.perf_counter() - began) / calls


def bench_mirror(root: Path, keys: int, calls: int, blocks: int) -> None:
    import wandb

    from mangodb import RunRepository
    from mangodb.integrations.wandb import mirror as hook
    from mangodb.integrations.wandb import track

    names = [f"metric/{k}" for k in range(keys)]
    repo = RunRepository.connect(f"sqlite:///{root / 'mirror.sqlite3'}")
    run = wandb.init(project="mangodb-bench", dir=str(root))
    tracker = track(run, repo, "bench")  # the defaults users get (background flushing)
    tracker.start()
    log_block(run, 200, names, 0)  # warm up
    plain: list[float] = []
    mirrored: list[float] = []
    step = 200
    for _ in range(blocks):
        hook.uninstall(run)
        plain.append(log_block(run, calls, names, step))
        step += calls
        hook.install(run, tracker._mirror)
        mirrored.append(log_block(run, calls, names, step))
        step += calls
    tracker.complete()
    run.finish()
    stored = repo.history_keys("bench")[names[0]]
    repo.close()
    p, m = statistics.median(plain), statistics.median(mirrored)
    print(f"log() with {keys} keys, {blocks} blocks x {calls} calls each way")
    print(f"  plain run.log        median {p * 1e6:8.1f} us/call  (blocks: {_us(plain)})")
    print(f"  mirrored run.log     median {m * 1e6:8.1f} us/call  (blocks: {_us(mirrored)})")
    share = 100 * (m - p) / p
    print(f"  mirror overhead      {(m - p) * 1e6:8.1f} us/call  = {share:.1f}% of run.log")
    print(f"  ({stored} rows of {names[0]} stored: every mirrored call of the run)")
    # The deterministic part, without wandb's noise: what the training thread pays per call.
    payloads = [{k: i * 0.001 + j for j, k in enumerate(names)} for i in range(calls)]
    rows: list[Any] = []
    mirror = hook.Mirror(lambda s, r: rows.append(r))
    began = time.perf_counter()
    for data in payloads:
        mirror.observe(data)
    alone = (time.perf_counter() - began) / calls
    with RunRepository.connect(f"sqlite:///{root / 'buffer.sqlite3'}") as repo2:
        repo2.insert_run(run_id="buffer")
        writer = repo2.history_writer("buffer", flush_every=1 << 62, flush_seconds=1e9)
        mirror = hook.Mirror(lambda s, r: writer.log(r, step=s))
        began = time.perf_counter()
        for data in payloads:
            mirror.observe(data)
        buffered = (time.perf_counter() - began) / calls
        began = time.perf_counter()
        writer.close()
        flushed = (time.perf_counter() - began) / calls
    buffer = (buffered - alone) * 1e6
    print(f"  training-thread cost: commit rules {alone * 1e6:.1f} us/call, writer buffer "
          f"{buffer:.1f} us/call; background flush {flushed * 1e6:.1f} us/row")  # fmt: skip


def _us(values: list[float]) -> str:
    return ", ".join(f"{v * 1e6:.0f}" for v in values)


def make_run(root: Path, keys: int, steps: int) -> Path:
    import wandb

    run = wandb.init(project="mangodb-bench", dir=str(root))
    names = [f"metric/{k}" for k in range(keys)]
    for i in range(steps):
        run.log({k: i * 0.001 + j for j, k in enumerate(names)})
    run.finish()
    from mangodb.integrations.wandb.logfile import read_run_log

    (path,) = root.glob("wandb/offline-run-*/run-*.wandb")
    deadline = time.monotonic() + 60
    while not read_run_log(path).has_exit and time.monotonic() < deadline:
        time.sleep(0.2)
    return path


def bench_import(root: Path, keys: int, steps: int, repeat: int) -> None:
    from mangodb import RunRepository
    from mangodb.integrations.wandb import import_run
    from mangodb.integrations.wandb.logfile import read_run_log

    began = time.perf_counter()
    path = make_run(root / "run", keys, steps)
    print(f"logged {keys} keys x {steps} steps in {time.perf_counter() - began:.1f} s "
          f"({path.stat().st_size / 1e6:.1f} MB .wandb)")  # fmt: skip
    read_times, import_times = [], []
    points = 0
    for i in range(repeat):
        began = time.perf_counter()
        points = read_run_log(path).points
        read_times.append(time.perf_counter() - began)
        with RunRepository.connect(f"sqlite:///{root / f'import-{i}.sqlite3'}") as repo:
            began = time.perf_counter()
            import_run(repo, path)
            import_times.append(time.perf_counter() - began)
    r, m = statistics.median(read_times), statistics.median(import_times)
    print(f".wandb import of {points} points (incl. _runtime/_timestamp), {repeat} repeats")
    print(f"  reader only          median {r:6.2f} s  {points / r:10,.0f} points/s")
    print(f"  import into SQLite   median {m:6.2f} s  {points / m:10,.0f} points/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    keys = 50
    calls, blocks = (300, 3) if args.quick else (2000, 5)
    import_keys, steps, repeat = (20, 1000, 2) if args.quick else (50, 20000, 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench_mirror(root, keys, calls, blocks)
        bench_import(root, import_keys, steps, repeat)


if __name__ == "__main__":
    main()

"""Measure what docs/storage.md quotes: bytes per run and per history point, on SQLite and
PostgreSQL. Usage: ``python docs/measure_storage.py [--pg postgresql://...] [--runs 2000]``."""

from __future__ import annotations

import argparse
import random
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from mangodb import ObjectiveCreate, RunCreate, RunRepository


def config(i: int, width: int) -> dict[str, object]:
    """A nested training config with ``width`` leaves (what launch scripts record)."""
    groups = ("model", "data", "optim", "trainer", "mtl", "aug")
    doc: dict[str, dict[str, object]] = {g: {} for g in groups}
    for k in range(width):
        doc[groups[k % len(groups)]][f"param_{k}"] = (0.001 * k + i) if k % 3 else f"value-{k}"
    return dict(doc)


def fill(repo: RunRepository, runs: int, width: int, tag: str) -> list[str]:
    ids = [f"{tag}_{i:06d}" for i in range(runs)]
    repo.insert_runs(
        RunCreate(
            run_id=run_id,
            config=config(i, width),
            gradient_method=("mgda", "pcgrad", "imtlg", "uniform")[i % 4],
            batch_size=96,
            instance_id=f"i-0{uuid.uuid4().hex[:16]}",
            objectives=[ObjectiveCreate(name=n) for n in ("hop", "seg", "depth")],
        )
        for i, run_id in enumerate(ids)
    )
    for run_id in ids[: max(1, runs // 10)]:  # a tenth with a full lifecycle and metrics
        repo.update_run_status(run_id, "running")
        repo.update_run_status(
            run_id, "completed", final_metrics={f"m{k}": random.random() for k in range(10)}
        )
    return ids


def size(repo: RunRepository, sqlite_file: Path | None) -> int:
    if sqlite_file is not None:
        with repo.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return sqlite_file.stat().st_size
    with repo.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
                )
            ).scalar_one()
        )


def measure(url: str, sqlite_file: Path | None, runs: int) -> None:
    with RunRepository.connect(url) as repo:
        base = size(repo, sqlite_file)
        for width in (20, 300):
            before = size(repo, sqlite_file)
            fill(repo, runs, width, f"w{width}")
            after = size(repo, sqlite_file)
            print(f"  run with {width:>3}-leaf config: {(after - before) / runs:8.0f} bytes/run")
        before = size(repo, sqlite_file)
        steps = list(range(20_000))
        rng = random.Random(0)
        for run_id in [f"w20_{i:06d}" for i in range(5)]:
            repo.append_history(
                run_id,
                {k: (steps, [rng.random() for _ in steps]) for k in ("loss", "acc", "lr", "gn")},
            )
        points = 5 * 4 * len(steps)
        after = size(repo, sqlite_file)
        print(f"  history (random floats):  {(after - before) / points:8.1f} bytes/point")
        print(f"  empty schema:             {base:8d} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (a scratch schema is used)")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "size.sqlite3"
        print("SQLite")
        measure(f"sqlite:///{path}", path, args.runs)
    if args.pg:
        schema = f"size_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            print("PostgreSQL")
            sep = "&" if "?" in args.pg else "?"
            measure(f"{args.pg}{sep}options=-csearch_path%3D{schema}", None, args.runs)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()

"""Benchmark of ``RunRepository.history_by_method`` against pandas computing the same curves.

Workload: ``--runs`` runs (default 100; 4 gradient methods, the seeds split among them) with
``--points`` points (default 100,000) of ``train/loss`` each, plus three other keys of 10,000
points (so the store holds more than the key read). Seeds stop at different steps (the last
quarter of the runs stops at 80%), a few points are NaN and one run has a spike.

For SQLite (a temporary file) and PostgreSQL (``--pg-url``; a database of its own,
``mangodb_bench_curves``, created and dropped here) it times, as the median of ``--repeats``:

* mangodb   ``history_by_method("train/loss", max_points=1000)`` (numpy path);
* pandas    the same figures from ``get_history_many`` (one query, the fastest public read)
            turned into a DataFrame: bucket, mean per run and bucket, then mean, std, min,
            max and count per method and bucket (checked equal to mangodb's);
* python    ``--python``: mangodb's pure-Python path (no numpy), once.

Run: ``python benchmarks/curves.py [--runs 100] [--points 100000] [--pg-url URL]``.
Goal (issue 14): at most 300 ms on either database.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from mangodb import MethodCurves, RunCreate, RunRepository
from mangodb.history.downsample import bucket_edges
from mangodb.runs import curves

KEY = "train/loss"
METHODS = ("cagrad", "mgda", "pcgrad", "uniform")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "mangodb_bench_curves"
GOAL_MS = 300


def fill(repo: RunRepository, runs: int, points: int) -> list[str]:
    rng = np.random.default_rng(14)
    run_ids = []
    for index in range(runs):
        method = METHODS[index % len(METHODS)]
        run_id = f"{method}-{index:03d}"
        repo.insert_run(RunCreate(run_id=run_id, gradient_method=method, config={"seed": index}))
        length = points if index < runs * 3 // 4 else points * 4 // 5
        steps = np.arange(length)
        loss = 2.0 * np.exp(-steps / (points / 5)) + rng.normal(0, 0.02, length)
        loss[rng.integers(0, length, 5)] = math.nan
        if index == 7:
            loss[length // 3] = 50.0  # one seed diverges for one step
        others = np.arange(0, length, max(1, length // 10_000))
        repo.append_history(
            run_id,
            {
                KEY: (steps.tolist(), loss.tolist()),
                "lr": (others.tolist(), [1e-3] * len(others)),
                "val/loss": (others.tolist(), rng.random(len(others)).tolist()),
                "grad_norm": (others.tolist(), rng.random(len(others)).tolist()),
            },
        )
        run_ids.append(run_id)
    return run_ids


def with_pandas(repo: RunRepository, run_ids: list[str], max_points: int) -> dict[str, Any]:
    """The figures of ``history_by_method`` computed with pandas from one public read."""
    series = repo.get_history_many(run_ids, KEY)
    frame = pd.DataFrame(
        {
            "run": np.repeat(list(series), [len(s.steps) for s in series.values()]),
            "step": np.concatenate([np.asarray(s.steps, dtype=np.int64) for s in series.values()]),
            "value": np.concatenate([np.asarray(s.values, dtype=float) for s in series.values()]),
        }
    )
    frame["method"] = frame["run"].str.split("-").str[0]
    first, last = int(frame["step"].min()), int(frame["step"].max())
    steps = np.sort(frame["step"].unique())
    if len(steps) > max_points:
        edges = np.asarray(bucket_edges(first, last, max_points))
        bucket = np.searchsorted(edges, frame["step"].to_numpy(), side="right")
    else:
        bucket = np.searchsorted(steps, frame["step"].to_numpy(), side="right")
    frame["bucket"] = bucket
    per_run = frame.groupby(["method", "bucket", "run"]).agg(
        mean=("value", "mean"), low=("value", "min"), high=("value", "max")
    )
    per_bucket = per_run.groupby(level=["method", "bucket"]).agg(
        mean=("mean", "mean"),
        std=("mean", "std"),
        count=("mean", "count"),
        min=("low", "min"),
        max=("high", "max"),
    )
    return {
        method: per_bucket.loc[method] for method in per_bucket.index.get_level_values(0).unique()
    }


def check_same(result: MethodCurves, frames: dict[str, Any]) -> None:
    for curve in result.curves:
        expected = frames[curve.method]
        assert len(expected) == len(curve.steps), (curve.method, len(expected), len(curve.steps))
        assert list(expected["count"]) == list(curve.count)
        assert np.allclose(
            expected["mean"], [np.nan if v is None else v for v in curve.mean], equal_nan=True
        )
        assert np.allclose(
            expected["max"], [np.nan if v is None else v for v in curve.max], equal_nan=True
        )


def median_ms(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


@contextmanager
def sqlite_repo() -> Iterator[RunRepository]:
    with tempfile.TemporaryDirectory() as directory:
        repo = RunRepository.connect(f"sqlite:///{Path(directory) / 'curves.sqlite3'}")
        try:
            yield repo
        finally:
            repo.close()


@contextmanager
def postgres_repo(admin: URL) -> Iterator[RunRepository]:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    repo = RunRepository.connect(admin.set(database=DATABASE))
    try:
        yield repo
    finally:
        repo.close()
        with engine.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        engine.dispose()


def bench(name: str, repo: RunRepository, args: argparse.Namespace) -> None:
    start = time.perf_counter()
    run_ids = fill(repo, args.runs, args.points)
    print(f"{name}: stored {args.runs} runs x {args.points:,} points in {time.perf_counter() - start:.1f} s")
    ours, result = median_ms(
        lambda: repo.history_by_method(KEY, max_points=args.max_points), args.repeats
    )
    theirs, frames = median_ms(lambda: with_pandas(repo, run_ids, args.max_points), args.repeats)
    check_same(result, frames)
    steps = max(len(c.steps) for c in result.curves)
    verdict = "met" if ours <= GOAL_MS else "MISSED"
    print(
        f"{name}: history_by_method {ours:.0f} ms (median of {args.repeats}; {steps} steps per "
        f"curve; goal {GOAL_MS} ms {verdict}) | pandas from get_history_many {theirs:.0f} ms | "
        f"ratio {theirs / ours:.1f}x"
    )
    if args.python:
        curves.numpy.cache_clear()
        original = curves.numpy
        curves.numpy = lambda: None  # type: ignore[assignment]
        try:
            slow, _ = median_ms(lambda: repo.history_by_method(KEY, max_points=args.max_points), 1)
        finally:
            curves.numpy = original
        print(f"{name}: pure-Python path {slow:.0f} ms (once)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--max-points", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--python", action="store_true", help="also time the pure-Python path")
    args = parser.parse_args()
    if not args.no_sqlite:
        with sqlite_repo() as repo:
            bench("sqlite", repo, args)
    if not args.no_pg:
        with postgres_repo(make_url(args.pg_url)) as repo:
            bench("postgresql", repo, args)


if __name__ == "__main__":
    main()

"""Analysis benchmark: ``RunRepository.method_report`` at 100,000 runs with 9 objectives each
(900,000 objective values, 9 gradient methods), on SQLite and (with --pg-url) PostgreSQL,
beside pandas computing the same means, standard deviations, Δm% and mean ranks from
``repo.runs_frame()`` in the same process.

    python benchmarks/analysis.py [--quick] [--runs N] [--pg-url postgresql+psycopg://user@host/db]
    python benchmarks/analysis.py --keep analysis ...   # seed once, then reuse

Prints medians. Goals (issue 14): method_report <= 100 ms on PostgreSQL, <= 500 ms on SQLite.
"With statistics" is the report as users get it with scipy installed (Welch p-values, t
intervals, Δm bootstrap); "without" is the same call with scipy absent (means, Δm, ranks,
Pareto only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import scratch_schema
from scale import seeded as seeded_with

from mangodb import ObjectiveCreate, RunCreate, RunRepository
from mangodb.runs import method_deltas, method_maths

METHODS = ("stl", "ls", "mgda", "pcgrad", "cagrad", "imtl", "nash_mtl", "famo", "graddrop")
OBJECTIVES = (
    ("miou", "max", 0.38),
    ("pix_acc", "max", 0.64),
    ("abs_err", "min", 0.68),
    ("rel_err", "min", 0.28),
    ("angle_mean", "min", 25.0),
    ("angle_median", "min", 19.2),
    ("within_11", "max", 0.30),
    ("within_22", "max", 0.57),
    ("within_30", "max", 0.69),
)
GOALS_MS = {"postgresql": 100.0, "sqlite": 500.0}


def run_creates(n: int) -> Iterator[RunCreate]:
    objectives = [ObjectiveCreate(name=name, direction=d) for name, d, _ in OBJECTIVES]  # type: ignore[arg-type]
    for i in range(n):
        yield RunCreate(
            run_id=f"bench-{i:07d}",
            status="completed",
            gradient_method=METHODS[i % len(METHODS)],
            objectives=objectives,
        )


def seed(url: URL, n: int) -> float:
    """The runs through the bulk path; then every objective value in one UPDATE per objective
    (a pseudo-random spread around its typical value, different per method)."""
    started = time.perf_counter()
    with RunRepository.connect(url) as repo:
        repo.insert_runs(run_creates(n), batch_size=2000)
        with repo.engine.begin() as connection:
            for k, (name, _, typical) in enumerate(OBJECTIVES):
                connection.execute(
                    text(
                        "UPDATE run_objectives SET value = :typical * (0.9 + "
                        "((run_pk * 7919 + :k * 104729) % 1000) / 5000.0 + "
                        "(run_pk % 9) / 50.0) WHERE name = :name"
                    ),
                    {"typical": typical, "k": k, "name": name},
                )
            method_deltas.fold(connection)  # a raw bulk load folds the sums' deltas (0010)
        if repo.dialect == "postgresql":
            with repo.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        else:
            with repo.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def median_ms(work: Callable[[], object], repeat: int) -> float:
    work()  # warm the caches and the plans
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def pandas_report(repo: RunRepository) -> Callable[[], object]:
    """The same figures (per-method mean, std, n; Δm% against stl; mean rank) with pandas,
    from the runs' frame (fetching the frame included)."""
    columns = ["gradient_method", *(f"objective.{name}" for name, _, _ in OBJECTIVES)]
    signs = {f"objective.{name}": (-1.0 if d == "max" else 1.0) for name, d, _ in OBJECTIVES}

    def work() -> Any:
        frame = repo.runs_frame(columns=columns)
        grouped = frame.groupby("gradient_method")
        means = grouped.mean(numeric_only=True)
        grouped.std(numeric_only=True)
        grouped.count()
        base = means.loc["stl"]
        delta = ((means - base) / base * [signs[c] for c in means.columns]).mean(axis=1) * 100
        others = means.drop(index="stl") * [signs[c] for c in means.columns]
        ranks = others.rank(method="average").mean(axis=1)
        return delta, ranks

    return work


def measure(url: URL, n: int, repeat: int, with_pandas: bool = True) -> dict[str, float]:
    with RunRepository.connect(url) as repo:
        report = repo.method_report("stl")
        assert len(report.rows) == len(METHODS) and report.rows[0].runs >= n // len(METHODS)
        figures = {
            "method_report, with statistics": median_ms(lambda: repo.method_report("stl"), repeat)
        }
        with mock.patch.object(method_maths, "scipy_stats", return_value=None):
            figures["method_report, without scipy"] = median_ms(
                lambda: repo.method_report("stl"), repeat
            )
        try:
            if not with_pandas:
                raise ImportError
            import pandas  # noqa: F401
        except ImportError:
            print("    pandas: skipped (--skip-pandas, or pip install 'mangodb[pandas]')")
        else:
            work = pandas_report(repo)
            delta, _ = work()
            ours = {row.method: row.delta_m for row in report.rows}
            assert all(abs(ours[m] - delta[m]) < 1e-6 for m in METHODS), "pandas disagrees"
            figures["pandas from runs_frame()"] = median_ms(work, max(1, repeat // 3))
        return figures


def show(dialect: str, figures: dict[str, float]) -> None:
    goal = GOALS_MS[dialect]
    ours = figures["method_report, with statistics"]
    for name, ms in figures.items():
        verdict = ""
        if name.startswith("method_report"):
            verdict = f"  (goal <= {goal:.0f} ms: " + ("met)" if ms <= goal else "MISSED)")
        elif ours:
            verdict = f"  ({ms / ours:.1f}x method_report)"
        print(f"    {name:<34} median {ms:9.1f} ms{verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 runs, to try the script")
    parser.add_argument("--pg-url", help="an empty-able PostgreSQL database (a schema is made)")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--skip-pandas", action="store_true", help="method_report only")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the seeded databases (PostgreSQL schema bench_keep_analysis_NAME, SQLite "
        "file mangodb-analysis-NAME.sqlite3 in the temporary directory) and reuse them",
    )
    args = parser.parse_args(argv)
    if args.keep and not args.keep.isidentifier():
        parser.error("--keep takes a name made of letters, digits and underscores")
    if args.quick:
        args.runs, args.repeat = 10_000, 5
    print(f"method_report at {args.runs:,} runs x {len(OBJECTIVES)} objectives, "
          f"{len(METHODS)} methods")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mangodb-analysis-") as tmp:
        kept = Path(tempfile.gettempdir()) / f"mangodb-analysis-{args.keep}.sqlite3"
        path = kept if args.keep else Path(tmp) / "analysis.sqlite3"
        url = URL.create("sqlite", database=str(path))
        if not args.skip_sqlite:
            print(f"  SQLite ({seeded_with(url, args.runs, seed)})")
            show("sqlite", measure(url, args.runs, args.repeat, not args.skip_pandas))
    if args.pg_url:
        with scratch_schema(make_url(args.pg_url), args.keep and f"analysis_{args.keep}") as url:
            print(f"  PostgreSQL ({seeded_with(url, args.runs, seed)})")
            show("postgresql", measure(url, args.runs, args.repeat, not args.skip_pandas))


if __name__ == "__main__":
    main()

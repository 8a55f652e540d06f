"""Scale benchmark: the common questions at 100,000 runs, and the SQLite → PostgreSQL copy.

    python benchmarks/scale.py                      # 100,000 runs, both dialects, 10,000-run copy
    python benchmarks/scale.py --quick              # a small run to check the script works
    python benchmarks/scale.py --runs 20000 --pg-url postgresql://postgres@127.0.0.1/test
    python benchmarks/scale.py --keep scale --skip copy --skip mlflow   # seed once, then reuse

Seeds N runs (300-attribute configs, 3 objectives with values, final metrics) through the bulk
path, then prints the median of 20 timings for each query on SQLite and PostgreSQL, beside the
targets. Then copies a database of ``--copy-runs`` runs (``--history-runs`` of them with
``--points`` history points each) from SQLite to PostgreSQL with ``mangodb db copy``'s engine
and prints runs/s and points/s. MLflow's ``search_runs`` for the same filter is timed when
``import mlflow`` works, at ``--mlflow-runs`` runs (MLflow logs a few runs a second with 300
params each, so 100,000 would take hours) beside mangodb at the same size. PostgreSQL work
happens in a scratch schema that is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import URL, make_url

from mangodb import RunCreate, RunRepository
from mangodb.db.models import Run, RunMetric, RunObjective
from mangodb.dto import ObjectiveCreate
from mangodb.runs import method_deltas, planning
from mangodb.transfer import copy_database

METHODS = ("mgda", "pcgrad", "cagrad", "nash_mtl", "famo", "linear")
STATUSES = ("completed",) * 12 + ("failed",) * 3 + ("crashed",) * 2 + ("running", "launched")
GROUPS = 30  # x 10 keys = 300 config attributes
TARGETS_MS = {
    ("postgresql", "filtered first page"): 20.0,
    ("postgresql", "compare_gradient_methods"): 50.0,
    ("sqlite", "filtered first page"): 100.0,
}
FILTER = {
    "status": "completed",
    "gradient_method": "mgda",
    "config": {"data.batch_size": 96},
    "metrics": {"val/loss": ("<", 0.5)},
}


def config_of(rng: random.Random, i: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        f"group_{g:02d}": {f"int_{k}": rng.randrange(1000) for k in range(3)}
        | {f"float_{k}": rng.random() for k in range(3)}
        | {f"name_{k}": f"value-{rng.randrange(50)}" for k in range(3)}
        | {"flag": bool(i % 2)}
        for g in range(GROUPS - 1)
    }
    config["data"] = {
        "batch_size": (32, 64, 96, 128)[rng.randrange(4)],
        "dataset": "nyuv2",
        "augment": bool(rng.randrange(2)),
        "workers": 8,
        "crop": [288, 384],
        "root": f"s3://bucket/data/{i % 10}",
        "shuffle": True,
        "seed": i,
        "split": "train",
        "cache": False,
    }
    return config


def run_creates(n: int, seed: int = 7) -> Iterator[RunCreate]:
    rng = random.Random(seed)
    objectives = [
        ObjectiveCreate(name="hop", metric="val/hop", direction="min"),
        ObjectiveCreate(name="seg", metric="val/seg", direction="max"),
        ObjectiveCreate(name="depth", metric="val/depth", direction="min"),
    ]
    for i in range(n):
        yield RunCreate(
            run_id=f"bench-{i:07d}",
            status=STATUSES[rng.randrange(len(STATUSES))],
            gradient_method=METHODS[rng.randrange(len(METHODS))],
            batch_size=(32, 64, 96, 128)[i % 4],
            learning_rate=10.0 ** -rng.randrange(1, 5),
            config=config_of(rng, i),
            objectives=objectives,
        )


def seed(url: URL, n: int) -> float:
    """Insert ``n`` runs with the bulk path; objective values and final metrics are set with
    executemany (RunRepository has no bulk call for them). Returns seconds."""
    started = time.perf_counter()
    rng = random.Random(11)
    with RunRepository.connect(url) as repo:
        repo.insert_runs(run_creates(n), batch_size=1000)
        engine = repo.engine
        with engine.begin() as connection:
            pks = [row[0] for row in connection.execute(text("SELECT id FROM runs ORDER BY id"))]
            for start in range(0, len(pks), 5000):
                chunk = pks[start : start + 5000]
                connection.execute(
                    insert(RunMetric),
                    [
                        {"run_pk": pk, "key": key, "value": rng.random(), "kind": 0}
                        for pk in chunk
                        for key in ("val/loss", "val/acc", "train/loss")
                    ],
                )
                for name in ("hop", "seg", "depth"):
                    connection.execute(
                        update(RunObjective)
                        .where(RunObjective.run_pk == text(":pk"), RunObjective.name == name)
                        .values(value=text(":v")),
                        [{"pk": pk, "v": rng.random()} for pk in chunk],
                    )
            method_deltas.fold(connection)  # a raw bulk load folds the sums' deltas (0010)
            if engine.dialect.name != "postgresql":
                connection.execute(text("ANALYZE"))
        if engine.dialect.name == "postgresql":
            # The bulk UPDATEs above leave a dead version of every objective row: vacuum as
            # autovacuum would (the visibility map also lets objectives be read index-only).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def seeded(url: URL, n: int, fill: Callable[[URL, int], float] | None = None) -> str:
    """Seed ``url`` with ``fill`` (this script's ``seed`` by default) unless it already holds
    ``n`` runs (a database kept by ``--keep``)."""
    with RunRepository.connect(url) as repo:
        have = repo.count_runs()
    if have == n:
        return f"reused, {n:,} runs"
    if have:
        raise SystemExit(f"{mask(url)} holds {have:,} runs, not {n:,}: drop it or change --keep")
    return f"seeded in {(fill or seed)(url, n):.0f} s"


def mask(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def median_ms(work: Callable[[], object], repeat: int) -> float:
    work()  # warm the caches and the plan
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def page_sql(repo: RunRepository) -> Callable[[], object]:
    """The filtered page's SQL alone (ids of the 51 first matches), without building DTOs."""
    plan = planning.plan(FILTER, dialect=repo.dialect)
    statement = (
        select(Run.id).where(*plan.where).order_by(Run.created_at.desc(), Run.id.desc()).limit(51)
    )

    def work() -> object:
        with repo.engine.connect() as connection:
            return connection.execute(statement).all()

    return work


def time_queries(url: URL, repeat: int) -> dict[str, float]:
    with RunRepository.connect(url) as repo:
        page = repo.query_runs_page(limit=50, **FILTER)
        matches = repo.count_runs(**FILTER)
        print(f"    (the filter matches {matches:,} runs; first page holds {len(page.items)})")
        return {
            "filtered first page": median_ms(
                lambda: repo.query_runs_page(limit=50, **FILTER), repeat
            ),
            "  its SQL alone (ids)": median_ms(page_sql(repo), repeat),
            "objective bounds": median_ms(
                lambda: repo.query_runs_page(
                    limit=50, objectives={"hop": ("<", 0.2), "seg": (">", 0.8)}
                ),
                repeat,
            ),
            "compare_gradient_methods": median_ms(
                lambda: repo.compare_gradient_methods("hop"), repeat
            ),
            "count by status": median_ms(repo.count_by_status, repeat),
        }


def mlflow_search(n: int, repeat: int, workdir: Path) -> str:
    try:
        import mlflow  # type: ignore[import-not-found]
    except ImportError:
        return "MLflow: skipped (`import mlflow` failed: pip install mlflow to compare)"
    uri = f"sqlite:///{workdir / 'mlflow.sqlite3'}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("bench")
    rng = random.Random(3)
    started = time.perf_counter()
    for create in run_creates(n):
        run = client.create_run(experiment)
        flat = {f"{g}.{k}": v for g, d in create.config.items() for k, v in d.items()}
        params = [mlflow.entities.Param(k, str(v)) for k, v in list(flat.items())[:300]]
        params.append(mlflow.entities.Param("gradient_method", str(create.gradient_method)))
        metrics = [mlflow.entities.Metric("val/loss", rng.random(), 0, 0)]
        for i in range(0, len(params), 100):
            client.log_batch(run.info.run_id, params=params[i : i + 100])
        client.log_batch(run.info.run_id, metrics=metrics)
        client.set_terminated(run.info.run_id, "FINISHED")
    seeded = time.perf_counter() - started
    query = (
        "attributes.status = 'FINISHED' and params.gradient_method = 'mgda' "
        "and params.`data.batch_size` = '96' and metrics.`val/loss` < 0.5"
    )
    theirs = median_ms(
        lambda: client.search_runs(
            [experiment], query, max_results=50, order_by=["attributes.start_time DESC"]
        ),
        repeat,
    )
    ours_url = URL.create("sqlite", database=str(workdir / "beside-mlflow.sqlite3"))
    seed(ours_url, n)
    with RunRepository.connect(ours_url) as repo:
        ours = median_ms(lambda: repo.query_runs_page(limit=50, **FILTER), repeat)
    return (
        f"same filter at {n:,} runs (300 params each) on SQLite: MLflow search_runs median "
        f"{theirs:.1f} ms, mangodb query_runs_page median {ours:.1f} ms "
        f"({theirs / ours:.1f}x); MLflow seeding took {seeded:.0f} s ({n / seeded:.1f} runs/s)"
    )


def copy_benchmark(pg_url: URL, workdir: Path, runs: int, history_runs: int, points: int) -> None:
    source = URL.create("sqlite", database=str(workdir / "copy-source.sqlite3"))
    keys = 4
    steps = points // keys
    started = time.perf_counter()
    with RunRepository.connect(source) as repo:
        repo.insert_runs(run_creates(runs, seed=5), batch_size=1000)
        values = [float(i) / steps for i in range(steps)]
        for i in range(history_runs):
            repo.append_history(
                f"bench-{i:07d}",
                {f"train/loss_{k}": (list(range(steps)), values) for k in range(keys)},
            )
    print(
        f"  source: {runs:,} runs, {history_runs} with {keys * steps:,} history points each "
        f"(seeded in {time.perf_counter() - started:.0f} s)"
    )
    with scratch_schema(pg_url) as target:
        result = copy_database(source, target, batch_size=1000)
        total_points = history_runs * keys * steps
        print(
            f"  copy SQLite -> PostgreSQL: {result.seconds:.1f} s, "
            f"{runs / result.seconds:,.0f} runs/s, {total_points / result.seconds:,.0f} points/s; "
            f"verification {'equal' if result.ok else 'FAILED'}"
        )


class scratch_schema:
    """A PostgreSQL schema for the benchmark, dropped on exit (kept if ``keep`` names it)."""

    def __init__(self, admin_url: URL, keep: str | None = None) -> None:
        self.admin_url = admin_url
        self.keep = keep
        self.name = f"bench_keep_{keep}" if keep else f"bench_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> URL:
        self.engine = create_engine(self.admin_url)
        with self.engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.name}"'))
        return self.admin_url.update_query_dict({"options": f"-csearch_path={self.name}"})

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            with self.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self.engine.dispose()


def report(dialect: str, figures: dict[str, float]) -> None:
    for name, ms in figures.items():
        target = TARGETS_MS.get((dialect, name))
        verdict = (
            ""
            if target is None
            else f"  (target <= {target:.0f} ms: " + ("met)" if ms <= target else "MISSED)")
        )
        print(f"    {name:<26} median {ms:8.2f} ms{verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--mlflow-runs",
        type=int,
        default=1000,
        help="runs seeded into MLflow (it logs ~3 runs/s with 300 params: keep it small)",
    )
    parser.add_argument("--copy-runs", type=int, default=10_000)
    parser.add_argument("--history-runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--skip", choices=("sqlite", "postgresql", "copy", "mlflow"),
                        action="append", default=[])  # fmt: skip
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the seeded databases (PostgreSQL schema bench_keep_NAME, SQLite file "
        "mangodb-scale-NAME.sqlite3 in the temporary directory) and reuse them next time",
    )
    args = parser.parse_args(argv)
    if args.keep and not args.keep.isidentifier():
        parser.error("--keep takes a name made of letters, digits and underscores")
    if args.quick:
        args.runs, args.copy_runs, args.history_runs, args.points = 2000, 500, 5, 10_000
        args.mlflow_runs = 50
        args.repeat = 5
    pg_url = make_url(args.pg_url)
    with tempfile.TemporaryDirectory(prefix="mangodb-scale-") as tmp:
        workdir = Path(tmp)
        print(f"mangodb scale benchmark: {args.runs:,} runs, median of {args.repeat}")
        if "sqlite" not in args.skip:
            kept = Path(tempfile.gettempdir()) / f"mangodb-scale-{args.keep}.sqlite3"
            path = kept if args.keep else workdir / "scale.sqlite3"
            url = URL.create("sqlite", database=str(path))
            print(f"  SQLite: {seeded(url, args.runs)}")
            report("sqlite", time_queries(url, args.repeat))
        if "postgresql" not in args.skip:
            with scratch_schema(pg_url, args.keep) as url:
                print(f"  PostgreSQL: {seeded(url, args.runs)}")
                report("postgresql", time_queries(url, args.repeat))
        if "mlflow" not in args.skip:
            print("  " + mlflow_search(args.mlflow_runs, args.repeat, workdir))
        if "copy" not in args.skip:
            copy_benchmark(pg_url, workdir, args.copy_runs, args.history_runs, args.points)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

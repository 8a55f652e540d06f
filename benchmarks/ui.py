"""Speed of ``mangodb ui`` on PostgreSQL: the runs page at 100,000 runs, ``/api/history`` on a
run of 50 keys x 100,000 points, the run page in headless chromium, the compare page.

    python benchmarks/ui.py                       # 100,000 runs, 50 keys x 100,000 points
    python benchmarks/ui.py --quick               # 2,000 runs, 50 keys x 5,000 points
    python benchmarks/ui.py --keep ui             # keep the seeded schema for the next run
    python benchmarks/ui.py --only history        # /api/history alone (no 100,000 runs seeded;
                                                  # a --keep schema of its own: no runs in it)

Server times are medians of ``--repeat`` requests through the ASGI app in process (FastAPI's
TestClient: routing, the repository calls, templates or JSON, no socket). Beside each, the
repository calls alone, measured in the same run, as the baseline: the ratio is what the
interface adds. The ``floor`` rows are the bare driver (psycopg, binary format) fetching the
chunk bytes ``/api/history`` reads, nothing decoded: what no reader of them can beat. The
browser figure is navigation to every chart drawn (``#charts`` marked ready by the page) in
Debian's chromium against uvicorn on a loopback port. MLflow's
``get-history`` REST call for one 100,000-point metric is the reference when ``import mlflow``
works (``pip install 'mangodb[bench]'``): an ``mlflow server`` whose backend store is a scratch
database on the same PostgreSQL, timed the same way (MLflow returns every point; it has no
downsampling).
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import scratch_schema, seeded

from mangodb import RunCreate, RunRepository

TARGETS_MS = {
    "runs page": 50.0,
    "/api/history 1 key @2000": 20.0,
    "/api/history 50 keys @2000": 200.0,
    "run page in chromium": 1500.0,
    "compare page": 500.0,
}
HISTORY_RUN = "ui-bench-history"


def median_ms(work: Callable[[], object], repeat: int) -> float:
    work()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def seed_history(url: URL, keys: int, points: int) -> None:
    with RunRepository.connect(url) as repo:
        if repo.run_exists(HISTORY_RUN):
            return
        repo.insert_run(RunCreate(run_id=HISTORY_RUN, gradient_method="mgda"))
        names = [f"metric/{k:02d}" for k in range(keys)]
        chunk = 20_000
        for start in range(0, points, chunk):
            steps = list(range(start, min(start + chunk, points)))
            values = [math.sin(s / 1000) + 1.0 / (1 + s / 5000) for s in steps]
            if start <= points // 2 < start + chunk:
                values[points // 2 - start] = 100.0  # a spike the downsample must keep
            repo.append_history(HISTORY_RUN, {n: (steps, values) for n in names})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def history_floor(url: URL) -> Callable[[list[str] | None], int]:
    """The floor of ``/api/history``: the bare driver (psycopg, binary format, one open
    connection) fetching the chunk bytes of the history run's keys (all when None), nothing
    decoded. Returns the fetch (it returns the payload bytes read)."""
    import psycopg

    sql = (
        "SELECT c.codec, c.first_step, c.last_step, c.point_count, c.steps, c.payload "
        "FROM runs AS r JOIN history_series AS s ON s.run_pk = r.id "
        "JOIN history_chunks AS c ON c.series_id = s.id WHERE r.run_id = %s {keys}"
        "ORDER BY s.key, c.first_step"
    )
    options = url.query.get("options")
    connection = psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password,
        dbname=url.database, options=options if isinstance(options, str) else "",
        autocommit=True,
    )  # fmt: skip

    def fetch(keys: list[str] | None) -> int:
        with connection.cursor(binary=True) as cursor:
            if keys is None:
                rows = cursor.execute(sql.format(keys=""), (HISTORY_RUN,)).fetchall()
            else:
                statement = sql.format(keys="AND s.key = ANY(%s) ")
                rows = cursor.execute(statement, (HISTORY_RUN, keys)).fetchall()
        return sum(len(row[5]) for row in rows)

    return fetch


def history_times(
    client: object, repo: RunRepository, url: URL, repeat: int, keys: int
) -> dict[str, tuple[float, float]]:
    """``/api/history`` for one key and for every key, beside the repository call alone."""
    figures: dict[str, tuple[float, float]] = {}
    get = client.get  # type: ignore[attr-defined]
    one = {"run": HISTORY_RUN, "key": "metric/00", "max_points": 2000}
    figures["/api/history 1 key @2000"] = (
        median_ms(lambda: get("/api/history", params=one).raise_for_status(), repeat),
        median_ms(lambda: repo.get_history(HISTORY_RUN, ["metric/00"], max_points=2000), repeat),
    )
    every = {"run": HISTORY_RUN, "max_points": 2000}
    figures[f"/api/history {keys} keys @2000"] = (
        median_ms(lambda: get("/api/history", params=every).raise_for_status(), repeat),
        median_ms(lambda: repo.get_history(HISTORY_RUN, max_points=2000), repeat),
    )
    # The floor: the bare driver fetching the same chunk bytes (no decoding, no downsampling).
    fetch = history_floor(url)
    figures["floor: fetch 1 key's chunks"] = (
        median_ms(lambda: fetch(["metric/00"]), repeat),
        math.nan,
    )
    figures[f"floor: fetch {keys} keys' chunks"] = (
        median_ms(lambda: fetch(None), repeat),
        math.nan,
    )
    return figures


def server_times(
    url: URL, repeat: int, keys: int, only_history: bool = False
) -> dict[str, tuple[float, float]]:
    """name -> (interface ms, repository-alone ms)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # starlette's TestClient on httpx
    from fastapi.testclient import TestClient

    from mangodb.ui import create_app

    app = create_app(url)
    repo = app.state.repo
    client = TestClient(app)
    figures: dict[str, tuple[float, float]] = {}
    where = "status = completed and method = mgda"
    if only_history:
        figures.update(history_times(client, repo, url, repeat, keys))
        repo.close()
        return figures

    def repo_page() -> None:
        repo.query_runs_page(where=where, order_by="-created", limit=50)
        repo.count_by_status(where=where)

    figures["runs page"] = (
        median_ms(lambda: client.get("/", params={"q": where}).raise_for_status(), repeat),
        median_ms(repo_page, repeat),
    )
    figures.update(history_times(client, repo, url, repeat, keys))
    page = client.get("/api/compare").json()
    baseline = page["baseline"]
    figures["compare page"] = (
        median_ms(lambda: client.get("/compare", params={"q": ""}).raise_for_status(), repeat),
        median_ms(lambda: repo.method_report(baseline), repeat),  # the report alone
    )
    repo.close()
    return figures


def browser_time(url: URL, repeat: int) -> float | None:
    if not shutil.which("chromium"):
        print("    chromium is not installed: no browser figure (apt-get install chromium)")
        return None
    import uvicorn
    from playwright.sync_api import sync_playwright

    from mangodb.ui import create_app

    app = create_app(url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    timings = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for i in range(repeat + 1):
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/runs/{HISTORY_RUN}")
                page.wait_for_selector("#charts[data-ready='1']", timeout=60_000)
                if i:  # the first load warms the caches
                    timings.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.repo.close()
    return statistics.median(timings)


def mlflow_history(admin: URL, points: int, repeat: int) -> float | None:
    """Median ms of MLflow's REST get-history for one ``points``-point metric, from an
    ``mlflow server`` whose backend store is a scratch database on the same PostgreSQL."""
    try:
        import mlflow  # noqa: F401
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        print("    mlflow is not installed: no reference (pip install 'mangodb[bench]')")
        return None
    from sqlalchemy import create_engine, text

    database = "mangodb_bench_mlflow"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {database}"))
        connection.execute(text(f"CREATE DATABASE {database}"))
    store = admin.set(database=database).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
             str(port), "--backend-store-uri", store,
             "--default-artifact-root", f"{tmp}/artifacts", "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(240):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            client = MlflowClient(base)
            run = client.create_run(client.create_experiment("ui-bench"))
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            for start in range(0, points, 1000):
                batch = [Metric("loss", math.sin(s / 1000), now, s)
                         for s in range(start, min(start + 1000, points))]  # fmt: skip
                client.log_batch(run_id, metrics=batch)
            address = f"{base}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss"
            return median_ms(lambda: urllib.request.urlopen(address, timeout=120).read(), repeat)
        finally:
            server.terminate()
            server.wait(30)
            with engine.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2,000 runs, 5,000 points a key")
    parser.add_argument("--keep", default=None, help="keep the seeded schema under this name")
    parser.add_argument("--skip", action="append", default=[], choices=["browser", "mlflow"])
    parser.add_argument(
        "--only", choices=["history"], help="history: /api/history and its floor, no runs seeded"
    )
    args = parser.parse_args()
    only_history = args.only == "history"
    if only_history:
        args.skip += ["browser", "mlflow"]
    if args.quick:
        args.runs, args.points, args.repeat = 2000, 5000, 5
    print(f"mangodb ui on PostgreSQL: {args.runs:,} runs, history run {args.keys} keys x "
          f"{args.points:,} points; medians of {args.repeat}")  # fmt: skip
    with scratch_schema(make_url(args.pg_url), args.keep) as url:
        started = time.perf_counter()
        with RunRepository.connect(url) as repo:
            reused = repo.run_exists(HISTORY_RUN)
        if reused:  # a schema kept by --keep: the runs and the history run are there
            print("    reusing the kept schema")
        else:
            if not only_history:
                print(f"    runs: {seeded(url, args.runs)}")
            seed_history(url, args.keys, args.points)
            print(f"    seeded in {time.perf_counter() - started:.0f} s")
        rows = server_times(url, args.repeat, args.keys, only_history)
        if "browser" not in args.skip:
            chromium = browser_time(url, max(3, args.repeat // 4))
            if chromium is not None:
                rows["run page in chromium"] = (chromium, math.nan)
    reference = None
    if "mlflow" not in args.skip:
        reference = mlflow_history(make_url(args.pg_url), args.points, max(3, args.repeat // 4))
    print(f"    {'':32} {'ui ms':>9} {'repo ms':>9} {'ui/repo':>8}  target")
    for name, (ui_ms, repo_ms) in rows.items():
        target = TARGETS_MS.get(name.replace(f"{args.keys} keys", "50 keys"))
        if name.startswith("floor"):
            print(f"    {name:<32} {ui_ms:9.2f}  (bare psycopg, binary; ui ms column)")
            continue
        ratio = "" if math.isnan(repo_ms) else f"{ui_ms / repo_ms:7.2f}x"
        base = "" if math.isnan(repo_ms) else f"{repo_ms:9.2f}"
        verdict = (
            ""
            if target is None
            else (f"<= {target:.0f} ms " + ("met" if ui_ms <= target else "MISSED"))
        )
        print(f"    {name:<32} {ui_ms:9.2f} {base:>9} {ratio:>8}  {verdict}")
    if reference is not None:
        ours = rows["/api/history 1 key @2000"][0]
        print(f"    MLflow get-history, 1 key, all {args.points:,} points: {reference:.2f} ms "
              f"(mangodb /api/history at 2000 points: {ours:.2f} ms, "
              f"{reference / ours:.1f}x faster)")  # fmt: skip


if __name__ == "__main__":
    main()

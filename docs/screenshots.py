"""Screenshots of every page of ``mangodb ui`` on the demo database, for the README and
docs/ui.md. Needs the dev extra (Playwright's Python API) and Debian's chromium:

    python docs/screenshots.py [--out docs/img] [--runs 48]

It builds the demo campaign in a temporary SQLite file, serves it on a free loopback port and
saves ``runs.png``, ``run.png``, ``compare.png``, ``crashes.png`` and ``fleet.png``."""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright

from mangodb import RunRepository
from mangodb.demo import run_demo
from mangodb.ui import create_app

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def shrink(path: Path) -> None:
    """A 256-colour palette: a third of the bytes, no visible change for flat UI colours."""
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "img")
    parser.add_argument("--runs", type=int, default=48)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "demo.sqlite3"
        with RunRepository.connect(str(database)) as repo:
            run_demo(repo, runs=args.runs, seed=0)
            completed = repo.query_runs(where="status = completed", limit=1)[0].run_id
            pair = [r.run_id for r in repo.query_runs(where="status = completed", limit=3)]
        app = create_app(str(database))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        compare = "/compare?" + "&".join(f"run={r}" for r in pair)
        pages = {
            "runs": ("/?columns=run_id,status,method,dataset,objective.hop,created", None, False),
            "run": (f"/runs/{completed}", "#charts[data-ready='1']", True),
            "compare": ("/compare", "#curves[data-ready='1']", True),
            "compare-runs": (compare, "#curves[data-ready='1']", False),
            "crashes": ("/crashes", None, False),
            "fleet": ("/fleet", None, False),
        }
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=shutil.which("chromium"), args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1360, "height": 900})
                for name, (path, ready, whole) in pages.items():
                    page.goto(base + path)
                    if ready:
                        page.wait_for_selector(ready)
                    page.wait_for_load_state("networkidle")
                    target = args.out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=whole)
                    shrink(target)
                    print(target)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.repo.close()


if __name__ == "__main__":
    main()

"""``mangodb ui`` in a real browser: Debian's chromium driven by Playwright's Python API, against
a uvicorn server on a free loopback port over a seeded database, on both dialects.

No browser is downloaded: chromium comes from the system (``apt-get install chromium``; .ci/run
installs it). Outside CI a missing chromium skips these tests with the reason; in CI
(``CI`` or ``MANGODB_REQUIRE_POSTGRES`` set) it fails them."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_URL, fresh_pg_schema, require_postgres
from sqlalchemy.engine import URL, make_url

REQUIRED = bool(os.environ.get("CI") or os.environ.get("MANGODB_REQUIRE_POSTGRES"))


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (pip install -e '.[dev]')"
    if not shutil.which("chromium"):
        return "chromium is not installed (apt-get install chromium)"
    return None


_problem = _missing()
if _problem:
    if REQUIRED:
        pytest.fail(f"browser tests cannot run in CI: {_problem}", pytrace=False)
    pytest.skip(_problem, allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from ui_seed import IMG, SCRIPT, XSS_RUN, XSS_RUN_2, seed  # noqa: E402

from mangodb import RunRepository  # noqa: E402
from mangodb.ui import create_app, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """uvicorn in a thread, serving ``create_app(url)`` on a free loopback port."""

    def __init__(self, url: URL, token: str | None = None) -> None:
        self.app = create_app(url, token=token)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.repo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if request.param == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path_factory.mktemp("ui") / "ui.sqlite3"))
        with RunRepository.connect(url) as writer:
            seed(writer)
        with Server(url) as server:
            yield server
        return

    require_postgres()
    with fresh_pg_schema(make_url(PG_URL)) as url:
        with RunRepository.connect(url) as writer:
            seed(writer)
        with Server(url) as server:
            yield server


class Watch:
    """Console errors, page errors and failed requests of one page."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on(
            "console",
            lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"),
        )
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"),
        )


def drawn_pixels(page: Page, selector: str) -> list[int]:
    """For each canvas under ``selector``: pixels in the plot area (uPlot's ``.u-over`` box)
    that differ from the canvas's background (its corner pixel)."""
    return page.eval_on_selector_all(
        selector,
        """figures => figures.map(fig => {
            const canvas = fig.querySelector('canvas');
            const over = fig.querySelector('.u-over');
            const ctx = canvas.getContext('2d');
            const r = canvas.getBoundingClientRect(), o = over.getBoundingClientRect();
            const sx = canvas.width / r.width, sy = canvas.height / r.height;
            const x = Math.round((o.left - r.left) * sx), y = Math.round((o.top - r.top) * sy);
            const w = Math.round(o.width * sx), h = Math.round(o.height * sy);
            const data = ctx.getImageData(x, y, w, h).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                // uPlot draws on a transparent canvas: any opaque, non-grid pixel is ink
                const light = data[i] > 200 && data[i + 1] > 200 && data[i + 2] > 200;
                if (data[i + 3] > 200 && !light) n++;
            }
            return n;
        })""",
    )


def test_runs_page_rows_follow_the_typed_query(browser: Browser, served: Server) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto(served.base + "/")
    with RunRepository.connect(served.app.state.repo.engine.url) as repo:
        for where in ("status = completed", "method = pcgrad and status != completed"):
            page.fill("form.query input[name=q]", where)
            page.press("form.query input[name=q]", "Enter")
            page.wait_for_load_state()
            rows = page.locator("table.runs tbody tr").count()
            assert rows == repo.count_runs(where=where), where
            assert page.locator(".counts .total b").inner_text() == str(rows)
            assert "q=" in page.url  # the query is in the address, so a view can be shared
    assert watch.problems == []
    # a malformed query: the message and the caret, no traceback, no table
    page.fill("form.query input[name=q]", "status = = crashed")
    page.press("form.query input[name=q]", "Enter")
    page.wait_for_load_state()
    error = page.locator(".query-error")
    assert error.is_visible()
    assert page.locator(".query-error .pointer").inner_text().endswith("^")
    assert len(page.locator(".query-error .pointer").inner_text()) == 10
    assert "Traceback" not in page.content()
    assert page.locator("table.runs").count() == 0
    page.close()


def test_run_page_draws_every_chart_and_zoom_refetches_a_narrower_range(
    browser: Browser, served: Server
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page)
    requests: list[str] = []
    page.on("request", lambda r: "/api/history" in r.url and requests.append(r.url))
    page.goto(served.base + "/runs/run-000")
    page.wait_for_selector("#charts[data-ready='1']")
    figures = page.locator("#charts figure.chart")
    assert figures.count() == 2  # train/loss and val/acc
    assert all(n > 200 for n in drawn_pixels(page, "#charts figure.chart")), "a chart is blank"
    # drag across the middle of the first chart: a request for that step range, a redraw
    over = page.locator("#charts figure.chart").first.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    before = len(requests)
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_selector("#charts figure.chart[data-redraws='1']")
    zoom = requests[before:]
    assert len(zoom) == 1 and "min_step=" in zoom[0] and "max_step=" in zoom[0]
    query = dict(p.split("=", 1) for p in zoom[0].split("?", 1)[1].split("&"))
    low, high = int(query["min_step"]), int(query["max_step"])
    assert 0 < low < high < 2999 and high - low < 600
    assert drawn_pixels(page, "#charts figure.chart")[0] > 200
    assert watch.problems == []
    page.close()


def test_crashes_fleet_and_compare_pages_load_cleanly(browser: Browser, served: Server) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto(served.base + "/crashes")
    assert "torch.cuda.OutOfMemoryError" in page.locator("table.crashes").inner_text()
    page.click("table.crashes a >> text=run-009")
    page.wait_for_url("**/runs/run-009")
    page.wait_for_load_state("load")  # leaving before it loads would abort the request
    page.goto(served.base + "/fleet")
    stale = page.locator("tr.stale")
    assert stale.count() == 1 and "run-027" in stale.inner_text()
    # select two runs on the runs page and compare exactly those
    page.goto(served.base + "/?sort=run_id")
    boxes = page.locator("input[value='run-000'], input[value='run-001']")
    assert boxes.count() == 2
    for i in range(boxes.count()):
        boxes.nth(i).check()
    page.click("#compare-selected")
    page.wait_for_selector("#curves[data-ready='1']")
    assert set(page.locator("table.runs td.id").all_inner_texts()) == {"run-000", "run-001"}
    assert drawn_pixels(page, "#curves figure.chart")[0] > 200
    # the methods over a query: report table, strips, Pareto scatter, curves, all drawn
    page.goto(served.base + "/compare?q=status%20%3D%20completed")
    page.wait_for_selector("#curves[data-ready='1']")
    assert page.locator("table.method-report tbody tr").count() == 3
    assert page.locator(".pareto").count() >= 1
    charts = drawn_pixels(page, "figure.chart")
    assert len(charts) == 4 and all(n > 100 for n in charts), charts  # 2 strips, scatter, curves
    assert page.locator("#scatter figure.chart").get_attribute("data-front") not in (None, "0")
    assert watch.problems == []
    page.close()


def test_xss_payloads_stay_text(browser: Browser, served: Server) -> None:
    page = browser.new_page()
    watch = Watch(page)
    from urllib.parse import quote

    paths = ["/", "/crashes", "/fleet", "/runs/" + quote(XSS_RUN, safe=""),
             "/runs/" + quote(XSS_RUN_2, safe=""), "/?columns=run_id,tags,config.nested,method",
             "/compare", f"/compare?run={quote(XSS_RUN, safe='')}&run={quote(XSS_RUN_2, safe='')}"]
    for path in paths:
        page.goto(served.base + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img[src=x]").count() == 0, path
    page.goto(served.base + "/runs/" + quote(XSS_RUN, safe=""))
    assert page.locator("h1.run-id").inner_text() == XSS_RUN
    assert SCRIPT in page.locator("#config-tree").inner_text()
    assert IMG in page.locator(".crash").inner_text()
    page.wait_for_selector("#charts[data-ready='1']")
    assert page.locator("figure.chart figcaption").first.inner_text().startswith(SCRIPT)
    assert page.evaluate("window.__xss") is None
    assert [p for p in watch.problems if "favicon" not in p] == []
    page.close()


def test_report_opens_offline_and_draws(browser: Browser, served: Server, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    write_report(served.app.state.repo, out, keys=["train/loss"])
    assert "<script src" not in out.read_text()
    context = browser.new_context(offline=True)
    page = context.new_page()
    watch = Watch(page)
    outside: list[str] = []

    def refuse(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith("file://"), refuse)
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    with RunRepository.connect(served.app.state.repo.engine.url) as repo:
        assert page.locator("table.runs tbody tr").count() == repo.count_runs()
    assert page.evaluate("window.__xss") is None
    assert outside == [] and watch.problems == []
    assert page.locator("table.method-report tbody tr").count() >= 3
    charts = drawn_pixels(page, "figure.chart")
    assert len(charts) >= 4 and all(n > 100 for n in charts), charts
    context.close()


def test_with_a_token_a_request_without_it_gets_401(browser: Browser, tmp_path: Path) -> None:
    database = URL.create("sqlite", database=str(tmp_path / "t.sqlite3"))
    with RunRepository.connect(database) as writer:
        seed(writer)
    with Server(database, token="tok-123") as server:
        for path in ("/", "/api/runs", "/static/app.css"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(server.base + path, timeout=10)
            assert refused.value.code == 401
        page = browser.new_page()
        watch = Watch(page)
        page.goto(server.base + "/?token=tok-123")
        assert "token" not in page.url
        assert page.locator("table.runs tbody tr").count() > 0
        page.goto(server.base + "/runs/run-000")
        page.wait_for_selector("#charts[data-ready='1']")
        assert watch.problems == []
        page.close()


def test_include_archived_runs_toggles_the_rows(browser: Browser, tmp_path: Path) -> None:
    database = URL.create("sqlite", database=str(tmp_path / "a.sqlite3"))
    with RunRepository.connect(database) as writer:
        for run_id in ("keep-1", "keep-2", "old-1"):
            writer.insert_run(run_id=run_id, gradient_method="mgda")
        writer.archive_runs("run_id = 'old-1'")
    with Server(database) as server:
        page = browser.new_page()
        watch = Watch(page)
        page.goto(server.base + "/?q=method%20%3D%20mgda")
        rows = page.locator("table.runs tbody tr")
        assert rows.count() == 2 and page.locator(".badge.archived").count() == 0
        with page.expect_navigation():
            page.click("#include-archived")
        assert rows.count() == 3 and "archived=1" in page.url and "q=method" in page.url
        assert page.locator("tr[data-run-id='old-1'] .badge.archived").is_visible()
        with page.expect_navigation():
            page.click("#include-archived")
        assert rows.count() == 2 and "archived" not in page.url
        assert watch.problems == []
        page.close()

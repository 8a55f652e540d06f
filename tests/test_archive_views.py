"""Archived runs where users see runs: the Runs page, ``/api/runs``, the Run page, the Crashes
page and ``/api/crashes`` of ``mangodb ui``, and ``mangodb export``. Archived runs are absent
by default, present (and marked) with ``archived=1`` / ``--archived``. Both dialects."""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import CrashReportCreate, RunCreate, RunRepository
from mangodb.cli import app

pytest.importorskip("fastapi", reason="the ui extra is not installed")

from fastapi.testclient import TestClient

from mangodb.ui import create_app

RUNS = 6
METHODS = ("uniform", "mgda")
ARCHIVED = ("a00", "a03")  # both failed with a crash report; one of each method
XSS_ARCHIVED = "a<b>&'x"


@pytest.fixture
def seeded(db_url: URL) -> Iterator[RunRepository]:
    with RunRepository.connect(db_url) as repo:
        start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
        for i in range(RUNS):
            run_id = f"a{i:02d}"
            repo.insert_run(RunCreate(run_id=run_id, gradient_method=METHODS[i % 2],
                                      created_at=start + dt.timedelta(hours=i)))  # fmt: skip
            repo.insert_objective(run_id, name="hop", direction="min")
            repo.update_objective_metric(run_id, "hop", 0.5 + i / 100)
            repo.update_run_status(run_id, "running")
            repo.update_run_status(run_id, "failed" if i % 3 == 0 else "completed")
            if i % 3 == 0:
                repo.attach_crash_data(run_id, CrashReportCreate(error_type="OOM", message="m"))
        repo.insert_run(RunCreate(run_id=XSS_ARCHIVED, created_at=start))
        report = repo.archive_runs("run_id in ('a00', 'a03') or created < 2026-11-01T00:30:00Z")
        assert sorted(report.run_ids) == sorted([*ARCHIVED, XSS_ARCHIVED])
        yield repo


@pytest.fixture
def client(seeded: RunRepository) -> Iterator[TestClient]:
    with TestClient(create_app(seeded)) as test_client:
        yield test_client


def _ids(body: dict[str, Any]) -> set[str]:
    return {row["run_id"] for row in body["rows"]}


def test_runs_api_hides_archived_runs_unless_asked(client: TestClient) -> None:
    hidden = client.get("/api/runs", params={"limit": 1000}).json()
    assert _ids(hidden) == {f"a{i:02d}" for i in range(RUNS)} - set(ARCHIVED)
    assert hidden["total"] == RUNS - len(ARCHIVED) and hidden["by_status"] == {"completed": 4}
    assert all(row["archived_at"] is None for row in hidden["rows"])
    shown = client.get("/api/runs", params={"limit": 1000, "archived": 1}).json()
    assert _ids(shown) == {f"a{i:02d}" for i in range(RUNS)} | {XSS_ARCHIVED}
    assert shown["total"] == RUNS + 1
    assert shown["by_status"] == {"launched": 1, "completed": 4, "failed": 2}
    marked = {row["run_id"] for row in shown["rows"] if row["archived_at"]}
    assert marked == {*ARCHIVED, XSS_ARCHIVED}
    # A query naming archived_at asks about archived runs without the option.
    only = client.get("/api/runs", params={"q": "archived_at is not null"}).json()
    assert _ids(only) == marked


def test_runs_page_marks_archived_runs_and_keeps_the_option(client: TestClient) -> None:
    page = client.get("/", params={"q": "status = failed"}).text
    assert 'data-run-id="a03"' not in page and "<b>0</b> runs" in page
    assert 'aria-checked="false"' in page and "archived=1" in page
    shown = client.get("/", params={"q": "status = failed", "archived": "1"})
    assert shown.status_code == 200
    html = shown.text
    assert '<tr data-run-id="a03" class="archived">' in html
    assert '<tr data-run-id="a00" class="archived">' in html
    assert html.count('class="badge archived"') == 2 and "<b>2</b> runs" in html
    assert 'aria-checked="true"' in html
    # Search, columns and the sort links keep the option; the toggle drops it.
    assert '<input type="hidden" name="archived" value="1">' in html
    sort_links = re.findall(r'<a href="([^"]+)" class="sort', html)
    assert sort_links and all("archived=1" in link for link in sort_links)
    toggle = re.search(r'<a href="([^"]+)" id="include-archived"', html)
    assert toggle and "archived" not in toggle.group(1) and "q=status" in toggle.group(1)


def test_archived_run_ids_are_escaped(client: TestClient) -> None:
    html = client.get("/", params={"archived": "1"}).text
    assert "a<b>&'x" not in html and "a&lt;b&gt;&amp;" in html


def test_run_page_shows_when_the_run_was_archived(
    client: TestClient, seeded: RunRepository
) -> None:
    when = seeded.get_run("a03").archived_at
    assert when is not None
    html = client.get("/runs/a03").text
    shown = when.astimezone(dt.timezone.utc).isoformat()[:19].replace("T", " ")
    assert f'id="archived-at">archived {shown}</span>' in html
    assert 'id="archived-at"' not in client.get("/runs/a01").text
    assert client.get("/api/run", params={"id": "a03"}).json()["archived_at"] is not None


def test_crashes_hide_archived_runs_unless_asked(client: TestClient) -> None:
    def crashed(params: dict[str, str]) -> set[str]:
        body = client.get("/api/crashes", params=params).json()
        return {r for g in body["groups"] for r in g["run_ids"]}

    assert crashed({}) == set()  # a00 and a03 are archived: no crash report left
    assert crashed({"archived": "1"}) == set(ARCHIVED)
    page = client.get("/crashes", params={"archived": "1"}).text
    assert 'href="/runs/a03"' in page and 'aria-checked="true"' in page
    assert 'href="/runs/a03"' not in client.get("/crashes").text


def test_compare_counts_archived_runs_only_when_asked(client: TestClient) -> None:
    def runs(params: dict[str, str]) -> dict[str, int]:
        body = client.get("/api/compare", params={"baseline": "uniform", **params}).json()
        return {row["method"]: row["runs"] for row in body["report"]["rows"]}

    assert runs({}) == {"uniform": 2, "mgda": 2}
    assert runs({"archived": "1"}) == {"uniform": 3, "mgda": 3}
    page = client.get("/compare", params={"archived": "1"}).text
    assert 'aria-checked="true"' in page
    assert '<input type="hidden" name="archived" value="1">' in page
    # The toggle keeps the chosen baseline and history key.
    chosen = client.get("/compare", params={"baseline": "mgda", "key": "train/loss"}).text
    toggle = re.search(r'<a href="([^"]+)" id="include-archived"', chosen)
    assert toggle is not None
    link = html.unescape(toggle.group(1))
    assert "baseline=mgda" in link and "key=train%2Floss" in link and "archived=1" in link


def _export(url: URL, target: Path, *extra: str) -> set[str]:
    args = ["export", "--out", str(target), "--url", url.render_as_string(hide_password=False)]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    with target.open(newline="") as handle:
        return {row["run_id"] for row in csv.DictReader(handle)}


def test_export_includes_archived_runs_only_with_the_option(
    seeded: RunRepository, db_url: URL, tmp_path: Path
) -> None:
    every = {f"a{i:02d}" for i in range(RUNS)}
    assert _export(db_url, tmp_path / "a.csv") == every - set(ARCHIVED)
    assert _export(db_url, tmp_path / "b.csv", "--archived") == every | {XSS_ARCHIVED}
    target = tmp_path / "c.jsonl"
    result = CliRunner().invoke(app, ["export", "--archived", "--out", str(target), "--url",
                                      db_url.render_as_string(hide_password=False)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["run_id"] for r in rows if r["archived_at"]} == {*ARCHIVED, XSS_ARCHIVED}


def test_report_includes_archived_runs_only_with_the_option(
    seeded: RunRepository, db_url: URL, tmp_path: Path
) -> None:
    url = db_url.render_as_string(hide_password=False)
    for extra, expected in (((), False), (("--archived",), True)):
        target = tmp_path / f"report{len(extra)}.html"
        result = CliRunner().invoke(app, ["report", "--out", str(target), "--url", url, *extra])
        assert result.exit_code == 0, result.output
        html = target.read_text()
        assert ('<tr data-run-id="a03" class="archived">' in html) is expected
        assert ('<a href="/runs/a03">' in html or ">a03<" in html) is expected

"""The JSON API and the server-rendered pages of ``mangodb ui`` (FastAPI's TestClient), on
both dialects: what each route returns equals what the repository says, refused queries come
back with the caret's column, values are escaped, writes are impossible, the token is checked."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PG_URL, fresh_pg_schema, require_postgres
from sqlalchemy.engine import URL, make_url

pytest.importorskip("fastapi", reason="the ui extra is not installed")

from fastapi.testclient import TestClient
from ui_seed import IMG, NAN_STEP, SCRIPT, SPIKE_STEP, XSS_RUN, seed

from mangodb import MangoDBError, RunCreate, RunRepository
from mangodb.ui import create_app, methods


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[URL]:
    """One seeded database per dialect for the whole module (every test here only reads)."""
    if request.param == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path_factory.mktemp("ui") / "ui.sqlite3"))
        with RunRepository.connect(url) as writer:
            seed(writer)
        yield url
        return
    require_postgres()
    with fresh_pg_schema(make_url(PG_URL)) as url:
        with RunRepository.connect(url) as writer:
            seed(writer)
        yield url


@pytest.fixture
def client(seeded_url: URL) -> Iterator[TestClient]:
    app = create_app(seeded_url)
    with TestClient(app) as test_client:
        yield test_client
    app.state.repo.close()


def test_runs_api_counts_equal_the_repository(client: TestClient, seeded_url: URL) -> None:
    with RunRepository.connect(seeded_url) as repo:
        for where in ("", "status = completed", "method = pcgrad and batch_size >= 64"):
            body = client.get("/api/runs", params={"q": where, "limit": 1000}).json()
            assert body["total"] == repo.count_runs(where=where or None)
            assert len(body["rows"]) == body["total"]
            assert body["by_status"] == {
                k: v for k, v in repo.count_by_status(where=where or None).items() if v
            }


def test_runs_api_pages_by_cursor_without_gaps(client: TestClient) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7, "sort": "run_id"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/runs", params=params).json()
        seen += [row["run_id"] for row in body["rows"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == body["total"]


def test_runs_api_columns_and_sort(client: TestClient) -> None:
    body = client.get(
        "/api/runs", params={"columns": "run_id,objective.hop,config.optim.name", "sort": "-run_id"}
    ).json()
    assert body["columns"] == ["run_id", "objective.hop", "config.optim.name"]
    ids = [row["run_id"] for row in body["rows"]]
    assert ids == sorted(ids, reverse=True)
    row = next(r for r in body["rows"] if r["run_id"] == "run-003")
    assert row["cells"][2] == "adam" and math.isclose(row["cells"][1], 0.4 + 0.03)
    assert body["sortable"] == body["columns"]  # every shown column sorts
    by_objective = client.get(
        "/api/runs", params={"columns": "run_id,objective.hop", "sort": "-objective.hop"}
    ).json()
    hops = [row["cells"][1] for row in by_objective["rows"] if row["cells"][1] is not None]
    assert len(hops) > 1 and hops == sorted(hops, reverse=True)


def test_malformed_query_answers_400_with_the_caret_column(client: TestClient) -> None:
    response = client.get("/api/runs", params={"q": "status = = crashed"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["text"] == "status = = crashed" and error["column"] == 10
    page = client.get("/", params={"q": "status = = crashed"})
    assert page.status_code == 400
    assert "Traceback" not in page.text
    assert '<span class="text">status = = crashed</span>' in page.text
    assert '<span class="pointer">' + " " * 9 + "^</span>" in page.text


def test_history_api_downsamples_a_range_and_keeps_the_spike_and_nan(client: TestClient) -> None:
    body = client.get(
        "/api/history", params={"run": "run-000", "key": "train/loss", "max_points": 100}
    ).json()
    series = body["series"]["train/loss"]
    assert len(series["steps"]) <= 100
    assert 50.0 in series["values"]  # the spike survives the downsample
    assert [NAN_STEP, "NaN"] in series["nonfinite"]
    narrow = client.get(
        "/api/history",
        params={
            "run": "run-000",
            "key": "train/loss",
            "min_step": 1200,
            "max_step": 1300,
            "max_points": 1000,
        },
    ).json()["series"]["train/loss"]
    assert narrow["steps"] == list(range(1200, 1301))
    assert narrow["values"][SPIKE_STEP - 1200] == 50.0


def test_run_api_and_page(client: TestClient) -> None:
    record = client.get("/api/run", params={"id": "run-009"}).json()
    assert record["status"] == "failed"
    assert record["crash_reports"][0]["error_type"] == "torch.cuda.OutOfMemoryError"
    assert client.get("/api/run", params={"id": "nope"}).status_code == 404
    page = client.get("/runs/run-000")
    assert page.status_code == 200 and "train/loss" in page.text
    missing = client.get("/runs/no-such-run")
    assert missing.status_code == 404 and "Traceback" not in missing.text


def test_crashes_and_fleet(client: TestClient) -> None:
    groups = client.get("/api/crashes").json()["groups"]
    oom = next(g for g in groups if g["error_type"] == "torch.cuda.OutOfMemoryError")
    assert oom["runs"] == 3 and set(oom["run_ids"]) == {"run-009", "run-019", "run-029"}
    assert oom["instance_types"] == ["g5.xlarge"]
    fleet = client.get("/api/fleet", params={"grace": "1h"}).json()
    by_id = {r["run_id"]: r for r in fleet["runs"]}
    assert by_id["run-027"]["reaper"] == "would mark crashed"
    assert XSS_RUN not in by_id  # failed, not active
    assert client.get("/crashes").status_code == 200
    assert client.get("/fleet").status_code == 200
    assert client.get("/api/fleet", params={"grace": "soon"}).status_code == 400


def test_values_from_the_database_are_escaped(client: TestClient) -> None:
    pages = [client.get("/").text, client.get("/crashes").text, client.get("/runs/" + XSS_RUN).text]
    for html in pages:
        assert SCRIPT not in html
        assert IMG not in html
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html


def test_the_interface_cannot_write(client: TestClient) -> None:
    repo = client.app.state.repo  # type: ignore[attr-defined]
    with pytest.raises(MangoDBError):
        repo.insert_run(RunCreate(run_id="written-by-the-ui"))
    with pytest.raises(MangoDBError):
        repo.update_run_status("run-000", "completed")
    assert client.get("/api/run", params={"id": "written-by-the-ui"}).status_code == 404


def test_no_route_writes(client: TestClient) -> None:
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert getattr(route, "methods", {"GET"}) <= {"GET", "HEAD"}, route


def test_token_is_required_on_every_request(seeded_url: URL) -> None:
    app = create_app(seeded_url, token="s3cret")
    with TestClient(app) as test_client:
        for path in ("/", "/api/runs", "/static/app.css", "/runs/run-000", "/api/docs"):
            assert test_client.get(path).status_code == 401, path
        wrong = {"Authorization": "Bearer wrong"}
        assert test_client.get("/api/runs", headers=wrong).status_code == 401
        ok = test_client.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # ?token= once: a cookie, and the address loses the token
        first = test_client.get("/?token=s3cret&q=status%20%3D%20failed", follow_redirects=False)
        assert first.status_code == 303 and "token" not in first.headers["location"]
        assert test_client.get(first.headers["location"]).status_code == 200
        assert test_client.get("/api/runs").status_code == 200  # the cookie now
    app.state.repo.close()


def test_compare_api_is_the_method_report(client: TestClient, seeded_url: URL) -> None:
    body = client.get("/api/compare", params={"q": "status = completed"}).json()
    with RunRepository.connect(seeded_url) as repo:
        report = repo.method_report("uniform", where="status = completed")
        curves = repo.history_by_method(
            "train/loss", where="status = completed", baseline="uniform", max_points=1000
        )
    assert body["baseline"] == "uniform"  # a usual baseline is picked when none is given
    rows = {row["method"]: row for row in body["report"]["rows"]}
    for row in report.rows:
        assert rows[row.method]["runs"] == row.runs
        assert rows[row.method]["pareto_optimal"] == row.pareto_optimal
        assert rows[row.method]["delta_m"] == pytest.approx(row.delta_m, nan_ok=True)
        for name, stats in row.objectives.items():
            assert rows[row.method]["objectives"][name]["mean"] == pytest.approx(stats.mean)
    assert body["key"] == "train/loss"
    (drawn,) = body["curves"]
    assert [s["label"].split(" ")[0] for s in drawn["series"]] == [c.method for c in curves.curves]
    assert drawn["series"][0]["steps"] == list(curves.curves[0].steps)
    assert {s["title"] for s in body["strips"]} == {"hop", "acc"}
    api = client.get("/api/curves", params={"key": "train/loss", "q": "status = completed"})
    assert [c["method"] for c in api.json()["curves"]] == sorted(c.method for c in curves.curves)
    refused = client.get("/api/compare", params={"q": "status = completed", "baseline": "nope"})
    assert refused.status_code == 400 and "nope" in refused.json()["error"]["message"]
    page = client.get("/compare", params={"q": "status = completed"})
    assert page.status_code == 200 and "Methods against uniform" in page.text


def test_compare_page_says_which_runs_its_strips_draw(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strip plots draw the newest STRIP_RUNS runs, not all of them: the page says so
    when there are more (the report table above it uses every run)."""
    monkeypatch.setattr(methods, "STRIP_RUNS", 2)
    page = client.get("/compare", params={"q": "status = completed"})
    assert page.status_code == 200
    assert "Drawn: the newest 2 of the" in page.text

"""The SQL views (migration 0006) read with plain SQL, as psql or a BI tool would, give what
the repository gives, on both dialects; NaN, ±Inf and -0.0 stay exact."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from mangodb import RunRepository
from mangodb.errors import InvalidTransition

VIEWS = ("v_runs", "v_metrics", "v_objectives", "v_events", "v_crash_reports", "v_history_series")
SPECIALS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _rows(url: URL, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


def _json(value: Any) -> Any:
    """A JSON column as a client gets it: parsed by the driver (PostgreSQL) or text (SQLite)."""
    return json.loads(value) if isinstance(value, str) else value


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.fixture
def seeded(db_url: URL) -> Any:
    repo = RunRepository.connect(db_url)
    repo.insert_run(
        run_id="views-a", gradient_method="pcgrad", dataset="nyuv2", batch_size=96, seed=3,
        is_spot=True, instance_type="g5.xlarge", config={"optimizer": {"lr": 0.001}, "k": "ключ"},
    )  # fmt: skip
    repo.insert_run(run_id="views-b", gradient_method="mgda")
    repo.set_tags("views-a", add=["sweep-7", "a,b", "🥭"])
    repo.update_run_status("views-a", "running")
    repo.update_run_status("views-a", "completed", reason="done")
    with pytest.raises(InvalidTransition):  # refused, and kept on record as refused
        repo.update_run_status("views-a", "running")
    repo.set_final_metrics(
        "views-a",
        {"loss": 0.25, "nan": math.nan, "inf": math.inf, "ninf": -math.inf, "nz": -0.0,
         "note": "converged"},
    )  # fmt: skip
    repo.insert_objective("views-a", name="seg", metric="val/miou", direction="max")
    repo.update_objective_metric("views-a", "seg", 0.41, step=10)
    repo.insert_objective("views-a", name="depth", direction="min")
    repo.update_objective_metric("views-a", "depth", math.nan)
    repo.insert_objective("views-b", name="seg", direction="max")
    repo.update_run_status("views-b", "running")
    repo.update_run_status("views-b", "crashed", reason="OOM")
    repo.attach_crash_data(
        "views-b", error_type="OutOfMemoryError", message="<b>CUDA</b> out of memory",
        excerpt="Traceback ...", fingerprint="f" * 16, error_log_s3_key="crashes/views-b/log",
    )  # fmt: skip
    repo.append_history("views-a", [{"_step": s, "loss": 1.0 / (s + 1)} for s in range(5)])
    repo.append_history("views-a", [{"_step": 5, "loss": math.inf}])
    yield repo, db_url
    repo.close()


def test_each_view_exists_and_reads_with_plain_sql(seeded: Any) -> None:
    _, url = seeded
    for view in VIEWS:
        rows = _rows(url, f"SELECT * FROM {view}")
        assert rows, f"{view} is empty"


def test_v_runs_equals_get_run(seeded: Any) -> None:
    repo, url = seeded
    rows = {r["run_id"]: r for r in _rows(url, "SELECT * FROM v_runs ORDER BY run_id")}
    assert sorted(rows) == ["views-a", "views-b"]
    for run_id, row in rows.items():
        run = repo.get_run(run_id)
        for field in ("status", "gradient_method", "dataset", "batch_size", "seed",
                      "instance_type", "error_summary"):  # fmt: skip
            assert row[field] == getattr(run, field), field
        assert bool(row["is_spot"]) == bool(run.is_spot)
        assert _json(row["config"]) == run.config
        assert sorted(_json(row["tags"])) == sorted(run.tags)
        metrics = _json(row["final_metrics"])
        assert set(metrics) == set(run.final_metrics)
        for key, value in run.final_metrics.items():
            shown = metrics[key]
            if isinstance(value, float):
                shown = SPECIALS.get(shown, shown) if isinstance(shown, str) else float(shown)
                assert _same_float(shown, value) or (value == 0 and shown == 0), key
            else:
                assert shown == value, key


def test_v_metrics_keeps_every_float_kind(seeded: Any) -> None:
    _, url = seeded
    rows = {r["key"]: r for r in _rows(url, "SELECT * FROM v_metrics WHERE run_id = 'views-a'")}
    assert {k: r["value_kind"] for k, r in rows.items()} == {
        "loss": "finite", "nan": "nan", "inf": "+inf", "ninf": "-inf", "nz": "-0",
    }  # fmt: skip
    assert rows["loss"]["value"] == 0.25
    assert rows["inf"]["value"] == math.inf and rows["ninf"]["value"] == -math.inf
    assert math.copysign(1.0, rows["nz"]["value"]) == -1.0
    nan = rows["nan"]["value"]
    assert nan is None if url.get_dialect().name == "sqlite" else math.isnan(nan)
    # A BI-style query: the metric as a sortable column, NaN apart.
    best = _rows(url, "SELECT run_id FROM v_metrics WHERE key = 'loss' ORDER BY value LIMIT 1")
    assert best == [{"run_id": "views-a"}]


def test_v_objectives_equals_the_runs_objectives(seeded: Any) -> None:
    repo, url = seeded
    rows = _rows(url, "SELECT * FROM v_objectives ORDER BY run_id, name")
    expected = [
        (run_id, o) for run_id in ("views-a", "views-b")
        for o in sorted(repo.get_run(run_id).objectives, key=lambda o: o.name)
    ]  # fmt: skip
    assert [(r["run_id"], r["name"]) for r in rows] == [(i, o.name) for i, o in expected]
    for row, (run_id, objective) in zip(rows, expected, strict=True):
        assert row["direction"] == objective.direction
        assert row["status"] == repo.get_run(run_id).status
        if objective.value is None:
            assert (row["value"], row["value_kind"]) == (None, None)
        elif math.isnan(objective.value):
            assert row["value_kind"] == "nan"
        else:
            assert _same_float(row["value"], objective.value)


def test_v_events_lists_every_event_refused_ones_too(seeded: Any) -> None:
    repo, url = seeded
    rows = _rows(url, "SELECT * FROM v_events WHERE run_id = 'views-a' ORDER BY event_id")
    events = repo.get_run("views-a").events
    assert [(r["from_status"], r["to_status"], bool(r["applied"])) for r in rows] == [
        (e.from_status, e.to_status, e.applied) for e in events
    ]
    assert [bool(r["applied"]) for r in rows].count(False) == 1
    assert [r["reason"] for r in rows] == [e.reason for e in events]


def test_v_crash_reports_and_a_weekly_count(seeded: Any) -> None:
    repo, url = seeded
    (row,) = _rows(url, "SELECT * FROM v_crash_reports")
    (report,) = repo.get_run("views-b").crash_reports
    assert row["run_id"] == "views-b" and row["report_id"] == report.id
    assert row["message"] == report.message == "<b>CUDA</b> out of memory"
    assert (row["error_type"], row["fingerprint"]) == (report.error_type, report.fingerprint)
    assert (row["gradient_method"], row["run_status"]) == ("mgda", "crashed")
    counts = _rows(
        url,
        "SELECT error_type, count(*) AS n FROM v_crash_reports GROUP BY error_type",
    )
    assert counts == [{"error_type": "OutOfMemoryError", "n": 1}]


def test_v_history_series_equals_the_stored_summary(seeded: Any) -> None:
    repo, url = seeded
    (row,) = _rows(url, "SELECT * FROM v_history_series WHERE run_id = 'views-a'")
    summary = repo.history_summary("views-a")["loss"]
    assert row["key"] == "loss" and row["point_count"] == summary.points == 6
    assert (row["first_step"], row["last_step"]) == (0, 5)
    assert row["last_value"] == math.inf and row["last_value_kind"] == "+inf"
    assert (row["min_value"], row["max_value"]) == (summary.min_value, summary.max_value)
    assert (row["min_value"], row["max_value"]) == (1 / 5, math.inf)  # ±Inf counts, NaN not


def test_views_follow_the_data_and_a_deleted_run_leaves_them(seeded: Any) -> None:
    repo, url = seeded
    repo.delete_run("views-b")
    for view in VIEWS:
        left = _rows(url, f"SELECT run_id FROM {view} WHERE run_id = 'views-b'")
        assert left == [], view


def test_the_queries_in_docs_sql_md_run(seeded: Any) -> None:
    """Every example query of docs/sql.md runs on PostgreSQL; the portable ones on SQLite too,
    and the best-run examples find the best run."""
    _, url = seeded
    doc = (Path(__file__).resolve().parent.parent / "docs" / "sql.md").read_text()
    blocks = [b for b in re.findall(r"```sql\n(.*?)```", doc, re.S) if "CREATE ROLE" not in b]
    assert len(blocks) >= 4
    postgres_only = ("DISTINCT ON", "date_trunc", "interval")
    ran = 0
    for block in blocks:
        if url.get_dialect().name == "sqlite" and any(word in block for word in postgres_only):
            continue
        rows = _rows(url, block.strip().rstrip(";").split(";")[0])
        ran += 1
        if "name = 'seg'" in block:
            assert {(r["gradient_method"], r["run_id"]) for r in rows} == {("pcgrad", "views-a")}
    assert ran >= (4 if url.get_dialect().name == "postgresql" else 1)

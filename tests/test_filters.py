"""``query_runs`` criteria, sorting, cursor pages and counts on both dialects, and proof that
hostile strings given as values, config paths, metric keys, tags or name prefixes are data."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from mangodb import ObjectiveCreate, RunCreate, RunRepository, RunStatus, ValidationError
from mangodb.runs.filters import ConfigFilter, FieldFilter, MetricFilter, TagFilter

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)

INJECTIONS = [
    "'; DROP TABLE runs; --",
    '"; DROP TABLE runs; --',
    "%",
    "_",
    "a%",
    "a_c",
    "\\",
    "\\%",
    "' OR '1'='1",
    '$."a"',
    "$.a",
    "a.b",
    '{"a": 1}',
    ") OR 1=1 --",
    "ключ🥭",
]


def _seed(repo: RunRepository) -> None:
    """Twelve runs: methods alternate mgda/pcgrad/cagrad, statuses and configs vary."""
    methods = ["mgda", "pcgrad", "cagrad"]
    for i in range(12):
        repo.insert_run(
            RunCreate(
                run_id=f"exp-{i:02d}" if i < 8 else f"other-{i:02d}",
                gradient_method=methods[i % 3],
                instance_id=f"i-{i % 4}",
                wandb_run_id=f"w{i}",
                created_at=T0 + dt.timedelta(hours=i),
                tags=["even"] if i % 2 == 0 else ["odd", f"t{i}"],
                config={
                    "data": {"batch_size": 32 * (1 + i % 3), "name": f"ds{i % 2}"},
                    "optimizer": {"lr": 0.1 / (i + 1), "warm": i % 2 == 0},
                    "seed": i,
                },
            )
        )
        if i % 4 == 1:
            repo.update_run_status(f"{'exp' if i < 8 else 'other'}-{i:02d}", "running")
        if i % 4 in (2, 3):
            run_id = f"{'exp' if i < 8 else 'other'}-{i:02d}"
            repo.update_run_status(
                run_id,
                "completed" if i % 4 == 2 else "failed",
                final_metrics={"val/loss": i / 10, "acc": 1 - i / 20, "note": "x"},
                ended_at=T0 + dt.timedelta(days=1, hours=i),
            )


def ids(runs: Any) -> list[str]:
    return [r.run_id for r in runs]


@pytest.fixture
def seeded(repo: RunRepository) -> RunRepository:
    _seed(repo)
    return repo


def test_every_criterion(seeded: RunRepository) -> None:
    q = seeded.query_runs
    assert ids(q(order_by="run_id")) == sorted(ids(q()))
    assert ids(q())[0] == "other-11"  # newest first by default
    assert set(ids(q(status="completed"))) == {"exp-02", "exp-06", "other-10"}
    assert set(ids(q(status=["failed", RunStatus.RUNNING]))) == {
        "exp-01",
        "exp-03",
        "exp-05",
        "exp-07",
        "other-09",
        "other-11",
    }
    assert set(ids(q(gradient_method="cagrad"))) == {"exp-02", "exp-05", "other-08", "other-11"}
    assert len(q(gradient_method=["mgda", "pcgrad"])) == 8
    assert set(ids(q(name_prefix="other-"))) == {"other-08", "other-09", "other-10", "other-11"}
    assert q(name_prefix="EXP") == []  # case-sensitive on both dialects
    assert set(ids(q(tags=["odd", "t3"]))) == {"exp-03"}
    assert len(q(tags="even")) == 6
    assert ids(q(created_after=T0 + dt.timedelta(hours=10), order_by="created_at")) == [
        "other-10",
        "other-11",
    ]
    assert ids(q(created_before=T0 + dt.timedelta(hours=1))) == ["exp-00"]
    assert set(ids(q(ended_after=T0 + dt.timedelta(days=1, hours=7)))) == {
        "exp-07",
        "other-10",
        "other-11",
    }
    assert set(ids(q(ended_before=T0 + dt.timedelta(days=1, hours=3)))) == {"exp-02"}
    assert set(ids(q(instance_id="i-1"))) == {"exp-01", "exp-05", "other-09"}
    assert ids(q(wandb_run_id="w4")) == ["exp-04"]
    assert len(q(config={"data.batch_size": 96})) == 4
    assert len(q(config={"data.batch_size": 96.0})) == 4  # numbers compare numerically
    assert set(ids(q(config={"data.batch_size": ("<", 64), "data.name": "ds1"}))) == {
        "exp-03",
        "exp-09".replace("exp", "other"),
    }
    assert len(q(config={"optimizer.warm": True})) == 6
    assert len(q(config={"seed": {"min": 3, "max": 5}})) == 3
    assert len(q(config={"seed": [1, 2, 100]})) == 2
    assert len(q(config={"seed": ("!=", 0)})) == 11
    assert len(q(config={("data", "batch_size"): ("<=", 32)})) == 4
    assert q(config={"data.batch_size": "96"}) == []  # a string is not a number
    assert len(q(config={"missing.path": ("is null", None)})) == 12
    assert set(ids(q(metrics={"val/loss": ("<", 0.5)}))) == {"exp-02", "exp-03"}
    assert set(ids(q(metrics={"acc": {"gt": 0.6}}))) == {"exp-02", "exp-03", "exp-06", "exp-07"}
    assert len(q(metrics={"val/loss": ("is null", None)})) == 6
    assert ids(q(status=["completed", "failed"], order_by="metric.val/loss"))[:2] == [
        "exp-02",
        "exp-03",
    ]
    assert ids(q(order_by="-metric.val/loss", limit=1)) == ["other-11"]
    assert len(q(limit=5, offset=10)) == 2
    combined = q(
        status="completed", gradient_method="cagrad", config={"data.batch_size": 96}, limit=50
    )
    assert ids(combined) == ["exp-02"]


def test_typed_filter_objects(seeded: RunRepository) -> None:
    runs = seeded.query_runs(
        filters=[
            FieldFilter("gradient_method", "=", "mgda"),
            ConfigFilter(("optimizer", "lr"), ">", 0.02),
            TagFilter("even") | MetricFilter("val/loss", ">", 0),
        ]
    )
    assert set(ids(runs)) == {"exp-00", "exp-03"}
    assert ids(seeded.query_runs(filters=~TagFilter("odd") & FieldFilter("seed", "is null")))
    with pytest.raises(ValidationError, match="unknown field"):
        FieldFilter("runs; drop", "=", 1)
    with pytest.raises(ValidationError, match="unknown operator"):
        FieldFilter("status", "; DROP TABLE runs", 1)
    with pytest.raises(ValidationError, match="unknown query criteria"):
        seeded.query_runs(colour="red")
    with pytest.raises(ValidationError, match="cannot sort"):
        seeded.query_runs(order_by="id; DROP TABLE runs")


def test_counts(seeded: RunRepository) -> None:
    assert seeded.count_runs() == 12
    assert seeded.count_runs(gradient_method="mgda") == 4
    assert seeded.count_by_status() == {"launched": 3, "running": 3, "completed": 3, "failed": 3}
    assert seeded.count_by_status(name_prefix="exp") == {
        "launched": 2,
        "running": 2,
        "completed": 2,
        "failed": 2,
    }


@pytest.mark.parametrize("order", ["-created_at", "created_at", "run_id", "-run_id"])
def test_cursor_pages_are_stable_under_inserts(repo: RunRepository, order: str) -> None:
    for i in range(25):
        repo.insert_run(RunCreate(run_id=f"p{i:03d}", created_at=T0 + dt.timedelta(minutes=i)))
    # Several runs share one timestamp: the id breaks the tie.
    for i in range(25, 30):
        repo.insert_run(RunCreate(run_id=f"p{i:03d}", created_at=T0 + dt.timedelta(minutes=12)))
    expected = ids(repo.query_runs(order_by=order))
    seen: list[str] = []
    cursor = None
    page_number = 0
    while True:
        page = repo.query_runs_page(limit=7, cursor=cursor, order_by=order)
        seen.extend(ids(page.items))
        # New runs arrive between pages, at both ends of the order.
        page_number += 1
        repo.insert_run(RunCreate(run_id=f"new-late-{page_number}"))
        repo.insert_run(
            RunCreate(run_id=f"a-new-early-{page_number}", created_at=T0 - dt.timedelta(days=1))
        )
        cursor = page.next_cursor
        if cursor is None:
            break
    originals = [r for r in seen if r.startswith("p")]
    assert originals == expected
    assert len(set(seen)) == len(seen)
    with pytest.raises(ValidationError, match="invalid cursor"):
        repo.query_runs_page(cursor="!!not-a-cursor!!")


@pytest.mark.parametrize("descending", [False, True])
def test_sort_by_objective_and_config_values(repo: RunRepository, descending: bool) -> None:
    """Sorting by ``objective.<name>`` and ``config.<path>``: by the value (ints and floats
    compared as numbers), runs without it last in either direction, ties by insertion, and the
    same order page by page as in one call."""
    values = [0.5, None, 2.0, -1.0, 0.5, 3, None, 1e-9]
    for i, value in enumerate(values):
        config: dict[str, Any] = {"optim": {"lr": value}} if value is not None else {"x": 1}
        repo.insert_run(
            RunCreate(
                run_id=f"s{i}",
                config=config,
                objectives=[ObjectiveCreate(name="miou", direction="max")],
            )
        )
        if value is not None:
            repo.update_objective_metric(f"s{i}", "miou", value=float(value))
    sign = -1 if descending else 1
    present = [i for i, v in enumerate(values) if v is not None]
    by_value = sorted(present, key=lambda i: (sign * float(values[i]), sign * i))  # type: ignore[arg-type]
    expected = [f"s{i}" for i in by_value] + [f"s{i}" for i in (6, 1)[::-sign]]
    prefix = "-" if descending else ""
    for order in (f"{prefix}objective.miou", f"{prefix}config.optim.lr"):
        assert ids(repo.query_runs(order_by=order)) == expected, order
        seen: list[str] = []
        cursor = None
        while True:
            page = repo.query_runs_page(limit=3, cursor=cursor, order_by=order)
            seen.extend(ids(page.items))
            if (cursor := page.next_cursor) is None:
                break
        assert seen == expected, order
    for bad in ("config.", "objective.", "config.a..b", "colour"):
        with pytest.raises(ValidationError, match="sort by"):
            repo.query_runs(order_by=bad)


# -- hostile strings are data -------------------------------------------------------------------
@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_are_data(repo: RunRepository, evil: str) -> None:
    repo.insert_run(
        RunCreate(
            run_id=f"{evil}-run",
            gradient_method=evil[:64],
            tags=[evil],
            config={evil: evil, "nested": {evil: 1}, "plain": "x"},
        )
    )
    repo.insert_run(RunCreate(run_id="innocent", gradient_method="mgda", tags=["t"], config={}))
    repo.update_run_status(f"{evil}-run", final_metrics={evil: 0.5, "other": 1.0})
    repo.insert_objective(f"{evil}-run", ObjectiveCreate(name=evil))
    repo.update_objective_metric(f"{evil}-run", evil, 0.25)
    target = [f"{evil}-run"]

    assert ids(repo.query_runs(gradient_method=evil[:64])) == target
    assert ids(repo.query_runs(tags=[evil])) == target
    assert ids(repo.query_runs(name_prefix=evil)) == target
    assert ids(repo.query_runs(config={(evil,): evil})) == target
    assert ids(repo.query_runs(config={("nested", evil): 1})) == target
    assert ids(repo.query_runs(config={("nested", evil): (">=", 1)})) == target
    assert ids(repo.query_runs(config={(evil,): ("is not null", None)})) == target
    assert ids(repo.query_runs(metrics={evil: ("<", 1)})) == target
    assert ids(repo.query_runs(objectives={evil: ("<", 1)})) == target
    assert ids(repo.query_runs_by_objectives({evil: {"max": 0.3}})) == target
    assert ids(repo.query_runs(order_by=f"metric.{evil}", limit=1)) == target
    assert ids(repo.query_runs(order_by=f"objective.{evil}", limit=1)) == target
    if "." not in evil:  # a dot splits a config path
        assert ids(repo.query_runs(order_by=f"config.{evil}", limit=1)) == target
    # As values somewhere they do not occur, they match nothing.
    assert repo.query_runs(config={"plain": evil}) == []
    assert repo.query_runs(wandb_run_id=evil[:64]) == []
    assert repo.query_runs(status="completed", name_prefix=evil) == []
    assert repo.query_runs(name_prefix=evil + "x") == []
    # The table is intact.
    assert repo.count_runs() == 2
    assert repo.get_run("innocent").gradient_method == "mgda"


def test_like_wildcards_in_name_prefix_match_literally(repo: RunRepository) -> None:
    for run_id in ("a%c", "abc", "a_c", "aXc", "a\\c"):
        repo.insert_run(RunCreate(run_id=run_id))
    assert ids(repo.query_runs(name_prefix="a%")) == ["a%c"]
    assert ids(repo.query_runs(name_prefix="a_")) == ["a_c"]
    assert ids(repo.query_runs(name_prefix="a\\")) == ["a\\c"]
    assert len(repo.query_runs(name_prefix="a")) == 5


def test_bad_filter_values(repo: RunRepository) -> None:
    with pytest.raises(ValidationError):
        repo.query_runs(metrics={"loss": ("<", math.nan)})
    with pytest.raises(ValidationError):
        repo.query_runs(config={"": 1})
    with pytest.raises(ValidationError):
        repo.query_runs(config={"a..b": 1})
    with pytest.raises(ValidationError):
        repo.query_runs(config={"a": None})
    with pytest.raises(ValidationError):
        repo.query_runs(config={"a": {"between": 1}})
    with pytest.raises(ValidationError):
        repo.query_runs(status="finished")
    with pytest.raises(ValidationError):
        repo.query_runs(limit=-1)
    with pytest.raises(ValidationError):
        repo.query_runs(offset=-3)

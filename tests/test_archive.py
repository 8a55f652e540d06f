"""`archive_runs` / `unarchive_runs`: archived runs leave every listing, count and analysis
(the figures become exactly those of the other runs), stay readable by id and with
``include_archived``, and come back unchanged; archiving is idempotent and a dry run changes
nothing. Both dialects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from mangodb import RunCreate, RunRepository, ValidationError

METHODS = ("mgda", "pcgrad", "uniform")
RUNS = 12
ARCHIVED = ("r00", "r01", "r04", "r09")  # two of mgda, one of uniform and pcgrad each


def _seed(repo: RunRepository, n: int = RUNS) -> None:
    for i in range(n):
        run_id = f"r{i:02d}"
        repo.insert_run(
            RunCreate(run_id=run_id, gradient_method=METHODS[i % 3], tags=["sweep"],
                      created_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
                      + dt.timedelta(hours=i))
        )  # fmt: skip
        repo.insert_objective(run_id, name="hop", direction="min")
        repo.insert_objective(run_id, name="seg", direction="max")
        repo.update_objective_metric(run_id, "hop", 0.3 + ((i * 7) % 11) / 20)
        repo.update_objective_metric(run_id, "seg", 0.6 + ((i * 5) % 7) / 30)
        repo.update_run_status(run_id, "running")
        repo.update_run_status(run_id, "completed" if i % 5 else "failed")


@pytest.fixture
def seeded(db_url: URL) -> Iterator[RunRepository]:
    with RunRepository.connect(db_url) as repo:
        _seed(repo)
        yield repo


def _among(run_ids: tuple[str, ...]) -> str:
    return "run_id in (" + ", ".join(f"'{r}'" for r in run_ids) + ")"


def _others(run_ids: tuple[str, ...]) -> str:
    return f"not ({_among(run_ids)})"


def _same(got: Any, expected: Any) -> bool:
    """Equal, floats to 1e-9 relative: the database sums in the order it reads rows, and
    archiving (an UPDATE) moves rows, so the last digits of a mean may differ."""
    if isinstance(expected, float) and isinstance(got, float):
        return got == pytest.approx(expected, rel=1e-9, nan_ok=True)
    if isinstance(expected, dict) and isinstance(got, dict):
        return got.keys() == expected.keys() and all(_same(got[k], expected[k]) for k in got)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(expected) and all(map(_same, got, expected))
    return bool(got == expected)


def _figures(repo: RunRepository, where: str | None = None, **flags: Any) -> dict[str, Any]:
    """Every listing and analysis of the runs matching ``where`` (default criteria else)."""
    criteria: dict[str, Any] = {} if where is None else {"where": where}
    report = repo.method_report("uniform", where=where, **flags).model_dump()
    for row in report["rows"]:
        # A bootstrap over the runs in the order they are read: that order differs between
        # reading run_objectives alone and joining runs (a where on run ids), so does its tail.
        row.pop("delta_m_ci95")
    return {
        "ids": [r.run_id for r in repo.query_runs(order_by="run_id", **criteria, **flags)],
        "count": repo.count_runs(**criteria, **flags),
        "by_status": repo.count_by_status(**criteria, **flags),
        "page": [r.run_id for r in repo.query_runs_page(limit=5, **criteria, **flags).items],
        "crashless": sorted(repo.runs_without_crash_data(**criteria, **flags)),
        "compare": {
            name: [
                c.model_dump()
                for c in repo.compare_gradient_methods(name, statuses=None, **criteria, **flags)
            ]
            for name in ("hop", "seg")
        },
        "report": report,
    }


def test_archived_runs_leave_listings_counts_and_analysis(seeded: RunRepository) -> None:
    repo = seeded
    everything = _figures(repo)
    without = _figures(repo, _others(ARCHIVED))
    assert without["count"] == RUNS - len(ARCHIVED) and everything["count"] == RUNS

    report = repo.archive_runs(_among(ARCHIVED))
    assert report.archived and not report.dry_run and sorted(report.run_ids) == list(ARCHIVED)

    # Without criteria, method analysis reads run_objectives alone (the archive mark copied
    # there); with the run id filter it joins runs. Both give the figures of the other runs.
    assert _same(_figures(repo), without)
    assert _same(_figures(repo, include_archived=True), everything)
    ids = repo.query_runs(where="archived_at is not null", order_by="run_id")
    assert [r.run_id for r in ids] == list(ARCHIVED)  # a query naming the mark sees them


def test_unarchive_brings_back_the_same_figures(seeded: RunRepository) -> None:
    repo = seeded
    before = _figures(repo)
    repo.archive_runs("method = mgda")
    assert repo.count_runs() == RUNS - RUNS // 3
    assert repo.compare_gradient_methods("hop", statuses=None)[0].gradient_method == "pcgrad"
    back = repo.unarchive_runs("run_id like 'r%'")
    assert not back.archived and len(back.run_ids) == RUNS // 3
    assert _same(_figures(repo), before)
    assert repo.unarchive_runs("run_id like 'r%'").run_ids == ()


def test_get_run_reads_an_archived_run_with_its_time(seeded: RunRepository) -> None:
    repo = seeded
    assert repo.get_run("r00").archived_at is None
    updated = repo.get_run("r00").updated_at
    start = dt.datetime.now(dt.timezone.utc)
    repo.archive_runs("run_id = 'r00'")
    run = repo.get_run("r00")
    assert run.archived_at is not None and run.archived_at >= start - dt.timedelta(seconds=1)
    assert run.updated_at == updated  # hiding a run does not change it
    assert run.objective("hop") is not None and run.status == "failed"
    assert repo.query_runs(include_archived=True, where="run_id = 'r00'")[0].archived_at == (
        run.archived_at
    )


def test_archiving_is_idempotent_and_a_dry_run_changes_nothing(seeded: RunRepository) -> None:
    repo = seeded
    plan = repo.archive_runs("status = failed", dry_run=True)
    assert plan.dry_run and sorted(plan.run_ids) == ["r00", "r05", "r10"]
    assert repo.count_runs() == RUNS
    done = repo.archive_runs("status = failed", runs_per_batch=2)
    assert done.run_ids == plan.run_ids and done.batches == 2
    first = repo.get_run("r05").archived_at
    again = repo.archive_runs("status = failed or method = mgda")
    assert sorted(again.run_ids) == ["r03", "r06", "r09"]  # r00 is mgda but archived already
    assert repo.get_run("r05").archived_at == first
    assert repo.unarchive_runs("status = completed", dry_run=True).run_ids == ("r03", "r06", "r09")
    assert repo.count_runs(include_archived=True, where="archived_at is not null") == 6


def test_active_runs_may_be_archived_and_purge_deletes_archived_runs(db_url: URL) -> None:
    with RunRepository.connect(db_url) as repo:
        repo.insert_run(RunCreate(run_id="live", gradient_method="mgda"))
        repo.update_run_status("live", "running")
        repo.insert_run(RunCreate(run_id="old", gradient_method="mgda"))
        repo.update_run_status("old", "failed")
        assert repo.archive_runs("method = mgda").run_ids == ("live", "old")
        repo.heartbeat("live")  # its writers find it by id
        repo.update_run_status("live", "completed")
        assert repo.get_run("live").status == "completed"
        assert repo.find_runs_by_instance("nope") == []
        assert repo.purge_runs(where="method = mgda").run_ids == ("live", "old")
        assert repo.count_runs(include_archived=True) == 0


def test_archive_needs_a_query(db_url: URL) -> None:
    with RunRepository.connect(db_url) as repo:
        for blank in ("", "  "):
            with pytest.raises(ValidationError, match="never selects all"):
                repo.archive_runs(blank)
            with pytest.raises(ValidationError, match="never selects all"):
                repo.unarchive_runs(blank)
        with pytest.raises(ValidationError):
            repo.archive_runs("method = ")
        with pytest.raises(ValidationError):
            repo.count_runs(include_archived="yes")  # type: ignore[typeddict-item]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(chosen=st.sets(st.integers(min_value=0, max_value=RUNS - 1)))
def test_counts_equal_those_of_the_runs_not_archived(
    seeded: RunRepository, chosen: set[int]
) -> None:
    repo = seeded
    archived = tuple(f"r{i:02d}" for i in sorted(chosen))
    if archived:
        repo.archive_runs(_among(archived))
    try:
        kept = [i for i in range(RUNS) if i not in chosen]
        assert repo.count_runs() == len(kept)
        by_method = {m: sum(1 for i in kept if METHODS[i % 3] == m) for m in METHODS}
        compared = repo.compare_gradient_methods("hop", statuses=None)
        assert {c.gradient_method: c.n for c in compared} == {
            m: n for m, n in by_method.items() if n
        }
        rows = repo.method_report("uniform").rows if by_method["uniform"] else ()
        assert {r.method: r.runs for r in rows} == (
            {m: n for m, n in by_method.items() if n} if rows else {}
        )
        assert repo.count_runs(where="archived_at is not null") == len(archived)
    finally:
        repo.unarchive_runs("run_id like 'r%'")

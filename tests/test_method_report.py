"""``RunRepository.method_report`` on both dialects: a published NYUv2 table reproduced, the
selection (``where``, ``objectives``), missing and NaN values, unknown names, and the report
without scipy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from mangodb import (
    MethodNotFound,
    MethodReport,
    ObjectiveCreate,
    RunCreate,
    RunRepository,
    ValidationError,
)
from mangodb.runs import method_maths

# NYUv2 (13-class segmentation, depth, surface normals; SegNet/MTAN), 9 metrics.
NAMES = (
    "miou",
    "pix_acc",
    "abs_err",
    "rel_err",
    "angle_mean",
    "angle_median",
    "within_11",
    "within_22",
    "within_30",
)
DIRECTIONS = ("max", "max", "min", "min", "min", "min", "max", "max", "max")
# The single-task (STL) baseline at full precision, as the Nash-MTL code computes Δm from it:
# AvivNavon/nash-mtl, experiments/nyuv2/utils.py, ``BASE`` ("base results from CAGrad"); the
# percentages of the table below are these fractions × 100.
STL = (38.30, 63.76, 0.6754, 0.2780, 25.01, 19.21, 30.14, 57.20, 69.15)
# Z. Zhou, L. Liu, P. Zhao, W. Gong, "Injecting Imbalance Sensitivity for Multi-Task Learning"
# (IMGrad), Table 3: "Scene understanding (NYUv2, 3 tasks). MTAN model performance averaged
# over 3 random seeds", the last column its Δm%. (The same rows as Nash-MTL's Table 2, Navon et
# al. 2022, and FAMO's, Liu et al. 2023, with depth errors rounded to two decimals.)
PUBLISHED = {
    "ls": ((39.29, 65.33, 0.55, 0.23, 28.15, 23.96, 22.09, 47.50, 61.08), 5.46),
    "rlw": ((37.17, 63.77, 0.58, 0.24, 28.27, 24.18, 22.26, 47.05, 60.62), 7.67),
    "dwa": ((39.11, 65.31, 0.55, 0.23, 27.61, 23.18, 24.17, 50.18, 62.39), 3.49),
    "mgda": ((30.47, 59.90, 0.61, 0.26, 24.88, 19.45, 29.18, 56.88, 69.36), 1.47),
    "graddrop": ((39.39, 65.12, 0.55, 0.23, 27.48, 22.96, 23.38, 49.44, 62.87), 3.61),
    "pcgrad": ((38.06, 64.64, 0.56, 0.23, 27.41, 22.80, 23.86, 49.83, 63.14), 3.83),
    "cagrad": ((39.79, 65.49, 0.55, 0.23, 26.31, 21.58, 25.61, 52.36, 65.58), 0.29),
    "imtl": ((39.35, 65.60, 0.54, 0.23, 26.02, 21.19, 26.20, 53.13, 66.24), -0.59),
    "nash_mtl": ((40.13, 65.93, 0.53, 0.22, 25.26, 20.08, 28.40, 55.47, 68.15), -4.04),
    "moco": ((40.30, 66.07, 0.56, 0.21, 26.67, 21.83, 25.61, 51.78, 64.85), 0.16),
    "famo": ((38.88, 64.90, 0.55, 0.22, 25.06, 19.57, 29.21, 56.61, 68.98), -4.10),
    "imgrad": ((40.20, 66.19, 0.52, 0.22, 25.15, 19.94, 28.69, 55.80, 68.44), -4.57),
}
# The table prints every metric to 0.01 (depth errors too) and Δm to 0.01: a Δm recomputed from
# the printed metrics can differ from the printed Δm by at most this (half a unit of each input,
# relative to the baseline, averaged, plus half a unit of Δm).
ROUNDING = 100 / len(NAMES) * sum(0.005 / b for b in STL) + 0.005
SPREAD = (0.999, 1.0, 1.001)  # three seeds symmetric around each published value (±0.1%)


def objectives(values: dict[str, float], directions: dict[str, str]) -> list[ObjectiveCreate]:
    return [ObjectiveCreate(name=n, direction=directions[n]) for n in values]  # type: ignore[arg-type]


def add_run(
    repo: RunRepository,
    run_id: str,
    method: str | None,
    values: dict[str, float | None],
    directions: dict[str, str] | None = None,
    status: str = "completed",
) -> None:
    directions = directions or {n: "min" for n in values}
    repo.insert_run(
        RunCreate(
            run_id=run_id,
            gradient_method=method,
            status=status,  # type: ignore[arg-type]
            objectives=[ObjectiveCreate(name=n, direction=directions[n]) for n in values],  # type: ignore[arg-type]
        )
    )
    for name, value in values.items():
        if value is not None:
            repo.update_objective_metric(run_id, name, value=value)


def seed_nyuv2(repo: RunRepository) -> None:
    runs = [
        RunCreate(
            run_id=f"{method}-{seed}",
            gradient_method=method,
            status="completed",
            objectives=[
                ObjectiveCreate(name=n, direction=d) for n, d in zip(NAMES, DIRECTIONS, strict=True)
            ],  # type: ignore[arg-type]
        )
        for method in ("stl", *PUBLISHED)
        for seed in range(len(SPREAD))
    ]
    repo.insert_runs(runs)
    for method, values in [("stl", STL), *((m, v) for m, (v, _) in PUBLISHED.items())]:
        for seed, offset in enumerate(SPREAD):
            for name, value in zip(NAMES, values, strict=True):
                repo.update_objective_metric(f"{method}-{seed}", name, value=value * offset)


def test_reproduces_a_published_nyuv2_table(repo: RunRepository) -> None:
    import scipy.stats

    seed_nyuv2(repo)
    report = repo.method_report("stl")
    assert [(o.name, o.direction) for o in report.objectives] == sorted(
        zip(NAMES, DIRECTIONS, strict=True)
    )
    rows = {row.method: row for row in report.rows}
    assert rows["stl"].delta_m == 0.0 and rows["stl"].mean_rank is None
    for method, (values, published) in PUBLISHED.items():
        row = rows[method]
        assert row.runs == 3 and row.missing == () and row.delta_m_note is None
        assert row.delta_m == pytest.approx(published, abs=ROUNDING), method
        for name, value in zip(NAMES, values, strict=True):
            assert row.objectives[name].mean == pytest.approx(value, rel=1e-12)
            assert row.objectives[name].n == 3
    # Sorted by Δm as the table's Δm column sorts them.
    order = [row.method for row in report.rows if row.method != "stl"]
    assert order == sorted(PUBLISHED, key=lambda m: PUBLISHED[m][1])
    # Mean rank among the 12 methods (STL left out), ties sharing ranks, as rankdata computes it
    # from the printed table: the rounded depth errors tie (five methods print 0.55).
    table = {m: v for m, (v, _) in PUBLISHED.items()}
    per_column = [
        scipy.stats.rankdata(
            [(-1 if d == "max" else 1) * table[m][k] for m in table], method="average"
        )
        for k, d in enumerate(DIRECTIONS)
    ]
    for i, method in enumerate(table):
        expected = sum(column[i] for column in per_column) / len(NAMES)
        assert rows[method].mean_rank == pytest.approx(expected, abs=1e-9), method
    # Nash-MTL, FAMO, IMGrad, MGDA trade off; STL (best on angles) is on the front too.
    front = {row.method for row in report.rows if row.pareto_optimal}
    assert {"stl", "imgrad", "moco"} <= front and "rlw" not in front
    # Intervals: the seeds differ by ±0.1%, so every interval is tight around the mean.
    nash = rows["nash_mtl"]
    low, high = nash.delta_m_ci95 or (0.0, 0.0)
    assert low <= nash.delta_m <= high and high - low < 0.3  # type: ignore[operator]
    assert nash.objectives["miou"].p_value is not None and nash.objectives["miou"].p_value < 0.05


def test_where_and_objectives_select(repo: RunRepository) -> None:
    directions = {"loss": "min", "acc": "max"}
    for i, (method, loss, acc, status) in enumerate(
        [
            ("uniform", 1.0, 0.5, "completed"),
            ("uniform", 1.2, 0.7, "completed"),
            ("mgda", 0.5, 0.6, "completed"),
            ("mgda", 0.7, 0.6, "completed"),
            ("mgda", 100.0, 0.0, "failed"),
            (None, 0.1, 0.9, "completed"),  # no method: left out
        ]
    ):
        add_run(repo, f"r{i}", method, {"loss": loss, "acc": acc}, directions, status)
    report = repo.method_report("uniform", where="status = completed")
    rows = {row.method: row for row in report.rows}
    assert set(rows) == {"uniform", "mgda"} and rows["mgda"].runs == 2
    assert rows["mgda"].objectives["loss"].mean == pytest.approx(0.6)
    # loss: (0.6 - 1.1) / 1.1 = -45.45%; acc: -(0.6 - 0.6) / 0.6 = 0
    assert rows["mgda"].delta_m == pytest.approx(100 * (-0.5 / 1.1) / 2)
    assert rows["mgda"].objectives["loss"].std == pytest.approx(math.sqrt(0.02))
    only = repo.method_report("uniform", objectives=["loss"], where="status = completed")
    assert [o.name for o in only.objectives] == ["loss"]
    assert {r.method: r.delta_m for r in only.rows}["mgda"] == pytest.approx(-50 / 1.1)
    everything = repo.method_report("uniform")
    assert {r.method: r.runs for r in everything.rows}["mgda"] == 3
    json.loads(everything.model_dump_json())


def test_nan_and_never_set_values_are_left_out(repo: RunRepository) -> None:
    add_run(repo, "b1", "uniform", {"loss": 1.0, "acc": 0.5}, {"loss": "min", "acc": "max"})
    add_run(repo, "b2", "uniform", {"loss": 3.0, "acc": math.nan}, {"loss": "min", "acc": "max"})
    add_run(repo, "m1", "pcgrad", {"loss": 1.0, "acc": None}, {"loss": "min", "acc": "max"})
    add_run(repo, "m2", "pcgrad", {"loss": math.nan, "acc": None}, {"loss": "min", "acc": "max"})
    report = repo.method_report("uniform")
    rows = {row.method: row for row in report.rows}
    assert rows["uniform"].objectives["acc"].n == 1
    assert rows["uniform"].objectives["loss"].mean == 2.0
    pcgrad = rows["pcgrad"]
    assert pcgrad.runs == 2 and pcgrad.objectives["loss"].n == 1
    assert pcgrad.missing == ("acc",) and pcgrad.objectives["acc"].mean is None
    assert pcgrad.delta_m == pytest.approx(-50.0)
    assert "1 of 2" in (pcgrad.delta_m_note or "")


def test_zero_baseline_mean(repo: RunRepository) -> None:
    add_run(repo, "b1", "uniform", {"loss": 0.0})
    add_run(repo, "m1", "mgda", {"loss": 0.5})
    report = repo.method_report("uniform")
    assert all(row.delta_m is None for row in report.rows)
    assert "'loss' is 0" in (report.rows[0].delta_m_note or "")
    assert "NaN" not in report.model_dump_json() and "Infinity" not in report.model_dump_json()


def test_unknown_names(repo: RunRepository) -> None:
    add_run(repo, "b1", "uniform", {"loss": 1.0})
    add_run(repo, "m1", "pcgrad", {"loss": 0.5})
    with pytest.raises(MethodNotFound, match="did you mean 'uniform'") as caught:
        repo.method_report("unifrom")
    assert isinstance(caught.value, ValidationError) and isinstance(caught.value, LookupError)
    with pytest.raises(MethodNotFound, match="no run selected"):
        repo.method_report("uniform", where="status = crashed")
    with pytest.raises(ValidationError, match="did you mean 'loss'"):
        repo.method_report("uniform", objectives=["lose"])
    with pytest.raises(ValidationError, match="empty"):
        repo.method_report("uniform", objectives=[])
    with pytest.raises(ValidationError):
        repo.method_report("uniform", where="status = = x")


def test_without_scipy_the_report_keeps_means_delta_m_ranks_and_pareto(
    repo: RunRepository,
) -> None:
    """scipy blocked in a fresh interpreter: statistics False, p-values and intervals None."""
    add_run(repo, "b1", "uniform", {"loss": 1.0})
    add_run(repo, "b2", "uniform", {"loss": 1.2})
    add_run(repo, "m1", "mgda", {"loss": 0.5})
    add_run(repo, "m2", "mgda", {"loss": 0.7})
    url = repo.engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["scipy"] = None
        from mangodb import RunRepository
        with RunRepository.connect({url!r}) as repo:
            print(repo.method_report("uniform").model_dump_json())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    report = MethodReport.model_validate_json(done.stdout)
    assert report.statistics is False
    rows = {row.method: row for row in report.rows}
    assert rows["mgda"].delta_m == pytest.approx(-100 * 0.5 / 1.1)
    assert rows["mgda"].objectives["loss"].std == pytest.approx(math.sqrt(0.02))
    assert rows["mgda"].pareto_optimal and not rows["uniform"].pareto_optimal
    assert rows["mgda"].mean_rank == 1.0
    assert rows["mgda"].delta_m_ci95 is None
    assert (
        rows["mgda"].objectives["loss"].p_value is None
        and rows["mgda"].objectives["loss"].ci95 is None
    )
    with_scipy = {row.method: row for row in repo.method_report("uniform").rows}
    assert with_scipy["mgda"].objectives["loss"].p_value is not None
    assert with_scipy["mgda"].delta_m == pytest.approx(rows["mgda"].delta_m)


def test_large_samples_interval_from_the_database_moments(repo: RunRepository) -> None:
    """Above EXACT_BOOTSTRAP_RUNS runs a side, Δm's interval comes from the moments the
    database sums, not from every value: the interval the runs themselves give (same normal
    limit, same seed), with a value missing on some runs."""
    if method_maths.scipy_stats() is None:
        pytest.skip("needs scipy")
    n = method_maths.EXACT_BOOTSTRAP_RUNS + 20
    made = [
        ObjectiveCreate(name="loss", direction="min"),
        ObjectiveCreate(name="acc", direction="max"),
    ]
    repo.insert_runs(
        RunCreate(run_id=f"{m}-{i}", gradient_method=m, status="completed", objectives=made)  # type: ignore[arg-type]
        for m in ("base", "new")
        for i in range(n)
    )
    with repo.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE run_objectives SET value = CASE WHEN name = 'loss' "
                "THEN 1.0 + ((run_pk * 37) % 101) / 100.0 + (run_pk % 2) / 10.0 "
                "ELSE 0.5 + ((run_pk * 53) % 97) / 200.0 - ((run_pk * 37) % 101) / 1000.0 END "
                "WHERE name = 'loss' OR run_pk % 13 <> 0"
            )
        )
        rows = connection.execute(
            text(
                "SELECT r.gradient_method, o.run_pk, o.name, o.value FROM run_objectives o "
                "JOIN runs r ON r.id = o.run_pk WHERE o.value IS NOT NULL"
            )
        ).all()
    by_run: dict[str, dict[int, dict[str, float]]] = {}
    for method, pk, name, value in rows:
        by_run.setdefault(method, {}).setdefault(pk, {})[name] = value
    runs = {m: list(r.values()) for m, r in by_run.items()}
    expected = method_maths.build_report("base", {"acc": "max", "loss": "min"}, runs)
    report = repo.method_report("base")
    got = {r.method: r for r in report.rows}["new"]
    want = {r.method: r for r in expected.rows}["new"]
    assert got.delta_m == pytest.approx(want.delta_m, rel=1e-9)
    assert got.delta_m_ci95 is not None and want.delta_m_ci95 is not None
    assert got.delta_m_ci95 == pytest.approx(want.delta_m_ci95, rel=1e-7)
    assert got.delta_m_ci95[0] < got.delta_m < got.delta_m_ci95[1]

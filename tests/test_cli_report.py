"""``mangodb compare --baseline METHOD``: the method report as a table and as JSON, on SQLite
and PostgreSQL (the 24-run demo campaign); bad input gives one error line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from demo_db import cli_demo_url
from typer.testing import CliRunner, Result

from mangodb import RunRepository
from mangodb.cli import app

__all__ = ["cli_demo_url"]
ROW_KEYS = {
    "method",
    "runs",
    "delta_m",
    "delta_m_ci95",
    "mean_rank",
    "pareto_optimal",
    "objectives",
}


def mangodb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def ok(*args: str) -> str:
    result = mangodb(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def test_json_is_the_report_of_the_completed_runs(cli_demo_url: str) -> None:
    printed = json.loads(ok("compare", "--baseline", "uniform", "--json", "--url", cli_demo_url))
    with RunRepository.connect(cli_demo_url) as repo:
        report = repo.method_report("uniform", where="status = completed")
    assert printed["baseline"] == "uniform"
    assert printed["objectives"] == [
        {"name": o.name, "direction": o.direction} for o in report.objectives
    ]
    assert [row["method"] for row in printed["rows"]] == [row.method for row in report.rows]
    for shown, row in zip(printed["rows"], report.rows, strict=True):
        assert set(shown) >= ROW_KEYS
        assert shown["delta_m"] == row.delta_m and shown["mean_rank"] == row.mean_rank
        assert shown["runs"] == row.runs and shown["pareto_optimal"] == row.pareto_optimal
        assert shown["delta_m_ci95"] == (list(row.delta_m_ci95) if row.delta_m_ci95 else None)
        for name, stats in row.objectives.items():
            assert set(shown["objectives"][name]) == {"mean", "std", "n", "ci95", "p_value"}
            assert shown["objectives"][name]["mean"] == stats.mean
            assert shown["objectives"][name]["p_value"] == stats.p_value
    deltas = [row["delta_m"] for row in printed["rows"]]
    assert deltas == sorted(deltas) and 0.0 in deltas


def test_objective_and_query_narrow_the_report(cli_demo_url: str) -> None:
    args = ("compare", "--baseline", "uniform", "-o", "hop", "batch_size = 96", "--json")
    printed = json.loads(ok(*args, "--url", cli_demo_url))
    assert [o["name"] for o in printed["objectives"]] == ["hop"]
    with RunRepository.connect(cli_demo_url) as repo:
        report = repo.method_report(
            "uniform", objectives=["hop"], where="status = completed and batch_size = 96"
        )
    assert [r["delta_m"] for r in printed["rows"]] == [r.delta_m for r in report.rows]
    assert sum(r["runs"] for r in printed["rows"]) == sum(r.runs for r in report.rows) < 18


def test_table_has_a_row_per_method_sorted_by_delta_m(cli_demo_url: str) -> None:
    printed = ok("compare", "--baseline", "uniform", "--url", cli_demo_url)
    lines = printed.splitlines()
    assert "methods against uniform" in lines[0]
    header = next(line for line in lines if "Δm% [95% CI]" in line)
    for column in ("runs", "mean rank", "pareto", "hop ↓", "seg ↑", "depth ↓"):
        assert column in header
    order = [
        line.split()[0]
        for line in lines
        if line.split()[:1] in (["imtlg"], ["pcgrad"], ["mgda"], ["uniform"])
    ]
    assert order == ["imtlg", "pcgrad", "mgda", "uniform"]
    assert "uniform (baseline)" in printed
    assert "Welch's t-test against uniform" in printed and "*" in printed


def test_without_scipy_one_line_names_the_extra(cli_demo_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["scipy"] = None
        from typer.testing import CliRunner
        from mangodb.cli import app
        args = ["compare", "--baseline", "uniform", "--url", {cli_demo_url!r}]
        result = CliRunner().invoke(app, args)
        print(result.exit_code)
        print(result.stdout)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    code, printed = done.stdout.split("\n", 1)
    assert code == "0", printed
    assert "pip install 'mangodb[stats]' adds p-values and 95% intervals" in printed
    imtlg = next(line for line in printed.splitlines() if line.strip().startswith("imtlg"))
    assert "[" not in imtlg and "*" not in imtlg  # no interval, no significance mark
    assert "-19.81" in imtlg  # Δm is still there
    assert "Welch" not in printed


def test_errors_are_one_line(cli_demo_url: str) -> None:
    for args, fragment in (
        (("--baseline", "unifrom"), "did you mean 'uniform'"),
        (("--baseline", "uniform", "-o", "hopp"), "did you mean 'hop'"),
        (("--baseline", "uniform", "method = = x"), "at column 10"),
        (("--baseline", "uniform", "--where", "a = 1", "b = 2"), "not both"),
    ):
        result = mangodb("compare", *args, "--url", cli_demo_url)
        assert result.exit_code != 0, result.output
        assert result.stdout == "" and result.stderr.startswith("error: ")
        assert fragment in result.stderr and "Traceback" not in result.output


def test_compare_without_baseline_is_unchanged(cli_demo_url: str) -> None:
    printed = ok("compare", "-o", "hop", "--where", "batch_size = 96", "--url", cli_demo_url)
    assert printed.startswith("objective hop (lower is better)")
    assert "best run" in printed and "Δm" not in printed
    assert ok("compare", "-o", "hop", "batch_size = 96", "--url", cli_demo_url) == printed

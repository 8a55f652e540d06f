"""``mangodb compare --baseline METHOD``: the method report (``RunRepository.method_report``)
as one table, a row per gradient method sorted by Δm%, or as JSON."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.text import Text

from mangodb.cli.app import console
from mangodb.cli.render import cell, out, print_json
from mangodb.cli.tables import Column, TableSpec
from mangodb.dto import MethodReport, MethodRow

SIGNIFICANT = 0.05  # the mark next to a mean: Welch's p-value against the baseline below this


def report_json(report: MethodReport) -> dict[str, Any]:
    """The shape issue 14 fixes; non-finite numbers become null (``print_json``)."""
    return {
        "baseline": report.baseline,
        "objectives": [o.model_dump() for o in report.objectives],
        "statistics": report.statistics,
        "rows": [
            {
                "method": row.method,
                "runs": row.runs,
                "delta_m": row.delta_m,
                "delta_m_ci95": row.delta_m_ci95,
                "delta_m_note": row.delta_m_note,
                "missing": list(row.missing),
                "mean_rank": row.mean_rank,
                "pareto_optimal": row.pareto_optimal,
                "objectives": {n: s.model_dump() for n, s in row.objectives.items()},
            }
            for row in report.rows
        ],
    }


def _number(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}" if math.isfinite(value) else cell(value)


def _delta_m(row: MethodRow, baseline: str) -> str:
    if row.delta_m is None:
        return "n/a" + ("†" if row.delta_m_note else "")
    if row.method == baseline:
        return "0"
    text = _number(row.delta_m)
    if row.delta_m_ci95 is not None:
        low, high = row.delta_m_ci95
        text += f" [{_number(low)}, {_number(high)}]"
    return text + ("†" if row.delta_m_note else "")


def _objective(row: MethodRow, name: str, baseline: str) -> Text:
    stats = row.objectives[name]
    if stats.mean is None:
        return Text("—", style="dim")
    text = Text(cell(stats.mean) + (f" ± {stats.std:.2g}" if stats.std is not None else ""))
    if row.method == baseline:
        return text
    marked = stats.p_value is not None and stats.p_value < SIGNIFICANT
    return text.append("*" if marked else " ", style="bold" if marked else "")


def report_table(report: MethodReport) -> TableSpec:
    columns = [
        Column("method", kind="id"),
        Column("runs", justify="right", drop=3),
        Column("Δm% [95% CI]", justify="right"),
        Column("mean rank", justify="right", drop=2),
        Column("pareto", drop=1),
        *(
            Column(f"{o.name} {'↓' if o.direction == 'min' else '↑'}", justify="right", drop=4)
            for o in report.objectives
        ),
    ]
    table = TableSpec(
        columns,
        title=f"methods against {report.baseline} (Δm%: lower is better)",
        box=box.SIMPLE_HEAD,
    )
    for row in report.rows:
        name = row.method + (" (baseline)" if row.method == report.baseline else "")
        table.add_row(
            Text(name),
            Text(str(row.runs)),
            Text(_delta_m(row, report.baseline)),
            Text("" if row.mean_rank is None else f"{row.mean_rank:.2f}"),
            Text("yes" if row.pareto_optimal else ""),
            *(_objective(row, o.name, report.baseline) for o in report.objectives),
        )
    return table


def print_report(report: MethodReport, json_output: bool) -> None:
    if json_output:
        print_json(report_json(report))
        return
    out(report_table(report))
    notes = [f"† {row.method}: {row.delta_m_note}" for row in report.rows if row.delta_m_note]
    for note in notes:
        console.print(note, style="dim", highlight=False, markup=False)
    if report.statistics:
        console.print(
            f"* Welch's t-test against {report.baseline}: p < {SIGNIFICANT}; "
            "intervals: 95% (mean: Student's t; Δm: bootstrap over runs)",
            style="dim",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "pip install 'mangodb[stats]' adds p-values and 95% intervals (scipy)",
            style="dim",
            highlight=False,
            markup=False,
        )

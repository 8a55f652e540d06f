"""Tables printed by the CLI never cut, wrap or hide a run id, a status or a method: piped
(greppable, one row per line) and in a terminal of any width."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from mangodb import ObjectiveCreate, RunCreate, RunRepository
from mangodb.cli import app
from mangodb.cli.history import history_summary
from mangodb.cli.runs import DEFAULT_COLUMNS, runs_table
from mangodb.cli.show import comparison_table
from mangodb.cli.tables import print_table
from mangodb.dto import MethodComparison
from mangodb.history import Series, SeriesSummary

# Long enough to wrap in 80 columns, with non-ASCII and wide characters.
LONG_IDS = [
    "deco_hop_bs96_mgda_i-0e4a3a096afeba3e4_" + "x" * 40 + "_end1",
    "exp/überlang-σ-" + "数据" * 12 + "-end2",
    "short-end3",
]
METHODS = ["mgda", "pcgrad_with_a_rather_long_name", "imtlg"]
STATUSES = ["terminated", "completed", "crashed"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def campaign(db_url: URL) -> Iterator[str]:
    """Three runs with long ids, a terminated one among them, each with objective and history."""
    with RunRepository.connect(db_url) as repo:
        for i, (run_id, method, status) in enumerate(zip(LONG_IDS, METHODS, STATUSES, strict=True)):
            repo.insert_run(
                RunCreate(
                    run_id=run_id,
                    gradient_method=method,
                    config={"data": {"batch_size": 96}},
                    objectives=[ObjectiveCreate(name="hop", metric="val/hop_loss")],
                )
            )
            repo.update_run_status(run_id, "running")
            repo.append_history(run_id, {"val/hop_loss": [0.9, 0.5, 0.4 + i / 10]})
            repo.update_objective_metric(run_id, "hop", value=0.4 + i / 10, step=2)
            repo.update_run_status(run_id, status, force=True)
    yield db_url.render_as_string(hide_password=False)


def cli(url: str, *args: str, terminal: bool = False, columns: int = 80) -> str:
    env = {"COLUMNS": str(columns), "TTY_COMPATIBLE": "1" if terminal else "0"}
    result = CliRunner().invoke(app, [*args, "--url", url], env=env)
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.stdout)


COMMANDS = {
    "runs ls": (["runs", "ls"], LONG_IDS + STATUSES + METHODS),
    "compare": (["compare", "-o", "hop", "--status", "terminated", "--status", "completed",
                 "--status", "crashed"], LONG_IDS + METHODS),
    "history": (["history", LONG_IDS[0]], [LONG_IDS[0], "val/hop_loss"]),
    "runs show": (["runs", "show", LONG_IDS[1]], [LONG_IDS[1], "completed", METHODS[1]]),
}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_piped_output_is_greppable_by_run_id(campaign: str, command: str) -> None:
    args, identifiers = COMMANDS[command]
    lines = cli(campaign, *args).splitlines()
    for identifier in identifiers:
        assert any(identifier in line for line in lines), f"{identifier!r} cut in {command}"
    assert not any("…" in line for line in lines)  # nothing shortened when piped


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("columns", [40, 80])
def test_a_narrow_terminal_shows_whole_identifiers(
    campaign: str, command: str, columns: int
) -> None:
    args, identifiers = COMMANDS[command]
    output = cli(campaign, *args, terminal=True, columns=columns)
    for identifier in identifiers:
        assert identifier in output, f"{identifier!r} cut at {columns} columns in {command}"


def test_a_terminal_too_narrow_drops_columns_and_says_so(campaign: str) -> None:
    output = cli(campaign, "runs", "ls", LONG_IDS[2].join("''").join(["run_id = ", ""]),
                 terminal=True, columns=40)  # fmt: skip
    assert "short-end3" in output and "crashed" in output and "imtlg" in output
    assert "(hidden to fit: created, batch_size)" in output
    assert all(len(line) <= 40 for line in output.splitlines())


# Identifiers hypothesis draws: long, unicode (wide CJK included), punctuation.
IDS = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Nd"), include_characters="-_./:数据σü"),
    min_size=1,
    max_size=120,
)


def render(spec: object, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    print_table(spec, console)  # type: ignore[arg-type]
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(40, 200),
    rows=st.lists(
        st.tuples(IDS, st.sampled_from(["terminated", "completed", "launched"]), IDS),
        min_size=1,
        max_size=4,
    ),
    value=st.floats(allow_nan=True),
)
def test_every_identifier_appears_whole_at_any_width(
    width: int, rows: list[tuple[str, str, str]], value: float
) -> None:
    listing = runs_table(
        DEFAULT_COLUMNS,
        [
            {"run_id": r, "status": s, "method": m, "batch_size": value, "created": None}
            for r, s, m in rows
        ],
    )
    comparison = comparison_table(
        "hop",
        [
            MethodComparison(
                objective="hop", direction="min", gradient_method=m, n=3, mean=value,
                std=None if math.isnan(value) else 0.1, median=value, min=value, max=value,
                best_value=value, best_run_id=r,
            )
            for r, _, m in rows
        ],
    )  # fmt: skip
    history = history_summary(
        {
            m: SeriesSummary(
                key=m, points=2, first_step=0, last_step=5, last_value=value,
                min_value=min(1.0, value), max_value=max(1.0, value),
            )
            for _, _, m in rows
        },
        {m: Series.build(m, [0, 5], [1.0, value], "numeric") for _, _, m in rows},
        title=f"history of {rows[0][0]}",
    )  # fmt: skip
    for spec, identifiers in (
        (listing, [x for row in rows for x in row]),
        (comparison, [x for r, _, m in rows for x in (r, m)]),
        (history, [rows[0][0], *(m for _, _, m in rows)]),
    ):
        output = render(spec, width)
        for identifier in identifiers:
            assert identifier in output
    # When the identifiers fit the terminal, so does the whole listing (other columns give way).
    headers = ("run_id", "status", "method")
    columns = zip(headers, zip(*rows, strict=True), strict=True)
    needed = sum(max(cell_len(x) for x in (header, *cells)) + 2 for header, cells in columns)
    if needed <= width:
        assert all(cell_len(line) <= width for line in render(listing, width).splitlines())


def test_runs_show_keeps_the_status_and_method_whole_at_any_width(
    sqlite_url: URL, tmp_path: Path
) -> None:
    method = "a_method_with_a_name_longer_than_forty_characters_" + "ü" * 10
    with RunRepository.connect(sqlite_url) as repo:
        repo.insert_run(RunCreate(run_id=LONG_IDS[1], gradient_method=method))
        repo.update_run_status(LONG_IDS[1], "terminated", reason="x" * 300)
    url = sqlite_url.render_as_string(hide_password=False)
    for columns in (40, 60, 80, 120):
        output = cli(url, "runs", "show", LONG_IDS[1], terminal=True, columns=columns)
        assert LONG_IDS[1] in output and method in output and "terminated" in output


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_reap_report_keeps_run_and_instance_ids_whole(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mangodb reap``'s detail table in a narrow terminal: every run id and instance id is
    printed whole on one line (the reason folds instead)."""
    import datetime as dt

    from mangodb.cli import aws
    from mangodb.integrations.aws.reconcile import ReapReport, RunVerdict, Verdict
    from mangodb.status import RunStatus

    verdicts = [
        RunVerdict(
            run_id=run_id,
            instance_id=f"i-0e4a3a096afeba3e{i}",
            region="eu-west-1",
            status=RunStatus.RUNNING,
            verdict=Verdict.TERMINATED,
            ec2_state="terminated",
            reason="instance terminated (Server.SpotInstanceTermination) " * 2,
        )
        for i, run_id in enumerate(LONG_IDS)
    ]
    report = ReapReport(checked_at=dt.datetime(2026, 12, 1), dry_run=True, verdicts=verdicts)
    out = io.StringIO()
    narrow = Console(file=out, width=width, force_terminal=True, color_system=None)
    monkeypatch.setattr(aws, "console", narrow)
    aws.print_reap_report(report)
    lines = ANSI.sub("", out.getvalue()).splitlines()
    for verdict in verdicts:
        assert any(verdict.run_id in line for line in lines), verdict.run_id
        assert any(verdict.instance_id in line for line in lines), verdict.instance_id

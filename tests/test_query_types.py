"""``RunQuery`` and ``Op``: the query API's names and operators are checked by mypy, and the
runtime check accepts exactly the names the type declares."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api
from sqlalchemy.engine import URL

from mangodb import RunQuery, RunRepository
from mangodb.errors import ValidationError
from mangodb.runs.criteria import CRITERIA
from mangodb.runs.filters import OPS, check_op

SNIPPET = """
from mangodb import RunRepository
from mangodb.runs.filters import MetricFilter

def use(repo: RunRepository) -> None:
    repo.query_runs(status="crashed", config={"data.batch_size": 96}, limit=5)
    repo.count_runs(gradient_method=["mgda", "pcgrad"], where="created > 7d")
    repo.query_runs(statuss="crashed")
    repo.count_runs(batch_size="96")
    MetricFilter("val/loss", "<<", 0.5)
"""


def test_mypy_refuses_unknown_criteria_wrong_types_and_operators(tmp_path: Path) -> None:
    source = tmp_path / "caller.py"
    source.write_text(textwrap.dedent(SNIPPET), encoding="utf-8")
    out, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", str(source)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out
    # Exactly the three bad calls (lines 8, 9 and 10 of the snippet), none of the good ones.
    assert sorted({int(line.split(":")[1]) for line in errors}) == [8, 9, 10], out
    assert any('"statuss"' in line for line in errors), out


def test_the_runtime_check_knows_exactly_the_typed_names(sqlite_url: URL) -> None:
    assert frozenset(RunQuery.__optional_keys__) == CRITERIA
    with RunRepository.connect(sqlite_url) as repo:
        for name in CRITERIA:
            repo.count_runs(**{name: None})  # type: ignore[misc]
        with pytest.raises(ValidationError, match="unknown query criteria: statuss"):
            repo.count_runs(statuss="crashed")  # type: ignore[call-arg]


def test_every_operator_is_an_op_and_nothing_else_is() -> None:
    assert [check_op(op) for op in OPS] == list(OPS)
    for text in ("<<", "==", "IS NULL", "", "is  null"):
        with pytest.raises(ValidationError, match="unknown operator"):
            check_op(text)

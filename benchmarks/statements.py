"""What a page's statement costs to prepare, and which part SQLAlchemy's compiled cache saves.

    python benchmarks/statements.py

A page of ``query_runs`` is built from its criteria on every call (so relative times such as
``created > 7d`` mean "before now" when the call runs). Building it (criteria -> typed filters
-> SQL expressions -> the page's SELECT) and walking it for SQLAlchemy's cache key is paid on
every call; compiling it to SQL text is paid once per shape of question, then served from
SQLAlchemy's compiled cache (values, cut-offs and cursors are bound parameters). Prints the
median of each part, in milliseconds, for the benchmark question of ``benchmarks/runs.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.dialects import postgresql, sqlite

from mangodb.runs import planning

CRITERIA: dict[str, Any] = {
    "status": "completed",
    "gradient_method": "mgda",
    "config": {"data.batch_size": 96},
    "order_by": "-created_at",
}
WHERE: dict[str, Any] = {"where": "status = completed and method = mgda and created > 7d"}


def median_ms(fn: Callable[[], Any], repeat: int = 500) -> float:
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent)


def main() -> None:
    table = Table(title="preparing a page's statement (medians, ms)")
    columns = ("dialect", "criteria", "plan", "plan + page + cache key", "compile (SA caches)")
    for column in columns:
        table.add_column(column, justify="left" if column in ("dialect", "criteria") else "right")
    for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        for label, criteria in (("keywords", CRITERIA), ("where string", WHERE)):

            def plan(criteria: dict[str, Any] = criteria, name: str = name) -> planning.Plan:
                return planning.plan(criteria, dialect=name)

            def build(name: str = name) -> planning.PageStatement:
                page = planning.page_statement(plan(), limit=50, cursor=None, dialect=name)
                page.statement._generate_cache_key()  # what SQLAlchemy does per new statement
                return page

            statement = build().statement
            table.add_row(
                name,
                label,
                f"{median_ms(plan):.3f}",
                f"{median_ms(build):.3f}",
                f"{median_ms(lambda s=statement, d=dialect: s.compile(dialect=d)):.3f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()

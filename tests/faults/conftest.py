"""Fixtures of the fault tests: a throwaway PostgreSQL cluster per session, figures printed
at the end of the run.

The cluster is made with the server binaries on this machine; where there are none the
PostgreSQL fault tests are skipped with a reason, except in CI (``CI`` or
``MANGODB_REQUIRE_POSTGRES`` set), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster, cluster_problem, make_cluster
from faults.fault_figures import STRESS, lines

REQUIRE_PG = bool(os.environ.get("CI") or os.environ.get("MANGODB_REQUIRE_POSTGRES"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    problem = cluster_problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"{problem} (PostgreSQL is required in CI)", pytrace=False)
        pytest.skip(problem)
    cluster = make_cluster()
    try:
        yield cluster
    finally:
        cluster.teardown()


@pytest.fixture
def cluster_url(pg_cluster: PgCluster) -> URL:
    """A fresh database on the session's cluster (started, if a test left it stopped)."""
    if pg_cluster.postmaster_pid() is None:
        pg_cluster.start()
    return pg_cluster.fresh_database()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = lines()
    if figures:
        mode = "MANGODB_STRESS=1" if STRESS else "default sizes"
        terminalreporter.section(f"fault figures ({mode})")
        for line in figures:
            terminalreporter.write_line(line)

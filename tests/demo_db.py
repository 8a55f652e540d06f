"""A simulated campaign shared by the tests of one module, on SQLite and on PostgreSQL.

Function-scoped databases cost a schema migration plus the demo per test; CLI, example and
frame tests only read (or change runs they then re-check), so one database per module and
dialect is enough. Import ``demo_url`` into a test module to use it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from mangodb import RunRepository
from mangodb.demo import run_demo

DEMO_RUNS = 12


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL (as text, password included) of a database holding a 12-run demo campaign."""
    yield from _demo_database(request, tmp_path_factory, runs=DEMO_RUNS, seed=7)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cli_demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of the database ``mangodb demo`` writes by default (24 runs, seed 0): the run ids
    the README and the issues quote."""
    yield from _demo_database(request, tmp_path_factory, runs=24, seed=0)


def _demo_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    runs: int,
    seed: int,
) -> Iterator[str]:
    if request.param == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path_factory.mktemp("demo") / "demo.sqlite3"))
        with RunRepository.connect(url) as repo:
            run_demo(repo, runs=runs, seed=seed)
        yield url.render_as_string(hide_password=False)
        return
    admin_url: URL = request.getfixturevalue("pg_admin_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = admin_url.update_query_dict({"options": f"-csearch_path={schema}"})
        with RunRepository.connect(url) as repo:
            run_demo(repo, runs=runs, seed=seed)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

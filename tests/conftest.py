"""Shared fixtures. Every repository test runs on SQLite and on PostgreSQL through ``db_url``.

PostgreSQL comes from ``MANGODB_TEST_PG_URL`` (default: the local server, database ``test``).
Each test gets its own schema there, so tests never see each other's rows. Outside CI a
missing server skips the PostgreSQL half with a reason; with ``CI`` or
``MANGODB_REQUIRE_POSTGRES`` set, it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
# No test may reach real AWS: fake credentials, no instance metadata, no profiles.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EC2"):  # fmt: skip
    os.environ.pop(_name, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
})  # fmt: skip
os.environ.pop("MANGODB_URL", None)
os.environ.pop("TRAINING_DB_PATH", None)

PG_URL = os.environ.get("MANGODB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = bool(os.environ.get("CI") or os.environ.get("MANGODB_REQUIRE_POSTGRES"))

_pg_problem: str | None = None
_pg_checked = False


def postgres_problem() -> str | None:
    """None when PostgreSQL is usable, else why not (checked once per session)."""
    global _pg_checked, _pg_problem
    if not _pg_checked:
        _pg_checked = True
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 5})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as error:  # any failure means: no PostgreSQL here
            _pg_problem = f"PostgreSQL at {make_url(PG_URL).render_as_string()} unusable: {error}"
    return _pg_problem


def require_postgres() -> None:
    problem = postgres_problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"{problem} (PostgreSQL is required in CI)", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(scope="session")
def pg_admin_url() -> URL:
    require_postgres()
    return make_url(PG_URL)


@contextmanager
def fresh_pg_schema(pg_admin_url: URL) -> Iterator[URL]:
    """Create a PostgreSQL schema, yield a URL that puts it first on the search_path, drop it."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(pg_admin_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_admin_url.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_schema_url(pg_admin_url: URL) -> Iterator[URL]:
    """A fresh PostgreSQL schema for one test."""
    with fresh_pg_schema(pg_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    return URL.create("sqlite", database=str(tmp_path / "mangodb.sqlite3"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> URL:
    """A URL of an empty database, once per dialect."""
    if request.param == "sqlite":
        url: URL = request.getfixturevalue("sqlite_url")
        return url
    url = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def repo(db_url: URL) -> Iterator[object]:
    from mangodb import RunRepository

    repository = RunRepository.connect(db_url)
    try:
        yield repository
    finally:
        repository.close()

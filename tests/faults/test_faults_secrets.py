"""Passwords never show: every database-using CLI command, given a URL that carries a password
in every form libpq accepts (in the user info, plain or percent-encoded, as a ``password=``
query parameter, or in a libpq keyword/value string, which mangodb refuses with an error that
names its keywords only), against the
session's password-protected cluster with a wrong password, a wrong database, and against a
port nothing listens on. The password appears in no output, no error and no log record, with
every logger at DEBUG (SQLAlchemy and psycopg included).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from faults.fault_cluster import ROLE, PgCluster, free_port
from faults.fault_figures import record
from mangodb import RunRepository
from mangodb.cli import app

pytestmark = pytest.mark.faults

FORMS = ["userinfo", "percent-encoded", "query", "conninfo"]
FAILURES = ["wrong password", "wrong database", "unreachable"]
CHECKED = {"command runs": 0}


def _url(form: str, password: str, port: int, database: str) -> str:
    if form == "userinfo":
        assert quote(password, safe="") == password, "a password that needs no encoding"
        return f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{database}"
    if form == "percent-encoded":
        return f"postgresql://{ROLE}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"
    if form == "conninfo":  # libpq quotes a value with spaces or quotes: 'it\'s'
        quoted = password.replace("\\", "\\\\").replace("'", "\\'")
        return (f"host=127.0.0.1 port={port} dbname={database} user={ROLE} "
                f"password='{quoted}' connect_timeout=3")  # fmt: skip
    return (f"postgresql://127.0.0.1:{port}/{database}?user={ROLE}"
            f"&password={quote(password, safe='')}&connect_timeout=3")  # fmt: skip


def _commands(url: str, tmp_path: Path) -> list[list[str]]:
    source = tmp_path / "source.sqlite3"
    RunRepository.connect(f"sqlite:///{source}").close()
    return [
        ["db", "upgrade", "--url", url],
        ["db", "current", "--url", url],
        ["db", "status", "--url", url],
        ["db", "copy", f"sqlite:///{source}", url],
        ["db", "copy", url, f"sqlite:///{tmp_path / 'target.sqlite3'}"],
        ["runs", "ls", "--url", url],
        ["runs", "show", "r1", "--url", url],
        ["runs", "set-status", "r1", "running", "--url", url],
        ["runs", "tag", "r1", "x", "--url", url],
        ["runs", "mark-terminated", "r1", "--url", url],
        ["history", "r1", "--url", url],
        ["compare", "--url", url],
        ["export", "--out", str(tmp_path / "out.csv"), "--url", url],
        ["reap", "--dry-run", "--url", url],
        ["import-wandb", str(tmp_path), "--url", url],
    ]


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("form", FORMS)
def test_no_command_shows_the_password(
    pg_cluster: PgCluster,
    form: str,
    failure: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if pg_cluster.postmaster_pid() is None:
        pg_cluster.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # AWS calls fail on loopback
    monkeypatch.chdir(tmp_path)  # a URL taken for a SQLite path would make its file here
    special = form != "userinfo"
    password = {
        "wrong password": ("wr0ng:p@ss/ it's" if special else "wr0ng-") + secrets.token_hex(6),
        "wrong database": pg_cluster.password,
        "unreachable": ("unre@chable:" if special else "unreachable-") + secrets.token_hex(6),
    }[failure]
    port = free_port() if failure == "unreachable" else pg_cluster.port
    database = "no_such_db" if failure == "wrong database" else "postgres"
    url = _url(form, password, port, database)
    # The password as given, as encoded, and its random tail (found whatever the quoting).
    forms_of_secret = {password, quote(password, safe=""), quote(password), password[-12:]}
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    failed = 0
    for args in _commands(url, tmp_path):
        result = runner.invoke(app, args)
        shown = result.output + (str(result.exception) if result.exception else "")
        assert isinstance(result.exception, SystemExit) or result.exception is None, (
            args[:2], repr(result.exception)
        )
        assert not any(s in shown for s in forms_of_secret), f"{args[:2]} shows the password"
        failed += result.exit_code != 0
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    assert not any(s in logged for s in forms_of_secret), "a log record shows the password"
    # Each command failed on the database (import-wandb on an empty directory fails first).
    assert failed == len(_commands(url, tmp_path))
    assert not any(password in p.name for p in tmp_path.rglob("*")), "a file named by it"
    CHECKED["command runs"] += failed
    record("password never shown (CLI output, errors, DEBUG logs)",
           command_runs=CHECKED["command runs"], shown=0)  # fmt: skip


def test_db_copy_names_the_source_that_failed(pg_cluster: PgCluster, tmp_path: Path) -> None:
    if pg_cluster.postmaster_pid() is None:
        pg_cluster.start()
    source = _url("userinfo", "wrong-" + secrets.token_hex(4), pg_cluster.port, "postgres")
    target = tmp_path / "target.sqlite3"
    result = CliRunner().invoke(app, ["db", "copy", source, f"sqlite:///{target}"])
    assert result.exit_code == 3
    assert f"127.0.0.1:{pg_cluster.port}" in result.output, result.output
    assert str(target) not in result.output, result.output

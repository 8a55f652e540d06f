"""A real PgBouncer (Debian's ``pgbouncer`` package) in transaction pooling mode on a free
127.0.0.1 port, in front of a PostgreSQL server; used by tests/test_pgbouncer.py and by
benchmarks/fleet.py.

PgBouncer refuses to run as root: as root it is started with ``-u postgres``, and its directory
belongs to that user. Every database name is forwarded (``* = host=... port=...``), so each test
can use a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None
    )


def pgbouncer_problem() -> str | None:
    """None when PgBouncer can be started here, else why not."""
    if pgbouncer_binary() is None:
        return "PgBouncer is not installed (Debian: apt-get install pgbouncer)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres OS user to run PgBouncer as"
    return None


def require_pgbouncer(required: bool) -> None:
    """Skip (or, when ``required``, as in CI, fail) a test where PgBouncer cannot run."""
    import pytest

    problem = pgbouncer_problem()
    if problem and required:
        pytest.fail(f"{problem} (PgBouncer tests are required in CI)", pytrace=False)
    if problem:
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Bouncer:
    port: int
    directory: Path
    pool_size: int

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict[str, object]]:
        """``SHOW <what>`` on PgBouncer's admin console (POOLS, STATS, SERVERS, ...)."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer",
            autocommit=True, prepare_threshold=None,
        ) as connection:  # fmt: skip
            cursor = connection.execute(f"SHOW {what}")
            names = [c.name for c in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_pgbouncer(
    *,
    server_host: str = "127.0.0.1",
    server_port: int = 5432,
    pool_size: int = 10,
    max_client_conn: int = 4000,
    extra: str = "",
) -> Iterator[Bouncer]:
    """Start PgBouncer in transaction mode; stop it (and remove its directory) on exit."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("PgBouncer is not installed")
    directory = Path(tempfile.mkdtemp(prefix="mangodb-pgbouncer-"))
    port = _free_port()
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "userlist.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = {max_client_conn}
max_db_connections = {pool_size}
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
admin_users = postgres
ignore_startup_parameters = extra_float_digits
{extra}
"""
    )
    command = [binary, "-d", str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        directory.chmod(0o700)
        for path in (directory, *directory.iterdir()):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
        command[1:1] = ["-u", "postgres"]
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    bouncer = Bouncer(port=port, directory=directory, pool_size=pool_size)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                bouncer.show("VERSION")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    log = bouncer.log()[-2000:]
                    raise RuntimeError(f"PgBouncer did not start: {log}") from None
                time.sleep(0.1)
        yield bouncer
    finally:
        pid_file = directory / "pgbouncer.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 15)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)

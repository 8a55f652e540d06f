"""A throwaway PostgreSQL cluster that fault tests may restart, kill or starve of disk.

Made with the server binaries already on the machine (``initdb`` and ``pg_ctl`` from
``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``), in a temporary directory, listening
on 127.0.0.1 only, on a free port, with one password-protected superuser (so tests can check
the password never shows). initdb and postgres refuse to run as root: as root, every server
command runs as the ``postgres`` OS user, who owns the directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

ROLE = "mango_fault"


def server_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when this machine has none."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if done.returncode == 0:
            candidates.append(done.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def cluster_problem() -> str | None:
    """None when a throwaway cluster can be made here, else why not."""
    if server_bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres OS user to run the server"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One cluster: ``start``, ``stop``, ``restart``, ``kill_postmaster``, ``fresh_database``."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(12)  # distinctive: easy to look for
        self.as_postgres = os.geteuid() == 0

    # -- commands --------------------------------------------------------------------------
    def _run(self, *argv: str, check: bool = True, timeout: float = 120) -> str:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
                f"\n--- server log ---\n{self.server_log()[-3000:]}"
            )
        return done.stdout + done.stderr

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def init(self, *initdb_args: str, **settings_: str) -> None:
        """initdb (with ``initdb_args``), then this cluster's settings (``settings_`` win)."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_postgres:
            for path in (self.root, pwfile):
                shutil.chown(path, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        self._run(
            "initdb", "-D", str(self.data), "-U", ROLE, f"--pwfile={pwfile}", "-E", "UTF8",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "--no-instructions",
            *initdb_args,
        )  # fmt: skip
        pwfile.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "120",
            "shared_buffers": "16MB",
            # A killed client or a restarted server never loses what the OS has: fsync only
            # matters for a machine crash, which these tests do not simulate.
            "fsync": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
            **settings_,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        # After a SIGKILLed postmaster its backends take a moment to notice and exit; until
        # then the old shared memory is in use and a new postmaster refuses to start.
        for attempt in range(30):
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                          "-l", str(self.log))  # fmt: skip
                return
            except RuntimeError:
                if attempt == 29:
                    raise
                time.sleep(0.5)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def restart(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "restart", "-w", "-m", mode, "-D", str(self.data),
                  "-l", str(self.log))  # fmt: skip

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_postmaster(self) -> None:
        """SIGKILL the postmaster (its backends die on their own soon after)."""
        pid = self.postmaster_pid()
        assert pid is not None, "the cluster is not running"
        os.kill(pid, signal.SIGKILL)

    def crash_and_start(self) -> None:
        """SIGKILL the postmaster, then start again (the server runs crash recovery)."""
        self.kill_postmaster()
        self.start()

    def teardown(self) -> None:
        """Stop at once, whatever state the cluster is in, and remove its directory."""
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data),
                      check=False, timeout=60)  # fmt: skip
        finally:
            pid = self.postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(self.root, ignore_errors=True)

    # -- URLs -------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=ROLE,
            password=self.password,
            host="127.0.0.1",
            port=self.port,
            database=database,
            query={"connect_timeout": "5"},
        )

    def fresh_database(self) -> URL:
        """A new empty database on this cluster."""
        name = f"f_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)


def make_cluster() -> PgCluster:
    bindir = server_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="mangodb-pg-"))
    cluster = PgCluster(bindir, root)
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        cluster.teardown()
        raise
    return cluster

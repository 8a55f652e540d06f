"""A full disk under a SQLite database, and under a PostgreSQL tablespace: a tmpfs of a few MB
mounted by the test, filled by a file. The caller sees ``StorageFull`` (a
``DatabaseUnavailable``) from an explicit flush and nothing from ``log()``; reads keep
working; nothing acknowledged is lost; once the filler is deleted the buffered rows are
written, once each (and the SQLite file passes its integrity check).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster, cluster_problem, server_bindir
from faults.fault_figures import record
from mangodb import DatabaseUnavailable, RunCreate, RunRepository, StorageFull

pytestmark = pytest.mark.faults

DISK_MB = 12
KEYS = [f"k{i:02d}" for i in range(24)]  # wide rows fill pages fast


def value_at(step: int, key: str) -> float:
    return step + int(key[1:]) / 7.0


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A tmpfs of DISK_MB MB mounted on a temporary directory, unmounted afterwards."""
    mount_point = Path(tempfile.mkdtemp(prefix="mangodb-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        mount_point.rmdir()


def _fill(path: Path) -> int:
    """Write to ``path`` until the disk is full; return the bytes written."""
    chunk = b"\0" * 65536
    written = 0
    with path.open("wb", buffering=0) as filler:
        while True:
            try:
                written += filler.write(chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
                break
        # Fill the last partial chunk too.
        for size in (4096, 512, 1):
            while True:
                try:
                    written += filler.write(chunk[:size])
                except OSError:
                    break
    return written


def _full_disk(url: URL, disk: Path, label: str) -> None:
    """Write until the disk is full, check the refusal and the reads, free space, resume."""
    run_id = "full-1"
    repo = RunRepository.connect(url)
    repo.insert_run(RunCreate(run_id=run_id, status="running"))
    writer = repo.history_writer(run_id, flush_every=10**9, flush_seconds=0.05)
    acked = 0
    step = 0

    def write_block(rows: int) -> None:
        nonlocal step
        for _ in range(rows):
            writer.log({key: value_at(step, key) for key in KEYS}, step=step)  # never raises
            step += 1

    write_block(200)
    writer.flush()
    acked = step
    filler = disk / "filler"
    _fill(filler)

    refusal: BaseException | None = None
    for _ in range(400):  # the WAL may have room left for a few flushes
        write_block(50)
        try:
            writer.flush()
        except DatabaseUnavailable as error:
            refusal = error
            break
        acked = step
    assert refusal is not None, "the disk never filled"
    assert isinstance(refusal, StorageFull), f"{type(refusal).__name__}: {refusal}"
    buffered = writer.pending
    assert buffered > 0

    # Reads keep working while the disk is full, and hold every acknowledged point.
    assert repo.get_run(run_id).status.value == "running"
    history = repo.get_history(run_id)
    stored = list(history[KEYS[0]].steps)
    assert stored[:acked] == list(range(acked))
    for key in KEYS:
        values = history[key].values[:acked]
        assert [struct.pack("<d", v) for v in values] == [
            struct.pack("<d", value_at(s, key)) for s in range(acked)
        ]

    # Space comes back: the buffered rows are written once each, by the same writer.
    filler.unlink()
    writer.flush()
    writer.close()
    history = repo.get_history(run_id)
    repo.close()
    for key in KEYS:
        assert list(history[key].steps) == list(range(step)), f"{key}: lost or repeated steps"
    record(
        label,
        points_acknowledged_before_full=acked * len(KEYS),
        points_buffered_while_full=buffered * len(KEYS),
        points_stored_after=step * len(KEYS),
        lost=0,
    )


def test_sqlite_on_a_full_disk_refuses_typed_keeps_reads_and_resumes(small_disk: Path) -> None:
    url = URL.create("sqlite", database=str(small_disk / "full.sqlite3"))
    _full_disk(url, small_disk, f"SQLite on a full {DISK_MB} MB tmpfs")
    with sqlite3.connect(str(url.database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_postgres_tablespace_on_a_full_disk_refuses_typed_and_resumes(
    pg_cluster: PgCluster, small_disk: Path
) -> None:
    """The database's tablespace (its tables and indexes) on the small tmpfs; WAL stays on
    the cluster's disk, so the server stays up and only extending a table fails."""
    if pg_cluster.postmaster_pid() is None:
        pg_cluster.start()
    location = small_disk / "tablespace"
    location.mkdir()
    if pg_cluster.as_postgres:
        for path in (small_disk, location):
            shutil.chown(path, "postgres", "postgres")
    name = f"full_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE TABLESPACE {name} LOCATION '{location}'"))
            connection.execute(text(f"CREATE DATABASE {name} TABLESPACE {name}"))
        try:
            _full_disk(pg_cluster.url(name), small_disk,
                       f"PostgreSQL tablespace on a full {DISK_MB} MB tmpfs")  # fmt: skip
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                connection.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
    finally:
        admin.dispose()


DATA_DISK_MB = 64


@pytest.fixture
def data_dir_disk() -> Iterator[Path]:
    """A DATA_DISK_MB MB tmpfs for a whole cluster's data directory (WAL included)."""
    mount_point = Path(tempfile.mkdtemp(prefix="mangodb-pgdata-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DATA_DISK_MB}m,mode=0700", "tmpfs",
         str(mount_point)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        mount_point.rmdir()


def test_postgres_data_directory_on_a_full_disk(data_dir_disk: Path) -> None:
    """The whole data directory, WAL included, on a small tmpfs: once it is full the server
    cannot write WAL either. The writer sees a typed ``DatabaseUnavailable`` (``StorageFull``
    while the server refuses the write; the plain kind if it stops itself), nothing it
    acknowledged is lost, and once space is freed (and the server started again, if it
    stopped) the same writer writes its buffered rows, once each."""
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)
    bindir = server_bindir()
    assert bindir is not None
    cluster = PgCluster(bindir, data_dir_disk / "cluster")
    cluster.root.mkdir()
    if cluster.as_postgres:
        shutil.chown(data_dir_disk, "postgres", "postgres")
    try:
        # 1 MB WAL segments, so the WAL's share of the small disk stays small.
        cluster.init("--wal-segsize=1", min_wal_size="'2MB'", max_wal_size="'4MB'",
                     shared_buffers="'8MB'")  # fmt: skip
        cluster.start()
        url = cluster.fresh_database()
        run_id = "full-data-1"
        repo = RunRepository.connect(url)
        repo.insert_run(RunCreate(run_id=run_id, status="running"))
        writer = repo.history_writer(run_id, flush_every=10**9, flush_seconds=0.05)
        step, acked = 0, 0

        def write_block(rows: int) -> None:
            nonlocal step
            for _ in range(rows):
                writer.log({key: value_at(step, key) for key in KEYS}, step=step)
                step += 1

        write_block(200)
        writer.flush()
        acked = step
        filler = data_dir_disk / "filler"
        _fill(filler)
        refusal: BaseException | None = None
        for _ in range(400):
            write_block(50)
            try:
                writer.flush()
            except DatabaseUnavailable as error:
                refusal = error
                break
            acked = step
        assert refusal is not None, "the disk never filled"
        assert cluster.password not in str(refusal)
        server_stopped = cluster.postmaster_pid() is None or not _answers(cluster)
        if not server_stopped:  # still up: reads work, and hold every acknowledged point
            history = repo.get_history(run_id, [KEYS[0]])
            assert list(history[KEYS[0]].steps)[:acked] == list(range(acked))
        filler.unlink()
        if server_stopped:
            _back_up(cluster)
        for _ in range(100):  # the pool's connections died with the server: retried
            try:
                writer.flush()
                break
            except DatabaseUnavailable:
                time.sleep(0.2)
        writer.close()
        history = repo.get_history(run_id)
        repo.close()
        for key in KEYS:
            assert list(history[key].steps) == list(range(step)), f"{key}: lost or repeated"
        record(
            f"PostgreSQL data directory on a full {DATA_DISK_MB} MB tmpfs",
            refusal=type(refusal).__name__,
            server_stopped=server_stopped,
            points_acknowledged_before_full=acked * len(KEYS),
            points_stored_after=step * len(KEYS),
            lost=0,
        )
    finally:
        cluster.teardown()


def _back_up(cluster: PgCluster) -> None:
    """The server after the disk is freed: a postmaster still there (recovering after the
    PANIC the full disk caused, so not answering) comes back by itself; one that is gone is
    started again."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pid = cluster.postmaster_pid()
        if pid is None or not _alive(pid):
            cluster.start()
            return
        if _answers(cluster):
            return
        time.sleep(0.5)
    raise AssertionError(f"the server neither answered nor stopped:\n{cluster.server_log()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(cluster: PgCluster) -> bool:
    engine = create_engine(cluster.url())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()

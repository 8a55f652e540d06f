"""The buffered writer: flush rules, refused rows, failed flushes (real database refusals on
both dialects), threads, interpreter exit, and a SIGKILL mid-stream."""

from __future__ import annotations

import gc
import logging
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from history_values import BAD_VALUES, GOOD_VALUES, fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL

from mangodb import MangoDBError, RunNotFound, RunRepository, ValidationError
from mangodb.db.models import KEY_LENGTH
from mangodb.errors import HistoryBufferFull, HistoryNotStored


def test_flushes_every_n_rows_and_on_close(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=10, flush_seconds=3600)
    for step in range(25):
        writer.log({"loss": 1.0 / (step + 1), "lr": 0.1}, step=step)
    assert repo.history_keys("r") == {"loss": 20, "lr": 20}
    assert writer.pending == 5
    writer.close()
    assert repo.history_keys("r") == {"loss": 25, "lr": 25}
    assert repo.get_history("r")["loss"].values == [1.0 / (s + 1) for s in range(25)]
    with pytest.raises(MangoDBError, match="closed"):
        writer.log({"loss": 0.0})


def test_flushes_when_flush_seconds_passed(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with repo.history_writer("r", flush_every=1000, flush_seconds=0.05) as writer:
        writer.log({"loss": 1.0})
        time.sleep(0.1)
        writer.log({"loss": 0.5})  # due: both rows are written now
        assert writer.pending == 0
        assert repo.get_history("r")["loss"].steps == [0, 1]


def test_leaving_the_block_flushes_even_on_error(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with pytest.raises(RuntimeError), repo.history_writer("r", flush_every=1000) as writer:
        writer.log({"_step": 7, "loss": 1.0})
        writer.log({"loss": 2.0, "acc": "n/a"})
        raise RuntimeError("training diverged")
    history = repo.get_history("r")
    assert history["loss"].steps == [7, 8] and history["acc"].values == ["n/a"]


def test_a_failed_flush_keeps_the_rows(repo: RunRepository) -> None:
    writer = repo.history_writer("no-such-run", flush_every=1000)
    writer.log({"loss": 1.0})
    with pytest.raises(RunNotFound):
        writer.flush()
    assert writer.pending == 1
    repo.insert_run(run_id="no-such-run")
    writer.close()
    assert repo.history_keys("no-such-run") == {"loss": 1}


def test_a_writer_nobody_closed_flushes_when_collected(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=1000)
    writer.log({"loss": 0.25}, step=3)
    alive = weakref.ref(writer)
    del writer
    gc.collect()
    assert alive() is None  # the exit hook does not keep it alive
    assert repo.get_history("r")["loss"].steps == [3]


def test_threads_log_concurrently(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    writer = repo.history_writer("r", flush_every=50)

    def work(name: str) -> None:
        for step in range(300):
            writer.log({name: float(step)}, step=step)

    threads = [threading.Thread(target=work, args=(f"worker{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    history = repo.get_history("r")
    assert sorted(history) == [f"worker{i}" for i in range(4)]
    for series in history.values():
        assert series.steps == list(range(300)) and series.values == [float(s) for s in range(300)]


# -- refused rows: checked when logged, never in the buffer -----------------------------------
KEYS = st.sampled_from(["loss", "val/acc", "note"])
BAD_KEYS = st.sampled_from(["", "\ud800", "a" * (KEY_LENGTH + 1), "nul\x00"])


@st.composite
def bad_rows(draw: st.DrawFn) -> dict[Any, Any]:
    row: dict[Any, Any] = draw(st.dictionaries(KEYS, GOOD_VALUES, max_size=2))
    if draw(st.booleans()):
        row[draw(KEYS)] = draw(BAD_VALUES)
    else:
        row[draw(BAD_KEYS)] = 1.0
    return row


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.one_of(
            st.tuples(st.just(True), st.dictionaries(KEYS, GOOD_VALUES, min_size=1)),
            st.tuples(st.just(False), bad_rows()),
        ),
        max_size=12,
    ),
    flush_every=st.integers(1, 4),
)
def test_bad_rows_are_refused_when_logged_and_exactly_the_good_rows_are_stored(
    repo: RunRepository, rows: list[tuple[bool, dict[Any, Any]]], flush_every: int
) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    repo.insert_run(run_id=run_id)
    expected: dict[str, list[tuple[int, Any]]] = {}
    step = 0
    with repo.history_writer(run_id, flush_every=flush_every, flush_seconds=3600) as writer:
        for good, row in rows:
            before = writer.pending
            if not good:
                with pytest.raises(ValidationError):
                    writer.log(row)
                assert writer.pending == before  # never entered the buffer
                continue
            writer.log(row)  # never raises: the buffer holds no bad row to fail a flush
            for key, value in row.items():
                expected.setdefault(key, []).append((step, fingerprint(value)))
            step += 1  # a refused row took no step
    stored = repo.get_history(run_id)
    assert sorted(stored) == sorted(expected)
    for key, points in expected.items():
        assert stored[key].steps == [s for s, _ in points]
        assert [fingerprint(v) for v in stored[key].values] == [f for _, f in points]


def test_the_value_is_stored_as_it_was_when_logged(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with repo.history_writer("r", flush_every=1000) as writer:
        bins = [1, 2]
        table = {"rows": bins}
        writer.log({"bins": bins, "table": table})
        bins.append(object())  # would make the buffered row unstorable if it were kept
        table["later"] = 3
    history = repo.get_history("r")
    assert history["bins"].values == [[1, 2]] and history["table"].values == [{"rows": [1, 2]}]


def test_the_issue_example_poisons_nothing(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    with repo.history_writer("r", flush_every=2) as writer:
        writer.log({"x": 1.0})
        with pytest.raises(ValidationError, match="neither a number nor JSON"):
            writer.log({"x": object()})
        writer.log({"x": 2.0})  # a flush: before, it failed here and at every later one
        assert writer.pending == 0
        writer.log({"x": 3.0})
    assert repo.get_history("r")["x"].values == [1.0, 2.0, 3.0]


# -- failed flushes: real refusals by the database, then recovery ------------------------------
class StorageFault:
    """A repository whose database really refuses to store history while ``refuse()`` is in
    force: on SQLite the file may not grow (``max_page_count``: SQLITE_FULL, as on a full
    disk), on PostgreSQL the repository's role loses INSERT on the history tables."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.postgres = url.get_backend_name() == "postgresql"
        self.role = f"writer_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(url) if self.postgres else None
        if self.admin is not None:
            schema = str(url.query["options"]).split("=", 1)[1]
            with self.admin.begin() as connection:
                connection.execute(text(f'CREATE ROLE "{self.role}" LOGIN'))
                connection.execute(
                    text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{self.role}"')
                )
            url = url.set(username=self.role)
        self.repo = RunRepository.connect(url)

    def _limit(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count={pages}")
        cursor.close()

    def _grant(self, verb: str) -> None:
        assert self.admin is not None
        preposition = "TO" if verb == "GRANT" else "FROM"
        with self.admin.begin() as connection:
            connection.execute(
                text(f'{verb} INSERT ON history_series, history_chunks {preposition} "{self.role}"')
            )

    def refuse(self) -> None:
        if self.postgres:
            self._grant("REVOKE")
        else:
            event.listen(self.repo.engine, "connect", self._limit)
            self.repo.engine.dispose()  # every new connection gets the limit

    def allow(self) -> None:
        if self.postgres:
            self._grant("GRANT")
        else:
            event.remove(self.repo.engine, "connect", self._limit)
            self.repo.engine.dispose()

    def close(self) -> None:
        self.repo.close()
        if self.admin is not None:
            with self.admin.begin() as connection:
                connection.execute(text(f'DROP OWNED BY "{self.role}" CASCADE'))
                connection.execute(text(f'DROP ROLE "{self.role}"'))
            self.admin.dispose()


@pytest.fixture
def fault(db_url: URL) -> Iterator[StorageFault]:
    storage = StorageFault(db_url)
    try:
        storage.repo.insert_run(run_id="r")
        yield storage
    finally:
        storage.close()


def blob(step: int) -> str:
    """32 KB that do not compress: a row holding it needs new pages in the SQLite file."""
    return random.Random(step).randbytes(16_384).hex()


def stored_once(repo: RunRepository, steps: int) -> None:
    history = repo.get_history("r")
    assert history["x"].steps == history["blob"].steps == list(range(steps))
    assert history["x"].values == [float(s) for s in range(steps)]
    assert history["blob"].values == [blob(s) for s in range(steps)]


def test_a_log_whose_flush_failed_does_not_raise_and_its_row_is_stored_once(
    fault: StorageFault, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue: a caller that retries a log() that raised stored the row twice
    (steps [0, 1, 2, 3], values [0.0, 1.0, 1.0, 1.0]). Now log() does not raise for a failed
    flush: there is nothing to retry, and each row is stored once, at its step."""
    writer = fault.repo.history_writer("r", flush_every=1, flush_seconds=3600)
    writer.log({"x": 0.0, "blob": blob(0)})
    fault.refuse()
    retries = 0
    with caplog.at_level(logging.WARNING, logger="mangodb.history.writer"):
        for step in (1, 2, 3):
            row = {"x": float(step), "blob": blob(step)}
            try:
                writer.log(row)  # implicit step, as in the issue
            except MangoDBError:
                retries += 1
                writer.log(row)
    assert retries == 0
    assert writer.pending == 3
    assert "flush failed, 1 rows kept" in caplog.text  # the first failure is reported
    with pytest.raises(MangoDBError):  # an explicit flush says why: the real refusal
        writer.flush()
    assert writer.pending == 3
    fault.allow()
    writer.close()
    stored_once(fault.repo, 4)


def test_a_failed_flush_is_retried_after_flush_seconds(fault: StorageFault) -> None:
    writer = fault.repo.history_writer("r", flush_every=2, flush_seconds=0.05)
    fault.refuse()
    for step in range(5):  # every flush due meanwhile fails
        writer.log({"x": float(step), "blob": blob(step)})
    assert writer.pending == 5
    fault.allow()
    time.sleep(0.1)  # makes the next flush due (a retry waits flush_seconds, not a row)
    writer.log({"x": 5.0, "blob": blob(5)})
    assert writer.pending == 0  # the retry wrote all six rows, in order
    stored_once(fault.repo, 6)
    writer.close()


def test_a_full_buffer_refuses_a_row_keeping_nothing_of_it(fault: StorageFault) -> None:
    writer = fault.repo.history_writer("r", flush_every=1, flush_seconds=3600, max_pending=3)
    fault.refuse()
    for step in range(3):
        writer.log({"x": float(step), "blob": blob(step)})
    with pytest.raises(HistoryBufferFull, match="3 rows wait") as refused:
        writer.log({"x": 3.0, "blob": blob(3)})
    assert refused.value.run_id == "r" and refused.value.rows == 1
    assert isinstance(refused.value.__cause__, MangoDBError)  # the database's own refusal
    assert writer.pending == 3
    fault.allow()
    writer.flush()
    writer.log({"x": 3.0, "blob": blob(3)})  # the refused row took no step: it gets step 3
    writer.close()
    stored_once(fault.repo, 4)


def test_close_names_the_rows_it_could_not_store_and_keeps_them(fault: StorageFault) -> None:
    writer = fault.repo.history_writer("r", flush_every=1000)
    fault.refuse()
    with pytest.raises(HistoryNotStored, match="2 rows not stored") as unstored, writer:
        writer.log({"x": 0.0, "blob": blob(0)})
        writer.log({"x": 1.0, "blob": blob(1)})
    assert unstored.value.rows == 2 and unstored.value.run_id == "r"
    with pytest.raises(MangoDBError, match="closed"):
        writer.log({"x": 2.0})
    assert writer.pending == 2
    fault.allow()
    writer.close()  # again: now they are written
    assert writer.pending == 0
    stored_once(fault.repo, 2)


def test_leaving_with_an_exception_keeps_it_and_reports_the_unstored_rows(
    fault: StorageFault, caplog: pytest.LogCaptureFixture
) -> None:
    writer = fault.repo.history_writer("r", flush_every=1000)
    fault.refuse()
    with pytest.raises(RuntimeError, match="diverged") as raised, writer:
        writer.log({"x": 0.0, "blob": blob(0)})
        raise RuntimeError("diverged")
    message = "history writer of run 'r': 1 rows not stored"
    assert message in caplog.text
    notes = getattr(raised.value, "__notes__", None)
    if hasattr(BaseException, "add_note"):  # Python 3.11+: the note is on the exception
        assert notes is not None and len(notes) == 1 and message in notes[0]
    else:
        assert notes is None
    fault.allow()
    writer.close()
    stored_once(fault.repo, 1)


# -- separate processes (SQLite files) ---------------------------------------------------------
def _run(code: str, url: URL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, url.render_as_string(hide_password=False)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EXIT_WITHOUT_CLOSE = """
import sys
from mangodb import RunRepository
repo = RunRepository.connect(sys.argv[1])
writer = repo.history_writer("r", flush_every=1000, flush_seconds=3600)
for step in range(7):
    writer.log({"loss": step / 10}, step=step)
"""


def test_interpreter_exit_flushes_open_writers(sqlite_url: URL) -> None:
    repo = RunRepository.connect(sqlite_url)
    repo.insert_run(run_id="r")
    process = _run(EXIT_WITHOUT_CLOSE, sqlite_url)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert repo.get_history("r")["loss"].values == [s / 10 for s in range(7)]
    repo.close()


FLUSH = 100
STREAM = f"""
import sys
from mangodb import RunRepository
repo = RunRepository.connect(sys.argv[1])
writer = repo.history_writer("crash", flush_every={FLUSH}, flush_seconds=3600)
step = 0
while True:
    writer.log({{"a": step * 0.5, "b": -float(step), "note": {{"step": step}}}}, step=step)
    step += 1
"""


def test_sigkill_mid_stream_leaves_whole_flushes_and_an_intact_file(sqlite_url: URL) -> None:
    repo = RunRepository.connect(sqlite_url)
    repo.insert_run(run_id="crash")
    process = _run(STREAM, sqlite_url)
    try:
        deadline = time.monotonic() + 120
        while repo.history_keys("crash").get("a", 0) < 20 * FLUSH:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the writer never flushed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    history = repo.get_history("crash")
    flushed = len(history["a"].steps)
    assert flushed >= 20 * FLUSH and flushed % FLUSH == 0  # whole flushes only
    expected = list(range(flushed))
    assert history["a"].steps == history["b"].steps == history["note"].steps == expected
    assert history["a"].values == [s * 0.5 for s in expected]
    assert history["b"].values == [-float(s) for s in expected]
    assert history["note"].values == [{"step": s} for s in expected]
    repo.append_history("crash", {"a": ([flushed], [0.0])})  # still writable
    repo.close()

    database = sqlite_url.database
    assert database is not None and Path(database).exists()
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

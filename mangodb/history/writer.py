"""``HistoryWriter``: buffer rows in memory, write them in one transaction per flush.

A flush happens when ``flush_every`` rows are buffered or ``flush_seconds`` have passed since
the last one (checked when a row is logged), on ``flush()``, ``close()``, leaving the ``with``
block, when a writer nobody closed is garbage-collected, and at interpreter exit
(``weakref.finalize``: the hook holds the buffer, not the writer, so it keeps nothing alive).
Each flush is one ``append_history`` call, so after a ``kill -9`` the database holds exactly
the rows of the completed flushes.

The contract (a database outage must not kill training, and nothing is stored twice):

* ``log()`` checks the row at once with the rules of ``append_history`` (keys, step, and each
  value through :func:`mangodb.history.json_values.stored_form`). A row it refuses raises
  ``ValidationError`` and is not kept; every row it accepts can be stored, whatever else is
  buffered with it.
* A ``log()`` that raised kept nothing: not the row, not its step (an implicit step is given
  to the next row logged). It raises only for a refused row, a closed writer, or a full
  buffer (``HistoryBufferFull``: ``max_pending`` rows already wait for a failing database).
* ``log()`` never raises because a flush failed: the rows stay buffered, in order, a warning
  is logged, and the next flush is tried after ``flush_seconds`` (not at every row). The rows
  are written once, at the steps they were logged at, when a flush succeeds.
* ``flush()`` (asked for explicitly) raises the database's error; the rows stay buffered.
* ``close()`` (and leaving the ``with`` block) raises ``HistoryNotStored`` naming how many rows
  could not be written; they stay buffered (``close()`` again retries, and a last try is made
  at interpreter exit, logged if it fails). When the ``with`` block is left by an exception,
  that exception goes on and the unwritten rows are logged as an error (and noted on it).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mangodb.errors import HistoryBufferFull, HistoryNotStored, MangoDBError, ValidationError
from mangodb.history.columns import STEP_KEY, check_key, rows_to_columns, step_value
from mangodb.history.json_values import stored_form
from mangodb.history.series import AppendResult

log = logging.getLogger(__name__)


class HistorySink(Protocol):
    """Where a writer's flushes go: ``RunRepository`` is one (the writer needs nothing else
    of it, so the history package does not import the repository)."""

    def append_history(self, run_id: str, data: Any) -> AppendResult: ...

MAX_PENDING = 100_000  # rows kept through an outage: ~50 MB of typical metric rows


class _Buffer:
    """The rows not yet written and how to write them; knows nothing of the writer."""

    def __init__(self, repo: HistorySink, run_id: str) -> None:
        self.repo = repo
        self.run_id = run_id
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.in_flight = 0  # rows taken by the flush under way
        self.last_flush = time.monotonic()
        self.failures = 0  # flushes failed in a row
        self.error: Exception | None = None  # the last failure, while failing
        self.lock = threading.Lock()  # guards the fields above and the writer's step counter
        self.flush_lock = threading.Lock()  # keeps flushes in the order rows were logged

    @property
    def count(self) -> int:
        """Rows not written yet (the caller holds ``lock``)."""
        return len(self.rows) + self.in_flight

    def due(self, flush_every: int, flush_seconds: float) -> bool:
        """Whether a flush is due (the caller holds ``lock``). While flushes fail, only time
        makes one due: a down database is asked once per ``flush_seconds``, not per row."""
        if time.monotonic() - self.last_flush >= flush_seconds:
            return True
        return not self.failures and len(self.rows) >= flush_every

    def flush(self, due: Callable[[], bool] | None = None) -> AppendResult | None:
        """Write the buffered rows (only if ``due()`` still holds, when given); on failure
        they go back to the front of the buffer and the error is raised."""
        with self.flush_lock:
            with self.lock:
                if due is not None and not due():
                    return None  # another thread flushed meanwhile
                rows, self.rows = self.rows, []
                self.in_flight = len(rows)
                self.last_flush = time.monotonic()
            if not rows:
                return None
            try:
                result = self.repo.append_history(self.run_id, rows_to_columns(rows))
            except BaseException as error:
                with self.lock:
                    self.rows[:0] = rows
                    self.in_flight = 0
                    if isinstance(error, Exception):
                        self.failures += 1
                        self.error = error
                raise
            with self.lock:
                self.in_flight = 0
                failed, self.failures, self.error = self.failures, 0, None
            if failed:
                log.warning(
                    "history writer of run %r: %d rows stored after %d failed flushes",
                    self.run_id, len(rows), failed,
                )  # fmt: skip
            return result

    def flush_quietly(self) -> None:
        """Garbage collection or interpreter exit: flush, and say so if that fails."""
        try:
            self.flush()
        except Exception:
            log.exception(
                "history writer of run %r lost %d unflushed rows", self.run_id, len(self.rows)
            )


class HistoryWriter:
    """Buffered, thread-safe history writer for a training loop.

    >>> with repo.history_writer("run-1", flush_every=500) as writer:  # doctest: +SKIP
    ...     writer.log({"loss": 0.3, "lr": 1e-4}, step=10)

    ``step=None`` uses the row's ``_step`` if it has one, else the step after the previous
    row's (0 for the first row): pass steps explicitly when resuming a run.

    A database outage does not stop training: ``log()`` keeps the rows (at most
    ``max_pending``) and retries every ``flush_seconds``; a ``log()`` that raised kept
    nothing. The full contract is in the module docstring (and docs/integrating.md)."""

    def __init__(
        self,
        repo: HistorySink,
        run_id: str,
        *,
        flush_every: int = 1000,
        flush_seconds: float = 5.0,
        max_pending: int = MAX_PENDING,
    ) -> None:
        for name, count in (("flush_every", flush_every), ("max_pending", max_pending)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValidationError(f"{name} must be a positive integer, got {count!r}")
        if not flush_seconds > 0:
            raise ValidationError(f"flush_seconds must be positive, got {flush_seconds!r}")
        self.repo = repo
        self.run_id = run_id
        self.flush_every = flush_every
        self.flush_seconds = float(flush_seconds)
        self.max_pending = max_pending
        self._buffer = _Buffer(repo, run_id)
        self._next_step = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, self._buffer.flush_quietly)

    @property
    def pending(self) -> int:
        """Rows logged and not written yet."""
        with self._buffer.lock:
            return self._buffer.count

    def log(self, row: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row ``{key: value}`` at ``step``; flush when due. Raises (keeping
        nothing) for a row that cannot be stored, a closed writer or a full buffer; never
        because a flush failed (the rows stay buffered, see the class docstring)."""
        if not isinstance(row, Mapping):
            raise ValidationError(f"a history row must be a mapping, got {type(row).__name__}")
        values = {check_key(k): stored_form(v) for k, v in row.items() if k != STEP_KEY}
        given = step if step is not None else row.get(STEP_KEY)
        at_given = None if given is None else step_value(given)
        buffer = self._buffer
        for attempt in (1, 2):
            with buffer.lock:
                if self._closed:
                    raise MangoDBError(f"history writer of run {self.run_id!r} is closed")
                if buffer.count < self.max_pending:
                    at = self._next_step if at_given is None else at_given
                    self._next_step = at + 1
                    buffer.rows.append((at, values))
                    due = buffer.due(self.flush_every, self.flush_seconds)
                    break
                if attempt == 2 or not buffer.due(self.flush_every, self.flush_seconds):
                    raise HistoryBufferFull(
                        f"history writer of run {self.run_id!r}: {buffer.count} rows wait for "
                        f"a database that keeps failing ({buffer.error}); this row was not kept",
                        run_id=self.run_id,
                        rows=1,
                    ) from buffer.error
            self._flush_when_due()  # full, but a retry is due: make room if the database is back
        if due:
            self._flush_when_due()

    def _flush_when_due(self) -> None:
        buffer = self._buffer
        try:
            buffer.flush(lambda: buffer.due(self.flush_every, self.flush_seconds))
        except Exception as error:
            log.warning(
                "history writer of run %r: flush failed, %d rows kept for the next try in "
                "%.3g s: %s",
                self.run_id, self.pending, self.flush_seconds, error,
            )  # fmt: skip

    def flush(self) -> AppendResult | None:
        """Write the buffered rows now, in one transaction. On failure the database's error
        is raised and the rows stay buffered."""
        return self._buffer.flush()

    def close(self) -> None:
        """Stop accepting rows and write the buffered ones. ``HistoryNotStored`` (naming how
        many rows) when that fails: they stay buffered, ``close()`` again retries."""
        with self._buffer.lock:
            self._closed = True
        try:
            self._buffer.flush()
        except Exception as error:
            rows = self.pending
            raise HistoryNotStored(
                f"history writer of run {self.run_id!r}: {rows} rows not stored: {error}",
                run_id=self.run_id,
                rows=rows,
            ) from error
        self._finalizer.detach()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.close()
        except HistoryNotStored as unstored:
            if exc is None:
                raise
            # The block's own exception says more about what went wrong: it goes on.
            log.error("%s", unstored)
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(f"mangodb: {unstored}")

"""``HistoryWriter``: buffer rows in memory, write them in one transaction per flush.

A flush happens when ``flush_every`` rows are buffered or ``flush_seconds`` have passed since
the last one (checked when a row is logged), on ``flush()``, ``close()``, leaving the ``with``
block, when a writer nobody closed is garbage-collected, and at interpreter exit
(``weakref.finalize``: the hook holds the buffer, not the writer, so it keeps nothing alive).
Each flush is one ``append_history`` call, so after a ``kill -9`` the database holds exactly
the rows of the completed flushes.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mangodb.errors import MangoDBError, ValidationError
from mangodb.history.columns import STEP_KEY, check_key, rows_to_columns, step_value
from mangodb.history.series import AppendResult

if TYPE_CHECKING:
    from mangodb.repository import RunRepository

log = logging.getLogger(__name__)


class _Buffer:
    """The rows not yet written and how to write them; knows nothing of the writer."""

    def __init__(self, repo: RunRepository, run_id: str) -> None:
        self.repo = repo
        self.run_id = run_id
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.last_flush = time.monotonic()
        self.lock = threading.Lock()  # guards rows, last_flush and the writer's step counter
        self.flush_lock = threading.Lock()  # keeps flushes in the order rows were logged

    def flush(self) -> AppendResult | None:
        with self.flush_lock:
            with self.lock:
                rows, self.rows = self.rows, []
                self.last_flush = time.monotonic()
            if not rows:
                return None
            try:
                return self.repo.append_history(self.run_id, rows_to_columns(rows))
            except BaseException:
                with self.lock:
                    self.rows[:0] = rows
                raise

    def flush_quietly(self) -> None:
        """Garbage collection or interpreter exit: flush, and say so if that fails."""
        try:
            self.flush()
        except Exception:
            log.exception("history writer of run %r lost its unflushed rows", self.run_id)


class HistoryWriter:
    """Buffered, thread-safe history writer for a training loop.

    >>> with repo.history_writer("run-1", flush_every=500) as writer:  # doctest: +SKIP
    ...     writer.log({"loss": 0.3, "lr": 1e-4}, step=10)

    ``step=None`` uses the row's ``_step`` if it has one, else the step after the previous
    row's (0 for the first row): pass steps explicitly when resuming a run."""

    def __init__(
        self,
        repo: RunRepository,
        run_id: str,
        *,
        flush_every: int = 1000,
        flush_seconds: float = 5.0,
    ) -> None:
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise ValidationError(f"flush_every must be a positive integer, got {flush_every!r}")
        if not flush_seconds > 0:
            raise ValidationError(f"flush_seconds must be positive, got {flush_seconds!r}")
        self.repo = repo
        self.run_id = run_id
        self.flush_every = flush_every
        self.flush_seconds = float(flush_seconds)
        self._buffer = _Buffer(repo, run_id)
        self._next_step = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, self._buffer.flush_quietly)

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""
        with self._buffer.lock:
            return len(self._buffer.rows)

    def log(self, row: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row ``{key: value}`` at ``step``; flush when due."""
        if not isinstance(row, Mapping):
            raise ValidationError(f"a history row must be a mapping, got {type(row).__name__}")
        values = {check_key(k): v for k, v in row.items() if k != STEP_KEY}
        given = step if step is not None else row.get(STEP_KEY)
        buffer = self._buffer
        with buffer.lock:
            if self._closed:
                raise MangoDBError(f"history writer of run {self.run_id!r} is closed")
            at = self._next_step if given is None else step_value(given)
            self._next_step = at + 1
            buffer.rows.append((at, values))
            due = (
                len(buffer.rows) >= self.flush_every
                or time.monotonic() - buffer.last_flush >= self.flush_seconds
            )
        if due:
            buffer.flush()

    def flush(self) -> AppendResult | None:
        """Write the buffered rows now, in one transaction. On failure they stay buffered."""
        return self._buffer.flush()

    def close(self) -> None:
        """Flush and stop accepting rows (idempotent)."""
        try:
            self._buffer.flush()
        finally:
            with self._buffer.lock:
                self._closed = True
            self._finalizer.detach()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

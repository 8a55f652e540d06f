"""``HistoryWriter``: buffer rows in memory, write them in one transaction per flush.

A flush happens when ``flush_every`` rows are buffered or ``flush_seconds`` have passed since
the last one (checked when a row is logged), on ``flush()``, ``close()``, leaving the ``with``
block, and at interpreter exit. Each flush is one ``append_history`` call, so after a
``kill -9`` the database holds exactly the rows of the completed flushes.
"""

from __future__ import annotations

import atexit
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
_open_writers: weakref.WeakSet[HistoryWriter] = weakref.WeakSet()


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
        self._rows: list[tuple[int, dict[str, Any]]] = []
        self._next_step = 0
        self._last_flush = time.monotonic()
        self._closed = False
        self._buffer_lock = threading.Lock()  # guards the buffer and the step counter
        self._flush_lock = threading.Lock()  # keeps flushes in the order rows were logged
        _open_writers.add(self)

    @property
    def pending(self) -> int:
        """Rows buffered and not yet written."""
        with self._buffer_lock:
            return len(self._rows)

    def log(self, row: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row ``{key: value}`` at ``step``; flush when due."""
        if not isinstance(row, Mapping):
            raise ValidationError(f"a history row must be a mapping, got {type(row).__name__}")
        values = {check_key(k): v for k, v in row.items() if k != STEP_KEY}
        given = step if step is not None else row.get(STEP_KEY)
        with self._buffer_lock:
            if self._closed:
                raise MangoDBError(f"history writer of run {self.run_id!r} is closed")
            at = self._next_step if given is None else step_value(given)
            self._next_step = at + 1
            self._rows.append((at, values))
            due = (
                len(self._rows) >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_seconds
            )
        if due:
            self.flush()

    def flush(self) -> AppendResult | None:
        """Write the buffered rows now, in one transaction. On failure they stay buffered."""
        with self._flush_lock:
            with self._buffer_lock:
                rows, self._rows = self._rows, []
                self._last_flush = time.monotonic()
            if not rows:
                return None
            try:
                return self.repo.append_history(self.run_id, rows_to_columns(rows))
            except BaseException:
                with self._buffer_lock:
                    self._rows[:0] = rows
                raise

    def close(self) -> None:
        """Flush and stop accepting rows (idempotent)."""
        try:
            self.flush()
        finally:
            with self._buffer_lock:
                self._closed = True
            _open_writers.discard(self)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _flush_open_writers() -> None:
    """Interpreter exit: flush what live writers still buffer (they are held weakly)."""
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception:  # exit must go on; say what was lost
            log.exception("history writer of run %r could not flush at exit", writer.run_id)

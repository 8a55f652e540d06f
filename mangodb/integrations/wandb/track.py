"""Live tracking of a W&B run into mangodb: two lines in a training script.

>>> run = wandb.init(project="deco")                             # doctest: +SKIP
>>> with track(run, repo, "deco_hop_bs96_mgda"):                 # doctest: +SKIP
...     train()                                                  # wandb.log(...) as usual
>>> run.finish()                                                 # doctest: +SKIP

On entry the mangodb run (created if missing) gets the W&B identity and moves to ``running``.
Every committed W&B row is mirrored into the buffered history writer; a daemon thread
heartbeats. On a normal exit config and summary are snapshotted (before ``finish()``) and the
run is ``completed``; on an exception it is ``failed`` (error and traceback excerpt) and the
exception propagates; on SIGTERM the buffer is flushed, the run is ``terminated`` and the
signal is re-delivered to the previous handler, so the process dies as it would have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import traceback
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any

from mangodb.dto import RunCreate
from mangodb.errors import InvalidTransition, RunAlreadyExists, RunNotFound
from mangodb.integrations.wandb import mirror as hook
from mangodb.integrations.wandb import snapshot
from mangodb.repository import RunRepository
from mangodb.status import RunStatus

log = logging.getLogger(__name__)

SOURCE = "wandb"
ERROR_SUMMARY_LIMIT = 2000
_ACTIVE = (RunStatus.LAUNCHED, RunStatus.RUNNING)
_SignalHandler = Any  # Callable[[int, FrameType | None], Any] | int | None


def error_summary(error: BaseException, limit: int = ERROR_SUMMARY_LIMIT) -> str:
    """``Type: message`` then the end of the traceback, at most ``limit`` characters."""
    head = f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    room = limit - len(head) - 1
    if room <= 0:
        return head[:limit]
    return f"{head}\n{trace[-room:]}"


class Tracker:
    """Mirrors one live W&B run into one mangodb run (use :func:`track`)."""

    def __init__(
        self,
        run: Any,
        repo: RunRepository,
        run_id: str | None = None,
        *,
        heartbeat_seconds: float = 30.0,
        flush_every: int = 500,
        flush_seconds: float = 2.0,
        signals: Iterable[signal.Signals] = (signal.SIGTERM,),
        finish_on_signal: bool = True,
        signal_timeout: float = 20.0,
        background_flush: bool = True,
        source: str = SOURCE,
        owns_repo: bool = False,
    ) -> None:
        self.run = run
        self.repo = repo
        self.run_id = run_id or run.id
        self.heartbeat_seconds = heartbeat_seconds
        self.source = source
        self.finish_on_signal = finish_on_signal
        self.signal_timeout = signal_timeout
        self._owns_repo = owns_repo
        self._signals = tuple(signals)
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._background_flush = background_flush
        self._flush_due = threading.Event()
        self._flusher: threading.Thread | None = None
        self._writer: Any = None
        self._mirror = hook.Mirror(self._emit, run=run)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._previous: dict[signal.Signals, _SignalHandler] = {}
        self._done = False

    # -- start ----------------------------------------------------------------------------
    def __enter__(self) -> Tracker:
        self.start()
        return self

    def start(self) -> None:
        ids = snapshot.identity(self.run)
        if not self.repo.run_exists(self.run_id):
            with contextlib.suppress(RunAlreadyExists):  # another process was first: fine
                self.repo.insert_run(
                    RunCreate(run_id=self.run_id, config=snapshot.config(self.run), **ids)
                )
        self.repo.update_run_status(
            self.run_id,
            RunStatus.RUNNING,
            reason="wandb run started",
            source=self.source,
            **ids,
        )
        if self._background_flush:  # the writer only buffers; our thread writes
            self._writer = self.repo.history_writer(
                self.run_id, flush_every=1 << 62, flush_seconds=float(1 << 30)
            )
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"mangodb-flush-{self.run_id}", daemon=True
            )
            self._flusher.start()
        else:
            self._writer = self.repo.history_writer(
                self.run_id, flush_every=self._flush_every, flush_seconds=self._flush_seconds
            )
        hook.install(self.run, self._mirror)
        self._install_signals()
        self._beat = threading.Thread(
            target=self._heartbeat, name=f"mangodb-heartbeat-{self.run_id}", daemon=True
        )
        self._beat.start()

    def _emit(self, step: int, row: dict[str, Any]) -> None:
        self._writer.log(row, step=step)
        if self._flusher is not None and self._writer.pending >= self._flush_every:
            self._flush_due.set()

    def _flush_loop(self) -> None:
        """Write buffered rows off the training thread: when ``flush_every`` rows wait, or
        every ``flush_seconds``. A failed flush keeps its rows buffered for the next one."""
        while not self._stop.is_set():
            self._flush_due.wait(self._flush_seconds)
            self._flush_due.clear()
            try:
                self._writer.flush()
            except Exception:
                log.warning("mangodb: history flush for %s failed", self.run_id, exc_info=True)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.repo.heartbeat(self.run_id)
            except Exception:  # a missed heartbeat must not kill training
                log.warning("mangodb: heartbeat for %s failed", self.run_id, exc_info=True)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.warning("mangodb: not in the main thread, SIGTERM is not intercepted")
            return
        for signum in self._signals:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue  # the process ignores it: so do we
            self._previous[signum] = previous
            signal.signal(signum, self._on_signal)

    # -- end ------------------------------------------------------------------------------
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.complete()
        elif isinstance(exc, KeyboardInterrupt):
            self._end_quietly(RunStatus.TERMINATED, "interrupted (KeyboardInterrupt)", 130)
        else:
            self.fail(exc)

    def complete(self) -> None:
        """Snapshot config and summary, flush history, mark ``completed``. If another writer
        (the reaper) already gave a verdict, it stands: the refusal is in the event log."""
        try:
            self._finish(RunStatus.COMPLETED, reason="wandb run finished", exit_code=0)
        except InvalidTransition as refused:
            log.warning("mangodb: run %s not marked completed: %s", self.run_id, refused)

    def fail(self, error: BaseException) -> None:
        """Mark ``failed`` with the error; never raises (the error itself must propagate)."""
        self._end_quietly(
            RunStatus.FAILED,
            f"exception {type(error).__name__}",
            1,
            error_summary=error_summary(error),
            details={"error_type": type(error).__name__, "message": str(error)[:500]},
        )

    def _end_quietly(self, status: RunStatus, reason: str, exit_code: int, **extra: Any) -> None:
        try:
            self._finish(status, reason=reason, exit_code=exit_code, **extra)
        except Exception:
            log.exception("mangodb: could not record that run %s ended", self.run_id)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        exit_code = 128 + signum
        try:
            # The signal may have interrupted this very thread inside a flush (holding the
            # writer's lock) or a wandb call: record the end from a worker thread, bounded by
            # ``signal_timeout``, so a held lock costs the record, never a hung process.
            worker = threading.Thread(
                target=self._end_quietly,
                args=(RunStatus.TERMINATED, f"signal {name}", exit_code),
                kwargs={"details": {"signal": name}},
                name="mangodb-signal",
                daemon=True,
            )
            worker.start()
            worker.join(self.signal_timeout)
            if worker.is_alive():
                log.warning("mangodb: recording %s for run %s timed out", name, self.run_id)
            if self.finish_on_signal:  # lets wandb-core write its buffered tail and exit record
                # Also from a bounded worker: the signal may have interrupted this thread inside
                # a wandb call, and finish() from here would wait on that call's lock forever.
                finisher = threading.Thread(
                    target=self._finish_wandb, args=(exit_code, name),
                    name="mangodb-signal-finish", daemon=True,
                )  # fmt: skip
                finisher.start()
                finisher.join(self.signal_timeout)
                if finisher.is_alive():
                    log.warning("mangodb: wandb finish() after %s timed out", name)
        finally:
            self._restore_signals()
            os.kill(os.getpid(), signum)  # to the previous handler: dies as it would have

    def _finish_wandb(self, exit_code: int, name: str) -> None:
        try:
            self.run.finish(exit_code=exit_code)
        except Exception:
            log.exception("mangodb: wandb finish() after %s failed", name)

    def _finish(
        self,
        status: RunStatus,
        *,
        reason: str,
        exit_code: int,
        details: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._mirror.commit(self.run)  # so the summary snapshot includes the open row
            summary = config = None
            try:
                summary = snapshot.summary(self.run)
                config = snapshot.config(self.run)
            except Exception:  # the wandb run is already gone: keep what we have
                log.warning("mangodb: could not read the wandb summary/config", exc_info=True)
            self._stop_flusher()
            if self._writer is not None:
                self._writer.close()
            self._release()
            if config is not None:
                with contextlib.suppress(RunNotFound):
                    config = {**self.repo.get_run(self.run_id).config, **config}
            self.repo.update_run_status(
                self.run_id,
                status,
                reason=reason,
                source=self.source,
                details=details,
                final_metrics=summary,
                config=config,
                exit_code=exit_code,
                expected_status=_ACTIVE,
                **fields,
            )
        finally:
            self._release()
            if self._owns_repo:
                self.repo.close()

    def _stop_flusher(self) -> None:
        if self._flusher is not None:
            self._stop.set()
            self._flush_due.set()
            self._flusher.join(self.signal_timeout)

    def _release(self) -> None:
        """Stop mirroring and heartbeating; restore signal handlers (main thread only)."""
        hook.uninstall(self.run)
        self._stop.set()
        if threading.current_thread() is threading.main_thread():
            self._restore_signals()

    def _restore_signals(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


def track(
    run: Any,
    repo: RunRepository | str | None = None,
    run_id: str | None = None,
    **options: Any,
) -> Tracker:
    """Mirror the live W&B ``run`` into mangodb run ``run_id`` (default: ``MANGODB_RUN_ID``,
    else the W&B run id) of ``repo`` (a ``RunRepository``, a database URL, or None for the
    default database; one opened here is closed at the end).
    Use as a context manager around the training loop; options go to :class:`Tracker`."""
    owns = not isinstance(repo, RunRepository)
    repository = repo if isinstance(repo, RunRepository) else RunRepository.connect(repo)
    run_id = run_id or os.environ.get("MANGODB_RUN_ID")
    return Tracker(run, repository, run_id, owns_repo=owns, **options)

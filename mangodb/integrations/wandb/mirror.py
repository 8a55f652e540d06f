"""Mirror every committed W&B history row, by replaying W&B's step/commit rules.

W&B has no public per-``log`` callback. Every logging path (``run.log``, ``wandb.log``,
``wandb.watch``, TensorBoard sync) goes through the private ``Run._log(data, step, commit)``,
so :func:`install` wraps it once, at class level, and hands each call of a tracked run to its
:class:`Mirror`. The mirror merges calls into rows exactly as W&B does (verified against the
``.wandb`` file by ``tests/test_wandb_reader.py`` and ``tests/test_wandb_track.py``):

* no ``step`` and no ``commit``: the call is a row of its own at the current step;
* ``commit=False`` accumulates into the current row; the next committing call closes it;
* ``step=N`` (commit defaults to False) merges calls with the same N; a call aimed at a later
  step, an implicit call (which lands in step N), or ``finish()`` commits the row;
* ``step`` below the current step is dropped (W&B warns and ignores it, ``commit`` too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from mangodb.integrations.wandb.keys import flatten, is_media

log = logging.getLogger(__name__)

Emit = Callable[[int, dict[str, Any]], None]
_PLAIN = frozenset({float, int, str, bool, type(None)})


def to_json_value(value: Any, run: Any = None) -> Any:
    """A JSON-friendly copy of a logged value: numpy scalars and one-element tensors become
    Python numbers, W&B data types their W&B JSON description, arrays lists."""
    if value is None or type(value) in _PLAIN:
        return value
    for plain in (bool, int, float, str):  # subclasses (np.float64, W&B's LogicalPath)
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v, run) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, run) for v in value]
    to_json = getattr(value, "to_json", None)
    if callable(to_json) and run is not None and _is_wandb_value(value):
        try:
            return to_json_value(to_json(run), run)
        except Exception:  # unbound media or a type W&B converts itself: describe it
            return {"_type": type(value).__name__.lower()}
    item = getattr(value, "item", None)
    if callable(item):
        try:
            result = item()
        except (ValueError, RuntimeError, TypeError):  # not a single element
            result = None
        else:
            if result is None or isinstance(result, (bool, int, float, str)):
                return result
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return to_json_value(tolist(), run)
        except Exception:
            pass
    return str(value)


def row_values(data: Mapping[str, Any], run: Any = None) -> dict[str, Any]:
    """One logged dict as flat JSON values (the fast path: plain numbers pass untouched)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if type(value) in _PLAIN:
            out[key] = value
            continue
        converted = to_json_value(value, run)
        if isinstance(converted, dict) and converted and not is_media(converted):
            out.update(flatten(converted, key))
        else:
            out[key] = converted
    return out


def _is_wandb_value(value: Any) -> bool:
    return any(cls.__name__ == "WBValue" for cls in type(value).__mro__)


class Mirror:
    """Turns a stream of ``_log`` calls into committed rows ``emit(step, flat_row)``.

    It keeps its own current step, as wandb-core does: ``Run._local_step`` is not it (a
    dropped call with ``commit=True`` advances ``_local_step`` but not wandb-core's step, and
    later implicit calls land where wandb-core says)."""

    def __init__(
        self, emit: Emit, *, run: Any = None, timestamps: bool = True, start_step: int = 0
    ) -> None:
        self.emit = emit
        self.run = run
        self.timestamps = timestamps
        self.step = start_step  # the step the open row belongs to (or the next row will)
        self.row: dict[str, Any] = {}
        self.rows_emitted = 0
        self.calls_dropped = 0
        self._lock = threading.Lock()

    def observe(
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """One ``_log(data, step, commit)`` call that W&B accepted."""
        with self._lock:
            if step is not None:
                if step < self.step:  # W&B warns and ignores the whole call, commit included
                    self.calls_dropped += 1
                    return
                if step > self.step:  # aiming at a later step commits the open row
                    self._flush()
                    self.step = step
            self.row.update(row_values(data, self.run))
            if self.timestamps:
                self.row["_timestamp"] = time.time()
            if (step is None and commit is None) or commit:
                self._flush()
                self.step += 1

    @property
    def pending(self) -> bool:
        """Whether a row is open (logged but not committed yet)."""
        return bool(self.row)

    def commit(self, run: Any) -> None:
        """Commit the open row in W&B *and* here, so that a summary read afterwards includes
        it (W&B would commit it only in ``finish()``, after which the summary reads ``{}``)."""
        if self.pending:
            try:
                run.log({}, commit=True)  # goes through the hook, which closes our row too
            except Exception:  # the run is finished or broken: close ours anyway
                log.warning("mangodb: could not commit the open wandb row", exc_info=True)
        self.flush()

    def flush(self) -> None:
        """Commit the open row, as ``run.finish()`` does."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        row, self.row = self.row, {}
        if row:
            self.rows_emitted += 1
            self.emit(self.step, row)


# -- the class-level hook ----------------------------------------------------------------------
_mirrors: dict[int, Mirror] = {}
_hook_lock = threading.Lock()
_original: Callable[..., Any] | None = None


def _hooked_log(self: Any, data: Any, step: int | None = None, commit: bool | None = None) -> Any:
    assert _original is not None
    mirror = _mirrors.get(id(self))
    if mirror is None:
        return _original(self, data, step=step, commit=commit)
    result = _original(self, data, step=step, commit=commit)  # raises like W&B would
    try:
        mirror.observe(data, step, commit)
    except Exception:  # never break training because of the mirror
        log.exception("mangodb: could not mirror a wandb.log call")
    return result


def install(run: Any, mirror: Mirror) -> None:
    """Mirror ``run``'s logging into ``mirror`` (patching ``Run._log`` once, class-wide)."""
    global _original
    with _hook_lock:
        cls = type(run)
        if _original is None:
            _original = cls._log
            cls._log = _hooked_log
        _mirrors[id(run)] = mirror
        start = getattr(run, "_local_step", None)  # e.g. a resumed run's starting step
        if isinstance(start, int) and not mirror.pending:
            mirror.step = start


def uninstall(run: Any) -> None:
    """Stop mirroring ``run``; the class is restored when no run is mirrored any more."""
    global _original
    with _hook_lock:
        _mirrors.pop(id(run), None)
        if not _mirrors and _original is not None:
            type(run)._log = _original
            _original = None

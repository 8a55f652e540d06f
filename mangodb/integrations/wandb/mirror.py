"""Mirror every committed W&B history row exactly as W&B records it.

W&B has no public per-``log`` callback. Every logging path (``run.log``, ``wandb.log``,
``wandb.watch``, TensorBoard sync) ends in the client handing wandb-core a
``PartialHistoryRequest`` (``InterfaceShared._publish_partial_history``), after the client has
serialized every value its own way (media files written, tables and custom charts turned into
file references, a chart's table under ``<key>_table``); ``define_metric`` ends in
``InterfaceShared._publish_metric``. The hooks here wrap those two methods, class-wide, and feed
each run's requests to its :class:`Mirror`, which replays what wandb-core does with them
(:mod:`~mangodb.integrations.wandb.corerules`): so a mirrored row holds the same keys and values
as the row W&B writes, never a Python repr of a logged object. Its step/commit rules:

* no ``step`` and no ``commit``: the call is a row of its own at the current step;
* ``commit=False`` accumulates into the current row; the next committing call closes it;
* ``step=N`` (commit defaults to False) merges calls with the same N; a call aimed at a later
  step, an implicit call (which lands in step N), or ``finish()`` commits the row;
* ``step`` below the current step is dropped (W&B warns and ignores it, ``commit`` too).

``_runtime`` is the one key of W&B's rows the mirror cannot know (wandb-core's own clock); an
import of the ``.wandb`` file adds it.

The hooks are installed when this module is imported in a process that has imported wandb
(else by the first :func:`install`), so a ``define_metric`` made between ``wandb.init`` and
``track`` is seen. A run whose requests were not all seen (the hooks came later) starts from
wandb-core's current step; a ``define_metric`` made before that is missed, and said so.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from mangodb.integrations.wandb.corerules import (
    MetricRules,
    Tree,
    as_written,
    define_from_record,
    set_json,
)
from mangodb.integrations.wandb.keys import flatten
from mangodb.integrations.wandb.logfile import item_value

log = logging.getLogger(__name__)

Emit = Callable[[int, dict[str, Any]], None]
_STEP_TIMEOUT = 10.0  # seconds to wait for wandb-core's current step


class Mirror:
    """One run's requests to wandb-core turned into committed rows ``emit(step, flat_row)``;
    without ``emit`` it only keeps the state (step, open row, metric definitions)."""

    def __init__(self, emit: Emit | None = None, *, run: Any = None, start_step: int = 0) -> None:
        self.emit = emit
        self.run = run
        self.step = start_step  # the step the open row belongs to (or the next row will)
        self.row: Tree = {}
        self.metrics = MetricRules()
        self.rows_emitted = 0
        self.calls_dropped = 0
        self.seen_requests = 0
        self._lock = threading.Lock()

    def observe(
        self, values: Mapping[str, Any], step: int | None = None, commit: bool | None = None
    ) -> None:
        """One partial-history request: ``values`` the decoded JSON the client sent per
        top-level key, ``step`` its explicit step, ``commit`` its flush action (None: unset)."""
        with self._lock:
            self.seen_requests += 1
            if step is not None:
                if step < self.step:  # W&B warns and ignores the whole call, commit included
                    self.calls_dropped += 1
                    return
                if step > self.step:  # aiming at a later step commits the open row
                    self._commit(step)
            for key, value in values.items():
                set_json(self.row, key, as_written(value))
            if commit if commit is not None else step is None:
                self._commit(self.step + 1)

    def define(self, record: Any) -> None:
        """One ``MetricRecord`` (a ``define_metric`` call)."""
        with self._lock:
            self.seen_requests += 1
            define_from_record(self.metrics, record)

    def adopt(self, other: Mirror) -> None:
        """Take over ``other``'s state: the run's requests so far were seen by ``other``."""
        with other._lock, self._lock:
            self.step, self.row, self.metrics = other.step, other.row, other.metrics
            self.seen_requests += other.seen_requests

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
            self._commit(self.step + 1)

    def _commit(self, next_step: int) -> None:
        row, self.row = self.row, {}
        if row:
            self.metrics.apply(row, self.step)
            if self.emit is not None:
                self.rows_emitted += 1
                self.emit(self.step, flatten(row))
        self.step = next_step


# -- the hooks -----------------------------------------------------------------------------------
_mirrors: weakref.WeakKeyDictionary[Any, Mirror] = weakref.WeakKeyDictionary()  # by interface
_hook_lock = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}
_INTERFACE_MODULE = "wandb.sdk.interface.interface_shared"


def _mirror_of(interface: Any) -> Mirror:
    with _hook_lock:
        mirror = _mirrors.get(interface)
        if mirror is None:
            mirror = _mirrors[interface] = Mirror(start_step=_starting_step(interface))
        return mirror


def _starting_step(interface: Any) -> int:
    """Where wandb-core starts counting (a resumed run's starting step): the client's step of
    the run that owns ``interface``, read before its first request changes it."""
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None)
    if run is not None and getattr(run, "_interface", None) is interface:
        step = getattr(run, "_local_step", 0)
        return step if isinstance(step, int) else 0
    return 0


def _hooked_partial_history(self: Any, request: Any) -> Any:
    result = _originals["_publish_partial_history"](self, request)
    try:
        values = _values(request.item)
        step = request.step.num if request.HasField("step") else None
        commit = request.action.flush if request.HasField("action") else None
        _mirror_of(self).observe(values, step, commit)
    except Exception:  # never break training because of the mirror
        log.exception("mangodb: could not mirror a wandb.log call")
    return result


def _values(items: Any) -> dict[str, Any]:
    texts = [item.value_json for item in items]
    if all(texts):  # one json.loads per request, not per value
        decoded = json.loads("[" + ",".join(texts) + "]")
        return {item.key: value for item, value in zip(items, decoded, strict=True)}
    return {item.key: item_value(item) for item in items}


def _hooked_metric(self: Any, record: Any) -> Any:
    result = _originals["_publish_metric"](self, record)
    try:
        _mirror_of(self).define(record)
    except Exception:
        log.exception("mangodb: could not mirror a wandb define_metric call")
    return result


_HOOKS: dict[str, Callable[..., Any]] = {
    "_publish_partial_history": _hooked_partial_history,
    "_publish_metric": _hooked_metric,
}


def install_hooks() -> None:
    """Wrap wandb's interface methods (once per process; imports wandb)."""
    with _hook_lock:
        if _originals:
            return
        from wandb.sdk.interface.interface_shared import InterfaceShared

        for name, hook in _HOOKS.items():
            _originals[name] = getattr(InterfaceShared, name)
            setattr(InterfaceShared, name, hook)


def hooks_installed() -> bool:
    return bool(_originals)


def install(run: Any, mirror: Mirror) -> None:
    """Mirror ``run``'s history into ``mirror`` from now on."""
    install_hooks()
    interface = run._interface
    with _hook_lock:
        seen = _mirrors.get(interface)
        if seen is not None:
            mirror.adopt(seen)
        else:
            mirror.step = _current_step(run)
            if _defined_metrics(run):
                log.warning(
                    "mangodb: define_metric was called on wandb run %s before mangodb's wandb "
                    "integration was imported; import it before wandb.init so that the "
                    "mirrored history applies those definitions as W&B does",
                    getattr(run, "id", "?"),
                )
        mirror.run = run
        _mirrors[interface] = mirror


def uninstall(run: Any) -> None:
    """Stop emitting ``run``'s rows (its state keeps following the run)."""
    with _hook_lock:
        for mirror in list(_mirrors.values()):
            if mirror.run is run:
                mirror.emit = None


def attached(run: Any) -> Mirror | None:
    """The mirror that emits ``run``'s rows, if any."""
    interface = getattr(run, "_interface", None)
    mirror = _mirrors.get(interface) if interface is not None else None
    return mirror if mirror is not None and mirror.emit is not None else None


def _current_step(run: Any) -> int:
    """wandb-core's current step for a run whose earlier requests were not seen."""
    local = getattr(run, "_local_step", 0)
    local = local if isinstance(local, int) else 0
    try:
        response = run._interface.deliver_history_step().wait_or(timeout=_STEP_TIMEOUT)
        step = int(response.step)
    except Exception:
        log.warning("mangodb: could not ask wandb-core for the current step", exc_info=True)
        return local
    return step if step > 0 else local  # 0 before the first row, even for a resumed run


def _defined_metrics(run: Any) -> bool:
    telemetry = getattr(run, "_telemetry_obj", None)
    return bool(getattr(getattr(telemetry, "feature", None), "metric", False))


if _INTERFACE_MODULE in sys.modules:  # wandb is already loaded: watch its runs from now on
    install_hooks()

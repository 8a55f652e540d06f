"""Read a live W&B run's identity, config and summary (before ``finish()``: after it the
summary reads ``{}``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PLAIN = frozenset({float, int, str, bool, type(None)})


def identity(run: Any) -> dict[str, Any]:
    """The W&B entity/project/id/url of a live run, as ``update_run_status`` fields."""
    url = None
    try:
        url = run.url  # None offline
    except Exception:
        url = None
    return {
        "wandb_entity": run.entity or None,
        "wandb_project": run.project or None,
        "wandb_run_id": run.id,
        "wandb_url": url or None,
    }


def config(run: Any) -> dict[str, Any]:
    """``dict(run.config)`` (local, no RPC) without W&B's private ``_wandb`` entry."""
    values = to_json_value(dict(run.config), run)
    values.pop("_wandb", None)
    return dict(values)


def summary(run: Any) -> dict[str, Any]:
    """The run's summary as plain nested dicts, in one RPC when possible."""
    as_dict = getattr(run.summary, "_as_dict", None)
    raw: Mapping[str, Any]
    try:
        raw = as_dict() if callable(as_dict) else {}
    except Exception:
        raw = {}
    if not raw:
        raw = {key: run.summary.get(key) for key in run.summary.keys()}  # noqa: SIM118 (no __iter__)
    values = to_json_value(dict(raw), run)
    values.pop("_wandb", None)
    return dict(values)


def to_json_value(value: Any, run: Any = None) -> Any:
    """A JSON-friendly copy of a config or summary value: numpy scalars and one-element
    tensors become Python numbers, W&B data types their W&B JSON description, arrays lists."""
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


def _is_wandb_value(value: Any) -> bool:
    return any(cls.__name__ == "WBValue" for cls in type(value).__mro__)

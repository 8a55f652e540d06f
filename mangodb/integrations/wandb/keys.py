"""How W&B row keys become mangodb history keys.

W&B stores a nested dict ``{"opt": {"lr": 1}}`` as the path ``["opt", "lr"]``; its UI and
``wandb leet`` join paths with ``"."``, and so do we (``"opt.lr"``). A dict carrying ``_type``
is a W&B media/data-type description (image, histogram, table...) and is kept whole, as one
JSON value under its key. Consequence (as in W&B's UI): ``{"a.b": 1}`` and ``{"a": {"b": 1}}``
land on the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEPARATOR = "."
# Keys W&B adds to every row itself; ``_step`` is the step, not a value.
STEP_KEY = "_step"
SYSTEM_KEYS = frozenset({"_runtime", "_timestamp"})


def is_media(value: Mapping[str, Any]) -> bool:
    return "_type" in value


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys, keeping media descriptions whole."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{SEPARATOR}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value and not is_media(value):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``value`` at ``path`` in nested dicts (creating them)."""
    current = target
    for part in path[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            child = {}
            current[part] = child
        current = child
    current[path[-1]] = value


def remove_path(target: dict[str, Any], path: list[str]) -> None:
    current: Any = target
    for part in path[:-1]:
        current = current.get(part) if isinstance(current, dict) else None
        if current is None:
            return
    if isinstance(current, dict):
        current.pop(path[-1], None)

"""Read a live W&B run's identity, config and summary (before ``finish()``: after it the
summary reads ``{}``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mangodb.integrations.wandb.mirror import to_json_value


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

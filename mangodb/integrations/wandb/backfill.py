"""Backfill mangodb from W&B's cloud through ``wandb.Api()``: needs network and an API key.

Split in two so the part that matters is testable offline: :func:`payload_from_api` turns a
``wandb.apis.public.Run`` into a plain JSON-able payload (the only code that talks to W&B; it
uses ``scan_history`` for every row, never the sampled ``history()``), and
:func:`write_payload` maps the payload's state and writes it (tested with recorded payloads in
``tests/data/wandb/``). A payload looks like::

    {"id": "hzg69uzq", "entity": "lab", "project": "deco", "name": "...", "state": "crashed",
     "url": "https://...", "created_at": "2025-05-01T10:00:00Z",
     "heartbeat_at": "2025-05-01T10:01:02Z",
     "config": {...}, "summary": {...}, "history": [{"_step": 0, "loss": 0.9}, ...]}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mangodb.errors import ConfigurationError, MangoDBError, ValidationError
from mangodb.integrations.wandb.extra import require_wandb
from mangodb.integrations.wandb.keys import STEP_KEY, flatten
from mangodb.integrations.wandb.sink import RunData, WriteResult, write_run
from mangodb.integrations.wandb.states import status_for_state
from mangodb.repository import RunRepository

SOURCE = "wandb-backfill"
NEEDS_NETWORK = (
    "W&B backfill reads W&B's cloud: it needs network access and an API key "
    "(WANDB_API_KEY or `wandb login`)"
)


def _rows(history: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    for raw in history:
        row = flatten(raw)
        step = row.pop(STEP_KEY, None)
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, int) and not isinstance(step, bool) and step >= 0:
            yield step, {k: v for k, v in row.items() if v is not None}


def _timestamp(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def run_data(payload: Mapping[str, Any]) -> RunData:
    """Map a payload onto what the writer takes (the state becomes a status verdict)."""
    if not payload.get("id"):
        raise ValidationError("W&B payload without a run id")
    state = str(payload.get("state") or "")
    config = dict(payload.get("config") or {})
    summary = dict(payload.get("summary") or {})
    config.pop("_wandb", None)
    summary.pop("_wandb", None)
    return RunData(
        wandb_run_id=str(payload["id"]),
        rows=_rows(payload.get("history") or ()),
        entity=payload.get("entity"),
        project=payload.get("project"),
        url=payload.get("url"),
        config=config,
        summary=summary,
        verdict=status_for_state(state) if state else None,
        started_at=_timestamp(payload.get("created_at")),
        ended_at=_timestamp(payload.get("heartbeat_at")),
        evidence={"wandb_state": state} if state else {},
    )


def write_payload(
    repo: RunRepository, payload: Mapping[str, Any], *, run_id: str | None = None
) -> WriteResult:
    """Write one W&B run payload into mangodb (idempotent)."""
    return write_run(repo, run_data(payload), run_id=run_id, source=SOURCE)


def payload_from_api(api_run: Any, *, page_size: int = 1000) -> dict[str, Any]:
    """A payload from a ``wandb.apis.public.Run``; ``history`` is a lazy ``scan_history``."""
    return {
        "id": api_run.id,
        "entity": api_run.entity,
        "project": api_run.project,
        "name": getattr(api_run, "name", None),
        "state": api_run.state,
        "url": api_run.url,
        "created_at": getattr(api_run, "created_at", None),
        "heartbeat_at": getattr(api_run, "heartbeat_at", None),
        "config": dict(api_run.config),
        "summary": dict(api_run.summary_metrics),
        "history": api_run.scan_history(page_size=page_size),
    }


def api_runs(path: str, api: Any = None) -> Iterator[Any]:
    """The public-API runs named by ``ENTITY/PROJECT`` (all of them) or ``ENTITY/PROJECT/RUN``."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[-2:-1] == ["runs"]:  # accept ENTITY/PROJECT/runs/RUN as W&B URLs write it
        parts = parts[:-2] + parts[-1:]
    if len(parts) not in (2, 3):
        raise ValidationError(f"expected ENTITY/PROJECT or ENTITY/PROJECT/RUN, got {path!r}")
    wandb = require_wandb()
    try:
        client = api if api is not None else wandb.Api()
        if len(parts) == 3:
            yield client.run("/".join(parts))
        else:
            yield from client.runs("/".join(parts))
    except Exception as error:  # wandb raises its own errors (auth, network, not found)
        raise ConfigurationError(f"{NEEDS_NETWORK}; W&B said: {error}") from error


def backfill(
    repo: RunRepository,
    path: str,
    *,
    api: Any = None,
    run_id: str | None = None,
    on_run: Callable[[WriteResult], None] | None = None,
) -> list[WriteResult]:
    """Backfill every run under ``path`` from W&B's cloud (see :data:`NEEDS_NETWORK`)."""
    if run_id is not None and path.strip("/").count("/") < 2:
        raise ValidationError("--run-id needs one run: ENTITY/PROJECT/RUN")
    results = []
    for api_run in api_runs(path, api):
        try:
            result = write_payload(repo, payload_from_api(api_run), run_id=run_id)
        except MangoDBError:
            raise
        except Exception as error:  # network or auth trouble while scanning history
            raise ConfigurationError(f"{NEEDS_NETWORK}; W&B said: {error}") from error
        results.append(result)
        if on_run is not None:
            on_run(result)
    return results

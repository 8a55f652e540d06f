"""ORM row -> DTO conversion, done inside the unit of work (ORM objects never escape)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mangodb.codecs.floats import decode_float, encode_float, is_number
from mangodb.db.models import Run, RunMetric, RunObjective
from mangodb.dto import (
    ObjectiveRead,
    RunCreate,
    RunEventRead,
    RunRead,
)

_FLOAT_INT_MAX = int(sys.float_info.max)
_RUN_COLUMNS = tuple(
    c.key for c in Run.__table__.columns if c.key not in ("id", "final_metrics", "config_text")
)


def final_metrics_rows(summary: Mapping[str, Any]) -> tuple[list[RunMetric], dict[str, Any]]:
    """Split a summary: top-level numbers become ``RunMetric`` rows (filterable in SQL);
    everything else, and integers (kept exact), stays in the document."""
    rows: list[RunMetric] = []
    document: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_INT_MAX:
            document[key] = value  # beyond float range: kept exact, not filterable in SQL
        elif is_number(value):
            stored, kind = encode_float(value)
            rows.append(RunMetric(key=key, value=stored, kind=kind))
            if isinstance(value, int):
                document[key] = value
        else:
            document[key] = value
    return rows, document


def to_objective_read(row: RunObjective) -> ObjectiveRead:
    return ObjectiveRead(
        name=row.name,
        metric=row.metric,
        direction=row.direction,
        weight=row.weight,
        target=row.target,
        value=decode_float(row.value, row.value_kind),
        step=row.step,
        updated_at=row.updated_at,
    )


def new_run_read(create: RunCreate, row: Mapping[str, Any], event: Mapping[str, Any]) -> RunRead:
    """The ``RunRead`` of a run just inserted from ``create`` (``row``: the values written,
    ``event``: its first event), built without reading the run back."""
    values: dict[str, Any] = {name: row.get(name) for name in _RUN_COLUMNS}
    values["config"] = create.config
    values["final_metrics"] = {}
    values["tags"] = tuple(sorted(set(create.tags)))
    values["objectives"] = tuple(
        ObjectiveRead(
            name=o.name,
            metric=o.metric,
            direction=o.direction,
            weight=o.weight,
            target=o.target,
            value=None,
            step=None,
            updated_at=None,
        )
        for o in sorted(create.objectives, key=lambda o: o.name)
    )
    values["events"] = (RunEventRead.model_validate({"details": None, **event}),)
    return RunRead.model_validate(values)


def run_read_from_row(
    row: Mapping[Any, Any],
    *,
    events: Sequence[Mapping[Any, Any]],
    objectives: Sequence[Mapping[Any, Any]],
    crash_reports: Sequence[Mapping[Any, Any]],
    attachments: Sequence[Mapping[Any, Any]],
    metrics: Sequence[Mapping[Any, Any]],
    tags: Sequence[Mapping[Any, Any]],
) -> RunRead:
    """``RunRead`` from Core rows of ``runs`` and of its child tables."""
    values: dict[str, Any] = {name: row[name] for name in _RUN_COLUMNS}
    values["config"] = row["config"] or {}
    final: dict[str, Any] = {m["key"]: decode_float(m["value"], m["kind"]) for m in metrics}
    final.update(row["final_metrics"] or {})
    values["final_metrics"] = final
    values["tags"] = tuple(sorted(t["tag"] for t in tags))
    # Nested reads go in as dicts: RunRead's validation builds them in one pass.
    values["objectives"] = [
        {
            "name": o["name"],
            "metric": o["metric"],
            "direction": o["direction"],
            "weight": o["weight"],
            "target": o["target"],
            "value": decode_float(o["value"], o["value_kind"]),
            "step": o["step"],
            "updated_at": o["updated_at"],
        }
        for o in sorted(objectives, key=lambda o: str(o["name"]))
    ]
    values["crash_reports"] = sorted(crash_reports, key=_by_id)
    values["attachments"] = sorted(attachments, key=_by_id)
    values["events"] = sorted(events, key=_by_id)
    return RunRead.model_validate(values)


def _by_id(row: Mapping[Any, Any]) -> int:
    return int(row["id"])

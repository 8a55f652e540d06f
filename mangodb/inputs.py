"""Checks on the arguments of repository calls, done before any write.

DTO fields validate themselves (mangodb/dto.py); these helpers cover what arrives as plain
keyword arguments: run fields, timestamps, tag lists, statuses to expect, JSON given as text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from mangodb.dto import CrashReportCreate, ObjectiveCreate, RunCreate, validation_error
from mangodb.errors import ValidationError
from mangodb.status import RunStatus, parse_status

# Fields ``update_run_status`` may set alongside (or without) a status change.
UPDATABLE = frozenset(
    {
        "started_at",
        "ended_at",
        "heartbeat_at",
        "gradient_method",
        "model_name",
        "dataset",
        "batch_size",
        "learning_rate",
        "seed",
        "instance_id",
        "instance_type",
        "region",
        "is_spot",
        "host",
        "git_commit",
        "s3_prefix",
        "wandb_entity",
        "wandb_project",
        "wandb_run_id",
        "wandb_url",
        "exit_code",
        "total_training_steps",
        "error_summary",
    }
)


def aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and not isinstance(value, dt.datetime):
        raise ValidationError(f"{name} must be a datetime, got {value!r}")
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValidationError(f"{name}={value.isoformat()} is naive: give it a timezone (UTC)")
    return value


def load_json_arg(value: Any, name: str) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValidationError(f"{name} is not valid JSON: {exc}") from exc
    return value


M = TypeVar("M", RunCreate, ObjectiveCreate, CrashReportCreate)


def validate(model: type[M], fields: Mapping[str, Any]) -> M:
    from pydantic import ValidationError as PydanticError

    try:
        return model.model_validate(dict(fields))
    except PydanticError as error:
        raise validation_error(model.__name__, error) from error


def as_run_create(run: RunCreate | None, fields: Mapping[str, Any]) -> RunCreate:
    if run is not None:
        if fields:
            raise ValidationError("pass a RunCreate or keywords, not both")
        return run
    return validate(RunCreate, fields)


def texts(values: Iterable[str], name: str) -> list[str]:
    if isinstance(values, str):
        raise ValidationError(f"{name} takes a list of tags, not one string")
    return list(values)


def checked_text(value: Any, name: str, max_length: int, *, empty_ok: bool = False) -> str:
    """``value`` stripped; ValidationError unless it is non-empty text that fits the column."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text, got {type(value).__name__}")
    text = value.strip()
    if not text and not empty_ok:
        raise ValidationError(f"{name} must not be empty")
    if len(text) > max_length:
        raise ValidationError(f"{name} is longer than {max_length} characters")
    if "\x00" in text:
        raise ValidationError(f"{name} contains a NUL character")
    return text


def expected(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, RunStatus)) else list(value)
    return frozenset(parse_status(v).value for v in items)


def validate_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate run fields through ``RunCreate``'s own field rules."""
    if not fields:
        return {}
    dates = {k: v for k, v in fields.items() if k in ("started_at", "ended_at", "heartbeat_at")}
    other = {
        k: v
        for k, v in fields.items()
        if k not in dates and k not in ("exit_code", "total_training_steps", "error_summary")
    }
    checked = validate(RunCreate, {"run_id": "x", **other})
    result = dict(fields)
    result.update({name: getattr(checked, name) for name in other})  # coerced, e.g. "0.1" -> 0.1
    for name in ("exit_code", "total_training_steps"):
        value = fields.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError(f"{name} must be an integer, got {value!r}")
        if value is not None and not -(2**63) <= value < 2**63:
            raise ValidationError(f"{name} does not fit in 64 bits: {value}")
    steps = fields.get("total_training_steps")
    if steps is not None and steps < 0:
        raise ValidationError(f"total_training_steps must be >= 0, got {steps}")
    summary = fields.get("error_summary")
    if summary is not None and (not isinstance(summary, str) or "\x00" in summary):
        raise ValidationError("error_summary must be text without NUL characters")
    return result

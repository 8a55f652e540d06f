"""Checks on the arguments of repository calls, done before any database work.

DTO fields validate themselves (mangodb/dto.py); these helpers cover what arrives as plain
arguments: run ids, keys and other text, integers, numbers, flags, run fields, timestamps,
tag lists, statuses to expect, JSON given as text and query criteria. Each raises
``ValidationError`` naming the argument, so a public method raises nothing undocumented
(a lone surrogate, a NUL, an integer beyond 64 bits or a value of the wrong type never
reaches a driver).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticError

from mangodb.dto import (
    CrashReportCreate,
    ObjectiveCreate,
    RunCreate,
    validation_error,
)
from mangodb.dto import check_text as check_unicode
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
        raise ValidationError(f"{name} must be a datetime, got {type(value).__name__}")
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

    try:
        return model.model_validate(dict(fields))
    except PydanticError as error:
        raise validation_error(model.__name__, error) from error


def dto_or_fields(value: Any, fields: Mapping[str, Any], model: type[M], name: str) -> M:
    """The ``model`` passed as ``value``, or built from the keywords ``fields``; not both."""
    if value is None:
        return validate(model, fields)
    if fields:
        article = "an" if model.__name__[0] in "AEIOU" else "a"
        raise ValidationError(f"pass {article} {model.__name__} or keywords, not both")
    return instance(value, model, name)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
T = TypeVar("T")


def text(value: Any, name: str) -> str:
    """``value`` if it is text a database can store (no NUL, no lone surrogate)."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be text, got {type(value).__name__}")
    return check_unicode(value, name)


def optional_text(value: Any, name: str) -> str | None:
    return None if value is None else text(value, name)


def run_id(value: Any) -> str:
    """A run id to look up (as given: lookups do not strip)."""
    return text(value, "run_id")


def texts(values: Any, name: str) -> list[str]:
    """A list of texts (a tuple, set or other iterable of them; not one string)."""
    if isinstance(values, (str, bytes)):
        raise ValidationError(f"{name} takes a list of texts, not one {type(values).__name__}")
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValidationError(f"{name} must be a list of texts, got {type(values).__name__}")
    return [text(value, f"{name} item") for value in values]


def some_texts(values: Any, name: str) -> list[str] | None:
    """None, one text or a list of texts (history keys), as a list."""
    if values is None:
        return None
    return [text(values, name)] if isinstance(values, str) else texts(values, name)


def integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    """A 64-bit integer (not a bool, not a float), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, got {type(value).__name__}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValidationError(f"{name} does not fit in 64 bits")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be >= {minimum}, got {value}")
    return value


def optional_integer(value: Any, name: str, *, minimum: int | None = None) -> int | None:
    return None if value is None else integer(value, name, minimum=minimum)


def number(value: Any, name: str) -> float:
    """An int or float as a float (NaN and ±Inf allowed); an integer beyond the range of a
    double is refused rather than rounded to infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{name} is beyond the range of a double (±1.8e308)") from None


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def instance(value: Any, kind: type[T], name: str) -> T:
    if not isinstance(value, kind):
        raise ValidationError(
            f"{name} must be a {kind.__name__}, got {type(value).__name__}"
        )
    return value


def iterable(values: Any, name: str) -> None:
    """A list, tuple, generator… of items (not text, bytes or a dict)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValidationError(f"{name} must be a list, got {type(values).__name__}")


def instances(values: Any, kind: type[T], name: str) -> list[T]:
    """Every item of an iterable (consumed once) checked to be a ``kind``."""
    iterable(values, name)
    return [instance(value, kind, f"{name} item") for value in values]


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
    items: list[Any]
    if isinstance(value, (str, RunStatus)):
        items = [value]
    else:
        items = instances(value, object, "expected_status")
    return frozenset(status(v, "expected_status").value for v in items)


def status(value: Any, name: str = "status") -> RunStatus:
    if not isinstance(value, (str, RunStatus)):
        raise ValidationError(f"{name} must be a status name, got {type(value).__name__}")
    return parse_status(check_unicode(value, name))


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
            raise ValidationError(f"{name} must be an integer, got {type(value).__name__}")
        if value is not None and not -(2**63) <= value < 2**63:
            raise ValidationError(f"{name} does not fit in 64 bits: {value}")
    steps = fields.get("total_training_steps")
    if steps is not None and steps < 0:
        raise ValidationError(f"total_training_steps must be >= 0, got {steps}")
    summary = fields.get("error_summary")
    if summary is not None and (not isinstance(summary, str) or "\x00" in summary):
        raise ValidationError("error_summary must be text without NUL characters")
    return result


# -- query criteria (``query_runs`` and friends) ----------------------------------------------
RANGE_CRITERIA = ("created_after", "created_before", "ended_after", "ended_before")


def _query_value(value: Any, name: str) -> None:
    """A value a filter compares with: None, bool, int, float, text or a datetime."""
    if isinstance(value, str):
        check_unicode(value, name)
    elif not isinstance(value, (type(None), bool, int, float, dt.datetime)):
        raise ValidationError(f"{name}: cannot compare with a {type(value).__name__}")


def query_values(value: Any, name: str) -> None:
    for item in value if isinstance(value, (list, tuple)) else (value,):
        _query_value(item, name)


def query_bound(value: Any, name: str) -> None:
    """``96``, ``[1, 2]``, ``("<", 0.5)`` or ``{"min": 0, "max": 1}``."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        text(value[0], f"{name} operator")
        query_values(value[1], name)
    elif isinstance(value, Mapping):
        for bound, item in value.items():
            text(bound, f"{name} bound")
            query_values(item, name)
    else:
        query_values(value, name)


def bounds(value: Any, name: str) -> dict[str, Any]:
    """``query_runs_by_objectives`` bounds: a dict (or nothing)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name} must be a dict of bounds, got {type(value).__name__}")
    return dict(value)

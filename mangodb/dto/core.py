"""Pydantic DTOs: what crosses the repository boundary. Reads are frozen.

Validation happens here, before any write: ids, statuses, timezones, JSON-ness of configs,
steps, and finite numbers where NaN has no meaning (batch size, learning rate).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from mangodb.errors import ValidationError
from mangodb.status import RunStatus

MAX_ID = 255
EXCERPT_LIMIT = 16_384  # characters of an error-log excerpt kept in the database


def check_text(value: str, what: str = "text") -> str:
    if "\x00" in value:
        raise ValidationError(f"{what} contains a NUL character, which databases cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid unicode (lone surrogate)") from None
    return value


# Nesting levels a JSON document may have (configs nest a handful): deeper documents, and
# documents that contain themselves, are refused instead of exhausting the interpreter's stack.
MAX_JSON_DEPTH = 256


def _too_deep(what: str) -> ValidationError:
    return ValidationError(
        f"{what} nests deeper than {MAX_JSON_DEPTH} levels (a document that contains itself?)"
    )


def _json_value(value: Any, path: str, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return check_text(value, f"value at {path or '$'}") if isinstance(value, str) else value
    if isinstance(value, float):
        return value
    if depth >= MAX_JSON_DEPTH:
        raise _too_deep(f"value at {path[:60]}…")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"key {key!r} at {path or '$'} is not a string")
            check_text(key, f"key {key!r}")
            out[key] = _json_value(item, f"{path}.{key}" if path else key, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ValidationError(f"value at {path or '$'} is a {type(value).__name__}, not JSON")


def check_nesting(value: Any, what: str) -> None:
    """``ValidationError`` if ``value`` nests lists and dicts deeper than
    ``MAX_JSON_DEPTH`` levels (or contains itself). Iterative: any depth is safe to check."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (Mapping, list, tuple)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise _too_deep(what)
        children = item.values() if isinstance(item, Mapping) else item
        pending.extend((child, depth + 1) for child in children)


def json_document(value: Any) -> dict[str, Any]:
    """Validate a JSON object (str keys; None/bool/int/float/str/list/dict values)."""
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected a JSON object (dict), got {type(value).__name__}")
    result: dict[str, Any] = _json_value(value, "")
    return result


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValidationError(f"{value!r} is not a finite number")
    if value == 0.0:
        # -0.0 becomes 0.0: a SQLite REAL column stores an integral value as an integer, which
        # drops the sign, so the value read back would differ from the one given. (Metric and
        # objective values keep -0.0: they are stored with their kind, see mangodb.codecs.floats.)
        return 0.0
    return value


def _text(value: str) -> str:
    return check_text(value)


RunId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID),
    AfterValidator(_text),
]
ShortText = Annotated[str, StringConstraints(max_length=MAX_ID), AfterValidator(_text)]
# Stripped as ``set_tags`` strips them, so a tag means the same whichever way it came.
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID),
    AfterValidator(_text),
]
LongText = Annotated[str, AfterValidator(_text)]
JSONObject = Annotated[dict[str, Any], BeforeValidator(json_document)]
FiniteFloat = Annotated[float, AfterValidator(_finite)]
Step = Annotated[int, Field(ge=0)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# Text that fits its column (PostgreSQL enforces lengths, SQLite does not: check for both).
Text32 = Annotated[str, StringConstraints(max_length=32), AfterValidator(_text)]
Text64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(_text)]
Text1024 = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_text)]
KeyText = Annotated[str, StringConstraints(max_length=512), AfterValidator(_text)]
Direction = Literal["min", "max"]


class _Input(BaseModel):
    """Input DTOs: invalid data raises mangodb's ``ValidationError`` naming each problem."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as error:
            raise validation_error(type(self).__name__, error) from error


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True)


class ObjectiveCreate(_Input):
    """An objective a run optimises, e.g. ``ObjectiveCreate(name="hop", metric="val/hop_loss")``."""

    name: RunId
    metric: KeyText | None = None
    direction: Direction = "min"
    weight: FiniteFloat | None = None
    target: FiniteFloat | None = None


class RunCreate(_Input):
    """Everything known when a run is launched. Only ``run_id`` is required."""

    run_id: RunId
    config: JSONObject = Field(default_factory=dict)
    status: RunStatus = RunStatus.LAUNCHED
    created_at: AwareDatetime | None = None
    gradient_method: Text64 | None = None
    model_name: ShortText | None = None
    dataset: ShortText | None = None
    batch_size: Annotated[Int64, Field(ge=1)] | None = None
    learning_rate: Annotated[FiniteFloat, Field(ge=0)] | None = None
    seed: Int64 | None = None
    instance_id: Text64 | None = None
    instance_type: Text64 | None = None
    region: Text32 | None = None
    is_spot: bool | None = None
    host: ShortText | None = None
    git_commit: Text64 | None = None
    s3_prefix: Text1024 | None = None
    wandb_entity: ShortText | None = None
    wandb_project: ShortText | None = None
    wandb_run_id: Text64 | None = None
    wandb_url: Text1024 | None = None
    tags: list[Tag] = Field(default_factory=list)
    objectives: list[ObjectiveCreate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_objectives(self) -> RunCreate:
        names = [o.name for o in self.objectives]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"objective names must be unique, repeated: {', '.join(duplicates)}")
        return self


class CrashReportCreate(_Input):
    """A crash: S3 keys of its artefacts plus what was learnt from them.
    The same report attached twice (same keys, type and fingerprint) is stored once."""

    error_log_s3_key: Text1024 | None = None
    crash_report_s3_key: Text1024 | None = None
    analysis_s3_key: Text1024 | None = None
    error_type: ShortText | None = None
    message: LongText | None = None
    excerpt: LongText | None = None
    fingerprint: Text64 | None = None
    analysis_summary: LongText | None = None
    occurred_at: AwareDatetime | None = None
    details: JSONObject | None = None


class ObjectiveRead(_Read):
    name: str
    metric: str | None
    direction: Direction
    weight: float | None
    target: float | None
    value: float | None
    step: int | None
    updated_at: dt.datetime | None


class RunEventRead(_Read):
    at: dt.datetime
    from_status: RunStatus | None
    to_status: RunStatus
    reason: str | None
    source: str | None
    host: str | None
    forced: bool
    applied: bool
    details: dict[str, Any] | None


class CrashReportRead(_Read):
    id: int
    created_at: dt.datetime
    occurred_at: dt.datetime | None
    error_log_s3_key: str | None
    crash_report_s3_key: str | None
    analysis_s3_key: str | None
    error_type: str | None
    message: str | None
    excerpt: str | None
    fingerprint: str | None
    analysis_summary: str | None
    details: dict[str, Any] | None


class AttachmentRead(_Read):
    kind: str
    uri: str
    title: str | None
    created_at: dt.datetime
    details: dict[str, Any] | None


class RunRead(_Read):
    """A run as stored, with its objectives, crash reports, attachments and status events."""

    run_id: str
    status: RunStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    gradient_method: str | None
    model_name: str | None
    dataset: str | None
    batch_size: int | None
    learning_rate: float | None
    seed: int | None
    instance_id: str | None
    instance_type: str | None
    region: str | None
    is_spot: bool | None
    host: str | None
    git_commit: str | None
    s3_prefix: str | None
    wandb_entity: str | None
    wandb_project: str | None
    wandb_run_id: str | None
    wandb_url: str | None
    exit_code: int | None
    total_training_steps: int | None
    error_summary: str | None
    config: dict[str, Any]
    final_metrics: dict[str, Any]
    # When ``archive_runs`` hid the run from listings and analysis; None when it is in view.
    archived_at: dt.datetime | None = None
    tags: tuple[str, ...] = ()
    objectives: tuple[ObjectiveRead, ...] = ()
    crash_reports: tuple[CrashReportRead, ...] = ()
    attachments: tuple[AttachmentRead, ...] = ()
    events: tuple[RunEventRead, ...] = ()

    def objective(self, name: str) -> ObjectiveRead | None:
        return next((o for o in self.objectives if o.name == name), None)


class RunPage(_Read):
    """One page of a query; pass ``next_cursor`` back to get the next page."""

    items: tuple[RunRead, ...]
    next_cursor: str | None


class StatusChange(_Read):
    """What ``update_run_status`` did: ``changed`` is False for a repeated status."""

    run_id: str
    from_status: RunStatus
    to_status: RunStatus
    changed: bool


def as_sequence(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return (value,)
    return value


def validation_error(name: str, error: PydanticValidationError) -> ValidationError:
    """One readable mangodb ``ValidationError`` from pydantic's error list."""
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or name
        problems.append(f"{where}: {item.get('msg')}")
    return ValidationError(f"invalid {name}: " + "; ".join(problems))


class InstanceRunRead(_Read):
    """The EC2 identity and liveness of an active run (what the reconciler needs, nothing more)."""

    run_id: str
    status: RunStatus
    instance_id: str
    region: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None


class StatusUpdate(_Input):
    """One status change of a batch (``RunRepository.transition_runs``): compare-and-set
    against ``expected_status`` when given, evidence in ``details``."""

    run_id: RunId
    status: RunStatus
    reason: LongText | None = None
    source: ShortText | None = None
    expected_status: tuple[RunStatus, ...] | None = None
    details: JSONObject | None = None

"""Runs and histories as rows and pandas DataFrames.

``run_row`` flattens one ``RunRead`` (config to dotted ``config.*`` columns, final metrics to
``metric.*``, objective values to ``objective.*``); ``runs_frame`` stacks those rows.
``history_frame`` is in **long** format, one row per point: ``run_id, key, step, value``; it
keeps runs with different step grids exact, and ``frame.pivot_table(index=["run_id", "step"],
columns="key", values="value")`` gives the wide layout. pandas is imported lazily:
without it these raise ``MissingExtra('pandas', 'pandas')``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from typing_extensions import Unpack

from mangodb.dto import RunPage, RunRead
from mangodb.errors import ValidationError
from mangodb.history.series import Series, pandas
from mangodb.runs.criteria import RunQuery
from mangodb.runs.filters import FIELDS


class RunSource(Protocol):
    """What the frames read from: ``RunRepository`` is one (so this module does not import
    the repository, which offers ``runs_frame`` and ``history_frame`` on top of it)."""

    def query_runs_page(
        self, *, limit: int | None = ..., cursor: str | None = ..., **criteria: Unpack[RunQuery]
    ) -> RunPage: ...

    def get_history(
        self,
        run_id: str,
        keys: Sequence[str] | None = ...,
        *,
        min_step: int | None = ...,
        max_step: int | None = ...,
        max_points: int | None = ...,
    ) -> dict[str, Series]: ...

PAGE = 1000
SCALAR_FIELDS = (
    "run_id",
    "status",
    "gradient_method",
    "model_name",
    "dataset",
    "batch_size",
    "learning_rate",
    "seed",
    "created_at",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "instance_id",
    "instance_type",
    "region",
    "is_spot",
    "host",
    "git_commit",
    "wandb_run_id",
    "exit_code",
    "total_training_steps",
    "error_summary",
    "archived_at",
)


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"batch_size": 96}}`` -> ``{"data.batch_size": 96}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def run_row(run: RunRead) -> dict[str, Any]:
    """Every column of one run: promoted fields, tags, config.*, metric.*, objective.*."""
    row: dict[str, Any] = {name: getattr(run, name) for name in SCALAR_FIELDS}
    row["status"] = run.status.value
    row["tags"] = ",".join(run.tags)
    # Sorted: PostgreSQL's jsonb does not keep key order, so the columns of one run would
    # otherwise come out in a different order on each dialect.
    row.update({f"config.{k}": v for k, v in sorted(flatten(run.config).items())})
    row.update({f"metric.{k}": v for k, v in sorted(run.final_metrics.items())})
    row.update({f"objective.{o.name}": o.value for o in sorted(run.objectives, key=_name)})
    return row


def _name(objective: Any) -> str:
    return str(objective.name)


_PREFIXES = ("config.", "metric.", "objective.")


def check_columns(columns: Sequence[str] | None) -> None:
    """Refuse unknown column names before any query runs."""
    for column in columns or ():
        known = column in FIELDS or column == "tags"
        prefixed = any(column.startswith(p) and len(column) > len(p) for p in _PREFIXES)
        if not (known or prefixed):
            raise ValidationError(
                f"unknown column {column!r}: use a field ({', '.join(sorted(FIELDS))}), tags, "
                "config.<path>, metric.<key> or objective.<name>"
            )


def column_value(run: RunRead, column: str) -> Any:
    """One named column of a run: a field (``status``, ``method``, …), ``tags``,
    ``config.<dotted.path>``, ``metric.<key>`` or ``objective.<name>``."""
    if column.startswith("config."):
        value: Any = run.config
        for part in column.removeprefix("config.").split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value
    if column.startswith("metric."):
        return run.final_metrics.get(column.removeprefix("metric."))
    if column.startswith("objective."):
        objective = run.objective(column.removeprefix("objective."))
        return objective.value if objective else None
    if column == "tags":
        return ",".join(run.tags)
    check_columns([column])
    value = getattr(run, FIELDS[column].key)
    return getattr(value, "value", value)


def select_row(run: RunRead, columns: Sequence[str] | None) -> dict[str, Any]:
    return run_row(run) if not columns else {c: column_value(run, c) for c in columns}


def iter_runs(repo: RunSource, **criteria: Unpack[RunQuery]) -> Iterator[RunRead]:
    """Every matching run, page by page (cursor paging, stable under inserts)."""
    cursor = None
    while True:
        page = repo.query_runs_page(limit=PAGE, cursor=cursor, **criteria)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def runs_frame(
    repo: RunSource, columns: Sequence[str] | None = None, **criteria: Unpack[RunQuery]
) -> Any:
    """A DataFrame with one row per matching run (all columns, or ``columns``)."""
    pd = pandas()
    check_columns(columns)
    rows = [select_row(run, columns) for run in iter_runs(repo, **criteria)]
    frame = pd.DataFrame.from_records(rows, columns=list(columns) if columns else None)
    if "run_id" in frame.columns:
        frame = frame.set_index("run_id", drop=False)
        frame.index.name = None
    return frame


def history_frame(
    repo: RunSource,
    run_ids: Sequence[str],
    keys: Sequence[str] | None = None,
    *,
    max_points: int | None = None,
) -> Any:
    """Long-format history of ``run_ids``: columns ``run_id, key, step, value``."""
    pd = pandas()
    records: dict[str, list[Any]] = {"run_id": [], "key": [], "step": [], "value": []}
    for run_id in run_ids:
        for key, series in repo.get_history(run_id, keys, max_points=max_points).items():
            count = len(series.steps)
            records["run_id"].extend([run_id] * count)
            records["key"].extend([key] * count)
            records["step"].extend(series.steps)
            records["value"].extend(series.values)
    frame = pd.DataFrame(records)
    frame["step"] = frame["step"].astype("int64")
    return frame

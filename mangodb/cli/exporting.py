"""``mangodb export``: matching runs to CSV, JSON lines or Parquet, with a progress bar."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from mangodb.cli.app import err_console
from mangodb.cli.render import cell, jsonable
from mangodb.errors import MissingExtra, ValidationError
from mangodb.frames import check_columns, iter_runs, pandas, select_row

FORMATS = ("csv", "jsonl", "parquet")


def _rows(repo: Any, where: str | None, columns: Sequence[str] | None) -> Iterator[dict[str, Any]]:
    total = repo.count_runs(where=where)
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("exporting runs", total=total)
        for run in iter_runs(repo, where=where, order_by="created"):
            yield select_row(run, columns)
            progress.advance(task)


def export_runs(
    repo: Any, where: str | None, fmt: str, out: Path, columns: Sequence[str] | None
) -> int:
    """Write the matching runs to ``out``; returns how many were written."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    check_columns(columns)
    if fmt == "parquet":
        pd = pandas()
        try:
            import pyarrow  # noqa: F401
        except ImportError as error:
            raise MissingExtra("pyarrow", "pandas") from error
        rows = list(_rows(repo, where, columns))
        frame = pd.DataFrame.from_records([_flat_json(r) for r in rows], columns=columns)
        frame.to_parquet(out, index=False)
        return len(rows)
    if fmt == "jsonl":
        count = 0
        with out.open("w", encoding="utf-8") as handle:
            for row in _rows(repo, where, columns):
                handle.write(json.dumps(jsonable(row), allow_nan=False) + "\n")
                count += 1
        return count
    rows = list(_rows(repo, where, columns))
    names = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return len(rows)


def _csv_cell(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return json.dumps(jsonable(value)) if isinstance(value, (dict, list, tuple)) else cell(value)


def _flat_json(row: dict[str, Any]) -> dict[str, Any]:
    """Parquet columns need one type: nested values become JSON text."""
    return {
        k: json.dumps(jsonable(v)) if isinstance(v, (dict, list, tuple)) else v
        for k, v in row.items()
    }

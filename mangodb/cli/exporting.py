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
from mangodb.frames import check_columns, iter_runs, select_row
from mangodb.history.series import pandas

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_GROUPS = ("config.", "metric.", "objective.")


def export_format(out: Path, given: str | None) -> str:
    """The format to write: ``--format`` if given, else the file's extension, else CSV. A
    format that contradicts the extension (``--format jsonl --out runs.csv``) is an error."""
    implied = _EXTENSIONS.get(out.suffix.lower())
    if given is not None and given not in FORMATS:
        raise ValidationError(f"unknown export format {given!r}; use one of {', '.join(FORMATS)}")
    if given is not None and implied is not None and given != implied:
        raise ValidationError(
            f"--format {given} does not match the extension of {out} (a {implied} file); "
            "change one of them"
        )
    return given or implied or "csv"


def check_destination(out: Path) -> None:
    """One-line errors for a destination that cannot be written, before any query runs."""
    try:
        if out.is_dir():
            raise ValidationError(f"--out {out} is a directory; give a file name")
        if not out.parent.is_dir():
            raise ValidationError(f"--out {out}: directory {out.parent} does not exist")
    except OSError as error:  # e.g. a name longer than the file system allows
        raise ValidationError(f"--out {str(out)[:80]!r}: {error.strerror}") from None


def column_order(names: Sequence[str]) -> list[str]:
    """Run fields first (in their order), then config.*, metric.*, objective.*, each sorted:
    the same columns in the same order on both dialects."""

    def group(name: str) -> int:
        return next((i + 1 for i, p in enumerate(_GROUPS) if name.startswith(p)), 0)

    fields = [n for n in names if group(n) == 0]
    return fields + sorted((n for n in names if group(n)), key=lambda n: (group(n), n))


def _rows(
    repo: Any, where: str | None, columns: Sequence[str] | None, archived: bool
) -> Iterator[dict[str, Any]]:
    total = repo.count_runs(where=where, include_archived=archived)
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("exporting runs", total=total)
        for run in iter_runs(repo, where=where, order_by="created", include_archived=archived):
            yield select_row(run, columns)
            progress.advance(task)


def export_runs(
    repo: Any,
    where: str | None,
    fmt: str,
    out: Path,
    columns: Sequence[str] | None,
    *,
    include_archived: bool = False,
) -> int:
    """Write the matching runs to ``out`` (archived runs only with ``include_archived``);
    returns how many were written."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    check_destination(out)
    check_columns(columns)
    if fmt == "parquet":
        pd = pandas()
        try:
            import pyarrow  # noqa: F401
        except ImportError as error:
            raise MissingExtra("pyarrow", "pandas") from error
        rows = list(_rows(repo, where, columns, include_archived))
        frame = pd.DataFrame.from_records(
            [_flat_json(r) for r in rows], columns=_names(rows, columns)
        )
        frame.to_parquet(out, index=False)
        return len(rows)
    if fmt == "jsonl":
        count = 0
        with out.open("w", encoding="utf-8") as handle:
            for row in _rows(repo, where, columns, include_archived):
                handle.write(json.dumps(jsonable(row), allow_nan=False) + "\n")
                count += 1
        return count
    rows = list(_rows(repo, where, columns, include_archived))
    names = _names(rows, columns)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return len(rows)


def _names(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return list(columns)
    return column_order(list(dict.fromkeys(k for r in rows for k in r)))


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

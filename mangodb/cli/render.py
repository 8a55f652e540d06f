"""Shared output helpers of the CLI: connecting, JSON for scripts, cells and sparklines."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.text import Text
from sqlalchemy.engine import URL

from mangodb.cli.app import console
from mangodb.cli.tables import TableSpec, print_table
from mangodb.codecs import plain
from mangodb.errors import DatabaseUnavailable
from mangodb.repository import RunRepository
from mangodb.settings import resolve_url

STATUS_STYLES = {
    "launched": "cyan",
    "running": "blue",
    "completed": "green",
    "failed": "red",
    "crashed": "bold red",
    "terminated": "yellow",
}
_BARS = "▁▂▃▄▅▆▇█"


def open_repo(url: str | None, *, must_exist: bool = False) -> Any:
    """The repository at ``url``. A command that only reads (or changes existing runs) passes
    ``must_exist``: given a SQLite path where there is no file, it fails (exit 3) instead of
    creating an empty database and reporting 0 runs. Only commands that write create one."""

    return RunRepository.connect(existing_url(url) if must_exist else url, source="cli")


def existing_url(url: str | None) -> URL:
    """The resolved URL; a SQLite file that does not exist is a ``DatabaseUnavailable``."""

    resolved = resolve_url(url)
    database = resolved.database or ""
    if resolved.get_backend_name() == "sqlite" and not Path(database).exists():
        raise DatabaseUnavailable(f"no mangodb database at {database}")
    return resolved


def jsonable(value: Any) -> Any:
    """Plain JSON values: datetimes as ISO text, enums by value, NaN/±Inf as null."""
    return plain.jsonable(value, plain.nonfinite_as_null)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2, allow_nan=False))


def cell(value: Any) -> str:
    """A value as a short table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value))
    return str(value)


def text(value: Any) -> Text:
    """A table cell that is never read as Rich markup (run ids like ``exp[1]`` stay intact)."""
    return Text(cell(value))


def status_cell(status: Any) -> Text:
    name = cell(status)
    return Text(name, style=STATUS_STYLES.get(name, "white"))


def sparkline(values: Sequence[Any], width: int = 30) -> str:
    """A unicode sparkline of the finite values: one cell per value or, past ``width`` values,
    one per equal-count bucket, drawn at the bucket's value farthest from the bucket's mean, so
    a spike or a dip anywhere shows; the series' highest and lowest values are drawn in their
    cells (both, unless they fall in the same one)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return ""
    if len(finite) > width:
        n = len(finite)
        cells = []
        for b in range(width):
            bucket = finite[b * n // width : (b + 1) * n // width]
            mean = math.fsum(bucket) / len(bucket)
            cells.append(max(bucket, key=lambda v: abs(v - mean)))
        for extreme in (max(finite), min(finite)):
            index = finite.index(extreme)
            cells[index * width // n] = extreme
        finite = cells
    low, high = min(finite), max(finite)
    span = high - low
    if span == 0:
        return _BARS[0] * len(finite)
    return "".join(_BARS[min(7, int((v - low) / span * 8))] for v in finite)


def split_columns(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def out(renderable: Any) -> None:
    """Print to stdout; a :class:`TableSpec` never cuts its identifiers (mangodb.cli.tables)."""
    if isinstance(renderable, TableSpec):
        print_table(renderable, console)
    else:
        console.print(renderable)

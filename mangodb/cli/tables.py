"""Tables that never cut, wrap or hide an identifier (run id, status, method, history key).

A user greps what the CLI prints and pastes ids into the next command, so:

- when standard output is not a terminal (a pipe, a file), every table is printed at its full
  natural width: nothing is shortened, wrapped or dropped;
- in a terminal too narrow for the whole table, free text folds onto more lines, then other
  columns are shortened with an ellipsis, then the least important ones are dropped (a dim
  note names them); identifier columns keep their full width, and if even they do not fit, the
  table is printed wider than the terminal (the terminal wraps the line, the text stays whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich import box as boxes
from rich.console import Console
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from mangodb.cli.app import console as stdout_console

Kind = Literal["id", "value", "text"]
_OVERFLOW: dict[Kind, Literal["ignore", "ellipsis", "fold"]] = {
    "id": "ignore",  # never reached: an id column is as wide as its longest cell
    "value": "ellipsis",
    "text": "fold",
}
_VALUE_FLOOR = 12  # a shortened value column keeps at least this many cells
_TEXT_FLOOR = 16  # free text folds, but not into a sliver


@dataclass(frozen=True)
class Column:
    """One column. ``kind``: ``id`` is never shortened, wrapped or dropped; ``value`` may be
    shortened with an ellipsis or dropped; ``text`` (messages, reasons) folds onto more lines.
    ``drop``: among ``value`` columns, a higher number is dropped first (0: only shortened).
    ``floor``: never narrower than this (e.g. a status among the folded values of a column)."""

    name: str
    kind: Kind = "value"
    justify: Literal["left", "right"] = "left"
    style: str | None = None
    drop: int = 0
    floor: int = 0


@dataclass
class TableSpec:
    columns: Sequence[Column]
    rows: list[list[Text]] = field(default_factory=list)
    title: str | None = None
    show_header: bool = True
    box: boxes.Box | None = None

    def add_row(self, *cells: Text) -> None:
        self.rows.append(list(cells))


def _cell_width(cell: Text) -> int:
    return max((Text(line).cell_len for line in cell.plain.splitlines()), default=0)


def _natural(spec: TableSpec, index: int) -> int:
    header = len(spec.columns[index].name) if spec.show_header else 0
    return max([header, 1, *(_cell_width(row[index]) for row in spec.rows)])


def _build(
    spec: TableSpec, keep: Sequence[int], widths: dict[int, int] | None, rows: bool = True
) -> Table:
    table = Table(box=spec.box, header_style="bold", show_header=spec.show_header)
    for index in keep:
        column = spec.columns[index]
        table.add_column(
            Text(column.name),
            justify=column.justify,
            style=column.style,
            width=widths[index] if widths else None,
            no_wrap=column.kind != "text",
            overflow=_OVERFLOW[column.kind],
        )
    for row in spec.rows if rows else ():
        table.add_row(*(row[index] for index in keep))
    return table


def _width_of(console: Console, table: Table) -> int:
    options = console.options.update(width=1_000_000)
    return Measurement.get(console, options, table).maximum


def _fit(
    spec: TableSpec, width: int, console: Console
) -> tuple[list[int], dict[int, int] | None, list[str]]:
    """Columns to keep, their widths (None: natural) and the names of the dropped columns."""
    natural = {i: _natural(spec, i) for i in range(len(spec.columns))}
    keep = list(range(len(spec.columns)))

    def overhead(kept: Sequence[int]) -> int:
        """Padding and borders: the width of the table with fixed widths and no rows, less
        the widths (the same with any rows)."""
        empty = _build(spec, kept, natural, rows=False)
        return _width_of(console, empty) - sum(natural[i] for i in kept)

    if sum(natural.values()) + overhead(keep) <= width:
        return keep, None, []

    def floor(i: int) -> int:
        column = spec.columns[i]
        if column.kind == "id":
            return natural[i]
        least = _TEXT_FLOOR if column.kind == "text" else _VALUE_FLOOR
        return min(natural[i], max(least, column.floor))

    droppable = sorted(
        (i for i, c in enumerate(spec.columns) if c.kind == "value" and c.drop > 0),
        key=lambda i: (-spec.columns[i].drop, -i),
    )
    dropped: list[str] = []
    while sum(floor(i) for i in keep) + overhead(keep) > width and droppable:
        victim = droppable.pop(0)
        keep.remove(victim)
        dropped.append(spec.columns[victim].name)
    widths = {i: natural[i] for i in keep}
    excess = sum(widths.values()) + overhead(keep) - width
    for kind in ("text", "value"):  # fold free text first, then shorten values
        while excess > 0:
            wider = [i for i in keep if spec.columns[i].kind == kind and widths[i] > floor(i)]
            if not wider:
                break
            widest = max(wider, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return keep, widths, dropped


def print_table(spec: TableSpec, console: Console | None = None) -> None:
    """Print ``spec`` so that every identifier appears whole (see the module docstring)."""
    console = console or stdout_console
    if spec.title is not None:
        console.print(Text(spec.title), soft_wrap=True, highlight=False)
    if console.is_terminal:
        keep, widths, dropped = _fit(spec, console.width, console)
    else:
        keep, widths, dropped = list(range(len(spec.columns))), None, []
    table = _build(spec, keep, widths)
    needed = _width_of(console, table)
    if needed <= console.width:
        console.print(table)
    else:  # wider than the terminal or a pipe: render at full width, never cropped
        lines = console.render(table, console.options.update(width=needed))
        console.print(Segments(lines), crop=False, soft_wrap=True)
    if dropped:
        note = f"(hidden to fit: {', '.join(dropped)})"
        console.print(note, style="dim", highlight=False, markup=False, soft_wrap=True)
